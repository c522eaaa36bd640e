import Foundation
import Testing
@testable import Credentials
@testable import StscacheCommands
import TestSupport
import KeepWarm

@Suite("agent status")
struct AgentStatusTests {
    let state = AgentState(
        pid: 4242, started: 1_900_000_000, updated: 1_900_000_300, window: 900, lead: 300, keepFor: 43200,
        sessions: [AgentState.Record(stem: String(repeating: "0", count: 64), profile: "prod-role\u{1b}[2J",
                                     profiles: ["prod"], roleArn: "arn:aws:iam::1:role/A", issuedAt: 1_900_000_000,
                                     expiration: 1_900_003_600, lastUsed: 1_900_000_100, nextRefresh: nil,
                                     condition: .needsMFA, lastError: "needs a new MFA code\u{07}")])

    @Test("running: what is kept, when it refreshes, and why not; terminal controls escaped")
    func running() {
        let text = AgentStatusCommand.text(state, running: true)
        #expect(text.contains("running (pid 4242"))
        #expect(text.contains("12h") && text.contains("5m") && text.contains("15m"))
        #expect(text.contains("needs-mfa: needs a new MFA code"))
        #expect(!text.contains("\u{1b}") && !text.contains("\u{07}"))
        #expect(text.contains("2030-03-17T18:46:40Z"), "expiry shown")
    }

    @Test("a state file left by an agent that is gone is not reported as running")
    func stale() {
        #expect(AgentStatusCommand.text(state, running: false).contains("not running"))
        #expect(AgentStatusCommand.json(state, running: false).hasPrefix("{\"running\":false"))
    }

    @Test("JSON parses and carries the state")
    func json() throws {
        let object = try JSONSerialization.jsonObject(with: Data(AgentStatusCommand.json(state, running: true).utf8))
        let sessions = (object as? [String: Any])?["sessions"] as? [[String: Any]]
        #expect(sessions?.first?["state"] as? String == "needs-mfa")
        #expect(sessions?.first?["nextRefresh"] is NSNull)
    }
}
