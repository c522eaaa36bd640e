import Foundation
import Testing
@testable import Credentials
import TestSupport
@testable import KeepWarm

/// `agent.json` is read back by `agent status`, `list` and the next agent: it is input from
/// outside, decoded whole or not at all.
@Suite("agent state file")
struct AgentStateTests {
    static let stem = String(repeating: "ab", count: 32)

    func record(stem: String = AgentStateTests.stem, error: String? = nil) -> AgentState.Record {
        AgentState.Record(stem: stem, profile: "prod-role", profiles: ["prod", "prod-role"],
                          roleArn: "arn:aws:iam::123456789012:role/Admin", issuedAt: 1_900_000_000,
                          expiration: 1_900_003_600, lastUsed: 1_900_000_100, nextRefresh: 1_900_002_400,
                          condition: .failing, failures: 2, lastError: error)
    }

    func state(_ records: [AgentState.Record]) -> AgentState {
        AgentState(pid: 42, started: 1_900_000_000, updated: 1_900_000_200, window: 900, lead: 300, keepFor: 43200,
                   sessions: records)
    }

    @Test("round trip")
    func roundTrip() {
        let original = state([record(error: "STS answered 503")])
        #expect(AgentState.decode(original.encoded()) == original)
    }

    @Test("refused whole: garbage, another version, a record that names a path, absurd sizes",
          arguments: [
            Array("not json".utf8),
            Array("{\"version\":2}".utf8),
          ])
    func garbage(_ bytes: [UInt8]) {
        #expect(AgentState.decode(bytes) == nil)
    }

    @Test("a record whose stem is not a cache stem (a path, say) makes the whole file unusable")
    func badStem() {
        #expect(AgentState.decode(state([record(stem: "../../etc/passwd")]).encoded()) == nil)
        #expect(AgentState.decode(state([record(), record(stem: String(repeating: "A", count: 64))]).encoded()) == nil)
        #expect(AgentState.decode(state([record(error: String(repeating: "x", count: 5000))]).encoded()) == nil)
        var future = state([record()])
        future.version = 2
        #expect(AgentState.decode(future.encoded()) == nil)
    }

    @Test("a child's stderr line is cut to one escaped line without the program prefix")
    func sanitized() {
        #expect(CachingAgent.sanitized("stscache: STS failed\u{1b}]0;owned\u{07}\nsecond line") .contains("\u{1b}") == false)
        #expect(CachingAgent.sanitized("stscache: STS failed").hasPrefix("STS failed"))
        #expect(CachingAgent.sanitized(String(repeating: "y", count: 1000)).utf8.count <= 304)
    }
}

@Suite("the agent's log lines")
struct AgentLogTests {
    @Test("a message is one line, terminal controls escaped, bounded: nothing in it can start a fake line")
    func loggable() {
        let hostile = "arn:aws:iam::1:role/A\u{1b}]0;owned\u{7}\n2030-01-01T00:00:00Z stscache agent: refreshed prod: FORGED"
        let line = CachingAgent.loggable("refreshing prod (\(hostile))")
        #expect(!line.contains("\n") && !line.contains("\u{1b}") && !line.contains("\u{7}"))
        #expect(line.contains("FORGED"))
        #expect(CachingAgent.loggable(String(repeating: "x", count: 10_000)).utf8.count < 2010)
    }
}
