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
    /// Seconds to refresh before that window opens: the keep-warm agent's lead (0 for callers).
    /// Capped at a quarter of the session's lifetime, so it shrinks with short sessions but never
    /// to nothing: a 900 s session (callers' window capped at 450 s) is refreshed by the agent
    /// 225 s before callers would, a 12-hour one `lead` before.
    public var lead: Double

    /// - Parameters:
    ///   - window: seconds; nil for the 15-minute default; negatives count as 0.
    ///   - lead: seconds before the window; negatives count as 0.
    public init(window: Double? = nil, lead: Double = 0) {
        self.window = max(0, window ?? Self.defaultWindow)
        self.lead = max(0, lead)
    }

    /// The window that applies to a session: `min(window, lifetime / 2) + min(lead, lifetime / 4)`,
    /// never negative. Without a lead, the half-lifetime cap keeps a short session from being
    /// refreshed on every call; the lead is added after the cap, so the agent's window always
    /// opens before the callers' (a cap applied to the sum would make them equal for every
    /// session up to twice the callers' window).
    public func effectiveWindow(issuedAt: Date, expiration: Date) -> Double {
        let lifetime = expiration.timeIntervalSince(issuedAt)
        return max(0, min(window, lifetime / 2)) + max(0, min(lead, lifetime / 4))
    }

    public func decide(now: Date, issuedAt: Date, expiration: Date) -> RefreshDecision {
        let remaining = expiration.timeIntervalSince(now)
        if remaining <= Self.safetyMargin { return .expired }
        if remaining < effectiveWindow(issuedAt: issuedAt, expiration: expiration) { return .refreshDue }
        return .fresh
    }
}
