#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache
import Credentials

/// When the caching agent refreshes which session: pure, from each entry's header and when a
/// caller last used it, so the agent's loop only sleeps until `nextWake` and runs what is `due`.
/// The agent refreshes before the callers' refresh window opens, through the same pipeline,
/// entries and locks: its policy is the callers' window plus `lead` (at most a quarter of the
/// session's lifetime, `RefreshPolicy.lead`), so its refresh is "due" while callers still see
/// "fresh", for every lifetime STS issues (900 s to 12 h); whoever gets the lock first
/// refreshes, the other reads.
package struct KeepWarmPlan {
    /// The callers' refresh window (`STSCACHE_REFRESH_WINDOW` or the default).
    package let callers: RefreshPolicy
    /// How long before the callers' window the agent refreshes.
    package let lead: Double
    /// Sessions used within this long are kept warm (default 12 hours).
    package let keepFor: Double

    package init(callers: RefreshPolicy, lead: Double = 5 * 60, keepFor: Double = 12 * 3600) {
        self.callers = callers
        self.lead = max(0, lead)
        self.keepFor = max(0, keepFor)
    }

    /// One cached session as the agent tracks it (no secrets: the entry's stem and header times).
    package struct Session: Equatable {
        package var stem: String
        package var issuedAt: Date
        package var expiration: Date
        package var lastUsed: Date
        /// Not before this: set after a failed refresh (`retryDelay`).
        package var retryAt: Date?

        package init(stem: String, issuedAt: Date, expiration: Date, lastUsed: Date) {
            (self.stem, self.issuedAt, self.expiration, self.lastUsed) = (stem, issuedAt, expiration, lastUsed)
        }
    }

    /// The policy the agent's refreshes go through the pipeline with.
    package var agentPolicy: RefreshPolicy { RefreshPolicy(window: callers.window, lead: lead) }

    /// When the agent refreshes `session`: a moment after its own window opens (so a timer that
    /// fires early, or a child that starts at once, still finds the refresh due), and always
    /// before the callers' window opens.
    package func refreshAt(_ session: Session) -> Date {
        let agentWindow = agentPolicy.effectiveWindow(issuedAt: session.issuedAt, expiration: session.expiration)
        let callersWindow = callers.effectiveWindow(issuedAt: session.issuedAt, expiration: session.expiration)
        let slack = min(Self.startSlack, (agentWindow - callersWindow) / 4)
        return session.expiration.addingTimeInterval(-agentWindow + slack)
    }

    /// How far after the agent's window opens its refresh is started.
    static let startSlack: Double = 5

    /// Used recently enough to keep warm, and not so long expired that nobody will ask again.
    package func isKept(_ session: Session, now: Date) -> Bool {
        now.timeIntervalSince(session.lastUsed) <= keepFor
    }

    /// When `session` should next be tried: its refresh time, or its retry time after a failure.
    package func nextAttempt(_ session: Session) -> Date {
        let planned = refreshAt(session)
        guard let retryAt = session.retryAt else { return planned }
        return max(planned, retryAt)
    }

    /// How long to wait after the `failures`-th failed refresh in a row: full jitter (`random` in
    /// 0...1) on an exponential back-off from 30 s up to 15 minutes, drawn once per failure so
    /// that re-planning does not move it.
    package static func retryDelay(failures: Int, random: Double) -> Double {
        let ceiling = min(15 * 60, 30 * Double(1 << min(max(failures, 1) - 1, 10)))
        return ceiling * min(max(random, 0), 1)
    }

    /// The kept sessions to refresh now.
    package func due(_ sessions: [Session], now: Date) -> [Session] {
        sessions.filter { isKept($0, now: now) && nextAttempt($0) <= now }
    }

    /// When to wake next: the earliest attempt among kept sessions; nil when nothing is kept
    /// (then only a change to the cache or the config wakes the agent).
    package func nextWake(_ sessions: [Session], now: Date) -> Date? {
        sessions.filter { isKept($0, now: now) }.map { nextAttempt($0) }.min()
    }
}
