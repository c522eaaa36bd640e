#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CredentialCache
import StscacheSupport
import Credentials

/// How `prompt` and `list` describe a cached session's lifetime.
enum SessionDisplay {
    /// Whole seconds left, never negative, never trapping (a clock or a header far off).
    static func remainingSeconds(until expiration: Date, now: Date) -> Int {
        let left = expiration.timeIntervalSince(now).rounded(.down)
        guard left > 0 else { return 0 }
        return left < 1e15 ? Int(left) : 1_000_000_000_000_000
    }

    /// `1h05m`, `42m`, `59s`, `expired`: short enough for a prompt, rounded down so it never
    /// promises more time than there is.
    static func remaining(_ seconds: Int) -> String {
        if seconds <= 0 { return "expired" }
        if seconds < 60 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 60 { return "\(minutes)m" }
        let rest = minutes % 60
        return "\(minutes / 60)h" + (rest < 10 ? "0" : "") + "\(rest)m"
    }

    /// `valid`, `refresh-due` or `expired`, as the broker would judge the entry now: an entry
    /// within a minute of its expiry is already `expired` (stscache will not hand it out).
    static func state(of header: EntryHeader, now: Date, policy: RefreshPolicy) -> String {
        state(issuedAt: header.issuedAt, expiration: header.expiration, now: now, policy: policy)
    }

    static func state(issuedAt: Date, expiration: Date, now: Date, policy: RefreshPolicy) -> String {
        switch policy.decide(now: now, issuedAt: issuedAt, expiration: expiration) {
        case .fresh: return "valid"
        case .refreshDue: return "refresh-due"
        case .expired: return "expired"
        }
    }
}
