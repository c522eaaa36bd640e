import CredentialCache
import STS
import Transport
import StscacheSupport

/// Network and waiting knobs from the environment; docs/network.md documents each one.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `STSCACHE_CONNECT_TIMEOUT` | 5 s | TCP + TLS connection, per attempt |
/// | `STSCACHE_ATTEMPT_TIMEOUT` | 10 s | one request, connection included |
/// | `STSCACHE_STS_TIMEOUT` | 30 s | the whole STS exchange, every retry and backoff included |
/// | `STSCACHE_MAX_ATTEMPTS` | 3 | requests sent at most (1 = no retries) |
/// | `STSCACHE_LOCK_TIMEOUT` | 120 s | waiting for another process refreshing the same role |
package enum NetworkSettings {
    package static let defaultConnectTimeout: Double = 5
    package static let defaultAttemptTimeout: Double = 10
    package static let defaultDeadline: Double = 30
    package static let defaultMaxAttempts = 3
    package static let maximumAttempts = 10

    package static func httpOptions(for url: String, caBundle: String?, environment: [String: String]) -> HTTPOptions {
        let isHTTPS = url.lowercased().hasPrefix("https:")
        // curl's convention: lower-case first, upper-case accepted; HTTP_PROXY only for http://.
        let proxy = isHTTPS
            ? (environment["https_proxy"] ?? environment["HTTPS_PROXY"])
            : (environment["http_proxy"] ?? environment["HTTP_PROXY"])
        let noProxy = environment["no_proxy"] ?? environment["NO_PROXY"]
        let deadline = seconds(environment["STSCACHE_STS_TIMEOUT"]) ?? defaultDeadline
        // One hung request must not eat the whole deadline: a retry on a fresh connection
        // usually gets through. Never more than the deadline itself.
        let attempt = min(seconds(environment["STSCACHE_ATTEMPT_TIMEOUT"]) ?? defaultAttemptTimeout, deadline)
        return HTTPOptions(
            connectTimeout: min(seconds(environment["STSCACHE_CONNECT_TIMEOUT"]) ?? defaultConnectTimeout, attempt),
            totalTimeout: attempt,
            caBundle: caBundle,
            proxy: proxy.flatMap { $0.isEmpty ? nil : $0 },
            noProxy: noProxy.flatMap { $0.isEmpty ? nil : $0 })
    }

    package static func retryPolicy(environment: [String: String]) -> STSRetryPolicy {
        STSRetryPolicy(
            maxAttempts: attempts(environment["STSCACHE_MAX_ATTEMPTS"]) ?? defaultMaxAttempts,
            deadline: seconds(environment["STSCACHE_STS_TIMEOUT"]) ?? defaultDeadline)
    }

    /// How long a miss waits for another process that is refreshing the same role (it may be
    /// waiting for an MFA code). Separate from the STS deadline; 0 means "do not wait".
    package static func lockTimeout(environment: [String: String]) -> Double {
        guard let text = environment["STSCACHE_LOCK_TIMEOUT"], let value = Double(text.trimmingWhitespace()),
              value >= 0, value.isFinite
        else { return CredentialCache.defaultLockTimeout }
        return value
    }

    /// Refuses a knob set to something that is not a number of seconds (or attempts), so a typo
    /// does not silently become the default. Checked on a cache miss, before any waiting.
    package static func validate(environment: [String: String]) throws(UsageError) {
        for name in ["STSCACHE_CONNECT_TIMEOUT", "STSCACHE_ATTEMPT_TIMEOUT", "STSCACHE_STS_TIMEOUT"] {
            if let text = environment[name], !text.isEmpty, seconds(text) == nil {
                throw UsageError(.invalidSetting, "\(name)='\(text)' is not a number of seconds greater than 0 (e.g. \(name)=10)")
            }
        }
        if let text = environment["STSCACHE_LOCK_TIMEOUT"], !text.isEmpty,
           Double(text.trimmingWhitespace()).map({ $0 >= 0 && $0.isFinite }) != true {
            throw UsageError(.invalidSetting, "STSCACHE_LOCK_TIMEOUT='\(text)' is not a number of seconds (0 or more, e.g. 120)")
        }
        if let text = environment["STSCACHE_MAX_ATTEMPTS"], !text.isEmpty, attempts(text) == nil {
            throw UsageError(.invalidSetting, "STSCACHE_MAX_ATTEMPTS='\(text)' is not a whole number from 1 to \(maximumAttempts)")
        }
    }

    package static func seconds(_ text: String?) -> Double? {
        guard let text, let value = Double(text.trimmingWhitespace()), value > 0, value.isFinite else { return nil }
        return value
    }

    package static func attempts(_ text: String?) -> Int? {
        guard let text, let value = Int(text.trimmingWhitespace()), (1...maximumAttempts).contains(value) else { return nil }
        return value
    }

    /// The stderr line for a request STS refused for its timestamp and that was re-signed with
    /// STS's time (`offset`: seconds STS's clock is ahead of ours).
    package static func clockSkewWarning(_ offset: Double) -> String {
        "stscache: warning: \(ClockSkew.describe(offset)) (from STS's Date header); re-signed the request with "
            + "STS's time. Set the system clock right (NTP: 'timedatectl set-ntp true'): other AWS tools on this "
            + "machine fail the same way.\n"
    }
}
