import Foundation
import Testing
import CredentialCache
@testable import Credentials
import TestSupport
@testable import KeepWarm

/// The agent's schedule: ahead of the callers' refresh window, only for sessions used lately,
/// backing off after failures.
@Suite("keep-warm plan")
struct KeepWarmPlanTests {
    let plan = KeepWarmPlan(callers: RefreshPolicy())  // 15-minute window, 5-minute lead, 12 hours

    func session(lifetime: Double = 3600, issuedAgo: Double = 0, usedAgo: Double = 0) -> KeepWarmPlan.Session {
        let issued = testNow.addingTimeInterval(-issuedAgo)
        return KeepWarmPlan.Session(stem: "s", issuedAt: issued, expiration: issued.addingTimeInterval(lifetime),
                                    lastUsed: testNow.addingTimeInterval(-usedAgo))
    }

    @Test("an hour's session is refreshed 20 minutes before expiry, while callers still see it fresh")
    func aheadOfCallers() {
        let hour = session()
        let at = plan.refreshAt(hour)
        #expect(at == hour.expiration.addingTimeInterval(-1200 + 5))  // 5 s after its window opens
        #expect(plan.callers.decide(now: at, issuedAt: hour.issuedAt, expiration: hour.expiration) == .fresh)
        #expect(plan.agentPolicy.decide(now: at.addingTimeInterval(1), issuedAt: hour.issuedAt, expiration: hour.expiration)
            == .refreshDue)
    }

    /// Every lifetime STS issues, with the defaults (15-minute window, 5-minute lead): the
    /// agent's refresh comes strictly before the callers' window opens, by a lead that shrinks
    /// with the lifetime (a quarter of it at most) but never to nothing; at that moment callers
    /// still see the session fresh and the agent's child finds it due; and the session the
    /// refresh brings is fresh for both (no refresh loop).
    @Test("a lead before the callers for every lifetime STS issues", arguments: [
        (900.0, 225.0), (1800.0, 300.0), (3600.0, 300.0), (43200.0, 300.0),
    ])
    func everyLifetime(lifetime: Double, lead: Double) {
        let fresh = session(lifetime: lifetime)
        let callersOpen = fresh.expiration.addingTimeInterval(
            -plan.callers.effectiveWindow(issuedAt: fresh.issuedAt, expiration: fresh.expiration))
        let at = plan.refreshAt(fresh)
        #expect(callersOpen.timeIntervalSince(at) == lead - 5, "lifetime \(lifetime)")
        #expect(at > fresh.issuedAt)
        #expect(plan.callers.decide(now: at, issuedAt: fresh.issuedAt, expiration: fresh.expiration) == .fresh)
        #expect(plan.agentPolicy.decide(now: at, issuedAt: fresh.issuedAt, expiration: fresh.expiration) == .refreshDue)
        // Issued at the refresh: a whole new lifetime, fresh for callers and agent alike.
        let next = KeepWarmPlan.Session(stem: "s", issuedAt: at, expiration: at.addingTimeInterval(lifetime), lastUsed: at)
        #expect(plan.agentPolicy.decide(now: at, issuedAt: next.issuedAt, expiration: next.expiration) == .fresh)
        #expect(plan.refreshAt(next) > at)
    }

    @Test("compressed time keeps the proportions: a 120 s session, window 120 s, lead 40 s (7.5x the defaults)")
    func compressed() {
        let compressed = KeepWarmPlan(callers: RefreshPolicy(window: 120), lead: 40)
        let short = session(lifetime: 120)
        // Callers at 60 s into the session (half its life); the agent a quarter earlier, plus slack.
        #expect(compressed.refreshAt(short) == short.issuedAt.addingTimeInterval(30 + 5))
    }

    @Test("kept only when used within 12 hours")
    func kept() {
        #expect(plan.isKept(session(usedAgo: 12 * 3600), now: testNow))
        #expect(!plan.isKept(session(usedAgo: 12 * 3600 + 1), now: testNow))
        #expect(KeepWarmPlan(callers: RefreshPolicy(), keepFor: 60).isKept(session(usedAgo: 61), now: testNow) == false)
    }

    @Test("due and next wake consider kept sessions only")
    func dueAndWake() {
        var early = session(issuedAgo: 3000)  // refresh time 2405 s after issue: due now
        early.stem = "early"
        var later = session(issuedAgo: 0)     // due in 2405 s
        later.stem = "later"
        var forgotten = session(issuedAgo: 3500, usedAgo: 13 * 3600)
        forgotten.stem = "forgotten"
        let all = [early, later, forgotten]
        #expect(plan.due(all, now: testNow).map(\.stem) == ["early"])
        #expect(plan.nextWake([later, forgotten], now: testNow) == testNow.addingTimeInterval(2405))
        #expect(plan.nextWake([forgotten], now: testNow) == nil)
    }

    @Test("after failures: full jitter up to an exponential ceiling, never before the planned time")
    func backoff() {
        #expect(KeepWarmPlan.retryDelay(failures: 1, random: 1) == 30)
        #expect(KeepWarmPlan.retryDelay(failures: 3, random: 1) == 120)  // 30 * 2^2
        #expect(KeepWarmPlan.retryDelay(failures: 3, random: 0.5) == 60)
        #expect(KeepWarmPlan.retryDelay(failures: 40, random: 1) == 900)  // capped at 15 minutes
        #expect(KeepWarmPlan.retryDelay(failures: 40, random: 7) == 900, "random is clamped")
        var failing = session(issuedAgo: 3000)
        failing.retryAt = testNow.addingTimeInterval(120)
        #expect(plan.refreshAt(failing) < testNow)
        #expect(plan.nextAttempt(failing) == testNow.addingTimeInterval(120))
        #expect(plan.due([failing], now: testNow).isEmpty)
        #expect(plan.due([failing], now: testNow.addingTimeInterval(120)).map(\.stem) == ["s"])
        var later = session(issuedAgo: 0)
        later.retryAt = testNow
        #expect(plan.nextAttempt(later) == plan.refreshAt(later), "a retry never comes before the planned time")
    }
}
