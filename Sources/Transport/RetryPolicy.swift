#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How hard one call to an AWS service tries: the one policy for STS, IAM, the Identity Center
/// portal and OIDC, and Sign-In. Retries cover throttling, 5xx answers and transient network
/// failures (never a refusal), with exponential backoff and full jitter
/// (delay = random(0, min(maxDelay, baseDelay * 2^(attempt-1)))), all inside `deadline`
/// (`STSCACHE_MAX_ATTEMPTS`, `STSCACHE_STS_TIMEOUT`: `NetworkSettings.retryPolicy`).
public struct RetryPolicy: Sendable, Equatable {
    /// Requests sent at most (1 = no retries).
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double
    /// Seconds for the whole call, attempts and sleeps included; nil = no overall limit.
    public var deadline: Double?
    /// When STS rejects the request's timestamp, re-sign once with the time from its `Date`
    /// header. This extra attempt does not count against `maxAttempts`.
    public var correctsClockSkew: Bool

    public init(maxAttempts: Int = 3, baseDelay: Double = 0.5, maxDelay: Double = 5, deadline: Double? = 30,
                correctsClockSkew: Bool = true) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.deadline = deadline
        self.correctsClockSkew = correctsClockSkew
    }

    /// The sleep before attempt `attempt + 1`, given a uniform random number in [0, 1).
    public func delay(afterAttempt attempt: Int, jitter: Double) -> Double {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(maxDelay, baseDelay * Double(1 << exponent))
        return max(0, min(jitter, 1)) * ceiling
    }

    /// What one attempt came to.
    public enum Outcome<Value, Failure: Error> {
        case success(Value)
        /// Worth another attempt: throttling, a 5xx answer, a transient network failure.
        case retryable(Failure)
        /// Not worth another: a refusal, a malformed answer, a request that cannot be sent.
        case final(Failure)
        /// Send again at once without counting an attempt (STS's clock-skew re-sign).
        case resend(Failure)
    }

    /// Runs `attempt` until it succeeds or fails for good, the attempts are used up, or the next
    /// sleep would end past the deadline; then throws the last failure. Each attempt gets `http`
    /// with its timeouts cut to what is left of the deadline. An error `attempt` throws ends the
    /// call unchanged.
    public func run<Value, Failure: Error>(
        http: HTTPOptions, clock: () -> Date, sleep: (Double) -> Void, jitter: () -> Double,
        _ attempt: (HTTPOptions) throws -> Outcome<Value, Failure>
    ) throws -> Value {
        let start = clock()
        func elapsed() -> Double { clock().timeIntervalSince(start) }
        var counted = 0
        var last: Failure?
        while true {
            var options = http
            if let deadline {
                let remaining = deadline - elapsed()
                if remaining <= 0, let last { throw last }
                options.totalTimeout = min(options.totalTimeout, max(remaining, 0.001))
                options.connectTimeout = min(options.connectTimeout, options.totalTimeout)
            }
            counted += 1
            switch try attempt(options) {
            case .success(let value):
                return value
            case .final(let failure):
                throw failure
            case .resend(let failure):
                last = failure
                counted -= 1
            case .retryable(let failure):
                last = failure
                guard counted < maxAttempts else { throw failure }
                let delay = delay(afterAttempt: counted, jitter: jitter())
                if let deadline, elapsed() + delay >= deadline { throw failure }
                if delay > 0 { sleep(delay) }
            }
        }
    }
}
