import Foundation
import Testing
@testable import CredentialCache

@Suite("Refresh policy")
struct RefreshPolicyTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var window: Double?
        var lifetime: Double
        var remaining: Double
        var expected: RefreshDecision
        var testDescription: String {
            "window \(window.map { "\($0)" } ?? "default"), lifetime \(lifetime), remaining \(remaining) → \(expected)"
        }
    }

    static let table: [Row] = [
        // One-hour session, default 15-minute window.
        Row(window: nil, lifetime: 3600, remaining: 3600, expected: .fresh),
        Row(window: nil, lifetime: 3600, remaining: 901, expected: .fresh),
        Row(window: nil, lifetime: 3600, remaining: 900, expected: .fresh),
        Row(window: nil, lifetime: 3600, remaining: 899, expected: .refreshDue),
        Row(window: nil, lifetime: 3600, remaining: 61, expected: .refreshDue),
        // Within the 60 s safety margin, or past expiry: never served.
        Row(window: nil, lifetime: 3600, remaining: 60, expected: .expired),
        Row(window: nil, lifetime: 3600, remaining: 1, expected: .expired),
        Row(window: nil, lifetime: 3600, remaining: 0, expected: .expired),
        Row(window: nil, lifetime: 3600, remaining: -10, expected: .expired),
        // 15-minute session: the window is capped at half the lifetime (450 s), not 900 s.
        Row(window: nil, lifetime: 900, remaining: 800, expected: .fresh),
        Row(window: nil, lifetime: 900, remaining: 450, expected: .fresh),
        Row(window: nil, lifetime: 900, remaining: 449, expected: .refreshDue),
        // Explicit windows.
        Row(window: 0, lifetime: 3600, remaining: 61, expected: .fresh),
        Row(window: 0, lifetime: 3600, remaining: 60, expected: .expired),
        Row(window: 1800, lifetime: 3600, remaining: 1799, expected: .refreshDue),
        Row(window: 1800, lifetime: 3600, remaining: 1800, expected: .fresh),
        Row(window: 7200, lifetime: 43200, remaining: 7100, expected: .refreshDue),
        Row(window: 7200, lifetime: 3600, remaining: 1801, expected: .fresh),
        Row(window: -5, lifetime: 3600, remaining: 100, expected: .fresh),
    ]

    @Test("decides fresh, refresh-due and expired", arguments: table)
    func decides(row: Row) {
        let issuedAt = Date(timeIntervalSince1970: 1_800_000_000)
        let expiration = issuedAt.addingTimeInterval(row.lifetime)
        let now = expiration.addingTimeInterval(-row.remaining)
        let policy = RefreshPolicy(window: row.window)
        #expect(policy.decide(now: now, issuedAt: issuedAt, expiration: expiration) == row.expected)
    }

    @Test("effective window is min(window, lifetime / 2) and never negative")
    func effectiveWindow() {
        let start = Date(timeIntervalSince1970: 0)
        #expect(RefreshPolicy().window == 900)
        #expect(RefreshPolicy().effectiveWindow(issuedAt: start, expiration: start.addingTimeInterval(3600)) == 900)
        #expect(RefreshPolicy().effectiveWindow(issuedAt: start, expiration: start.addingTimeInterval(600)) == 300)
        #expect(RefreshPolicy().effectiveWindow(issuedAt: start.addingTimeInterval(10), expiration: start) == 0)
    }
}

@Suite("refresh policy: the agent's lead")
struct RefreshPolicyLeadTests {
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    @Test("the lead is added after the half-lifetime cap, at most a quarter of the lifetime")
    func leadAfterCap() {
        let agent = RefreshPolicy(window: 900, lead: 300)
        func window(_ lifetime: Double) -> Double {
            agent.effectiveWindow(issuedAt: start, expiration: start.addingTimeInterval(lifetime))
        }
        #expect(window(900) == 450 + 225)
        #expect(window(1800) == 900 + 300)
        #expect(window(43200) == 900 + 300)
        // Callers have no lead: unchanged.
        #expect(RefreshPolicy(window: 900).effectiveWindow(issuedAt: start, expiration: start.addingTimeInterval(900)) == 450)
        #expect(RefreshPolicy(window: 900, lead: -5).lead == 0)
    }
}
