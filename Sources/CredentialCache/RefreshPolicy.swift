#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What to do with cached credentials at a given moment.
public enum RefreshDecision: Sendable, Equatable {
    /// Serve them.
    case fresh
    /// Still valid, but inside the refresh window: refresh now; if that fails, serving them
    /// (with a warning) is still safe.
    case refreshDue
    /// Must not be served: past expiration or within the safety margin of it.
    case expired
}

/// When cached credentials are refreshed (pure; the caller passes the clock's reading).
///
/// botocore re-runs a `credential_process` whose credentials have under 15 minutes left, so the
/// default window is 15 minutes. The window is capped at half the session's total lifetime, so
/// a 15-minute session is not refreshed on every call. Credentials within `safetyMargin`
/// (60 s) of expiry count as expired: the client that receives them must have time to use them.
public struct RefreshPolicy: Sendable, Equatable {
    public static let defaultWindow: Double = 15 * 60
    public static let safetyMargin: Double = 60

    /// The requested refresh window in seconds (before the half-lifetime cap).
    public var window: Double

    /// - Parameter window: seconds; nil for the 15-minute default; negatives count as 0.
    public init(window: Double? = nil) {
        self.window = max(0, window ?? Self.defaultWindow)
    }

    /// The window that applies to a session: `min(window, lifetime / 2)`, never negative.
    public func effectiveWindow(issuedAt: Date, expiration: Date) -> Double {
        let lifetime = expiration.timeIntervalSince(issuedAt)
        return max(0, min(window, lifetime / 2))
    }

    public func decide(now: Date, issuedAt: Date, expiration: Date) -> RefreshDecision {
        let remaining = expiration.timeIntervalSince(now)
        if remaining <= Self.safetyMargin { return .expired }
        if remaining < effectiveWindow(issuedAt: issuedAt, expiration: expiration) { return .refreshDue }
        return .fresh
    }
}
