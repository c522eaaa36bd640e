import CredentialCache
import STS
import Transport
import StscacheSupport

/// The network and waiting knobs, parsed from the environment here and nowhere else
/// (`init(environment:)`); readers take this value, never the variables. docs/network.md
/// documents each one.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `STSCACHE_CONNECT_TIMEOUT` | 5 s | TCP + TLS connection, per attempt |
/// | `STSCACHE_ATTEMPT_TIMEOUT` | 10 s | one request, connection included |
/// | `STSCACHE_STS_TIMEOUT` | 30 s | the whole STS exchange, every retry and backoff included |
/// | `STSCACHE_MAX_ATTEMPTS` | 3 | requests sent at most (1 = no retries) |
/// | `STSCACHE_LOCK_TIMEOUT` | 120 s | waiting for another stscache process's lock (0 = do not wait) |
/// | `STSCACHE_PROCESS_TIMEOUT` | 300 s | a `credential_process` source's run |
///
/// A run parses them only when it needs one (a cache miss, a keys or login command), through
/// `LazyNetworkSettings`: a cache hit neither pays for them nor fails on a mistyped one.
package struct NetworkSettings: Equatable, Sendable {
    package static let maximumAttempts = 10

    /// Never more than `attemptTimeout`.
    package var connectTimeout: Double
    /// Never more than `deadline`: one hung request must not eat the whole deadline (a retry on
    /// a fresh connection usually gets through).
    package var attemptTimeout: Double
    package var deadline: Double
    package var maxAttempts: Int
    /// How long to wait for a lock another stscache process holds: a cache entry's or an
    /// Identity Center token's refresh (it may be waiting for an MFA code), or the long-term key
    /// store. 0 = try once and do not wait. Separate from the STS deadline.
    package var lockTimeout: Double
    /// How long a `credential_process` source may run.
    package var processTimeout: Double
    /// The proxy variables, curl's way: the lower-case name first (when set, even empty, it
    /// wins), an empty value is no proxy.
    package var httpsProxy: String?
    package var httpProxy: String?
    package var noProxy: String?

    /// The defaults, each given here once.
    package init(connectTimeout: Double = 5, attemptTimeout: Double = 10, deadline: Double = 30, maxAttempts: Int = 3,
                 lockTimeout: Double = CredentialCache.defaultLockTimeout,
                 processTimeout: Double = ProcessCredentialSource.defaultTimeout,
                 httpsProxy: String? = nil, httpProxy: String? = nil, noProxy: String? = nil) {
        self.deadline = deadline
        self.attemptTimeout = min(attemptTimeout, deadline)
        self.connectTimeout = min(connectTimeout, self.attemptTimeout)
        self.maxAttempts = maxAttempts
        self.lockTimeout = lockTimeout
        self.processTimeout = processTimeout
        self.httpsProxy = httpsProxy
        self.httpProxy = httpProxy
        self.noProxy = noProxy
    }

    /// The one parser. Unset or empty means the default; anything else that is not a valid
    /// value is refused, naming the variable, so a typo never silently becomes the default.
    package init(environment: [String: String]) throws(UsageError) {
        func value<T>(_ name: String, _ parse: (String) -> T?, _ expected: String) throws(UsageError) -> T? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = parse(text) else { throw UsageError(.invalidSetting, "\(name)='\(text)' is not \(expected)") }
            return value
        }
        func seconds(_ name: String) throws(UsageError) -> Double? {
            try value(name, Self.seconds, "a number of seconds greater than 0 (e.g. \(name)=10)")
        }
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let defaults = NetworkSettings()
        let connect = try seconds("STSCACHE_CONNECT_TIMEOUT")
        let attempt = try seconds("STSCACHE_ATTEMPT_TIMEOUT")
        let deadline = try seconds("STSCACHE_STS_TIMEOUT")
        let lock = try value("STSCACHE_LOCK_TIMEOUT", Self.waitSeconds, "a number of seconds (0 or more, e.g. 120)")
        let attempts = try value("STSCACHE_MAX_ATTEMPTS", Self.attempts, "a whole number from 1 to \(Self.maximumAttempts)")
        let process = try seconds("STSCACHE_PROCESS_TIMEOUT")
        self.init(
            connectTimeout: connect ?? defaults.connectTimeout, attemptTimeout: attempt ?? defaults.attemptTimeout,
            deadline: deadline ?? defaults.deadline, maxAttempts: attempts ?? defaults.maxAttempts,
            lockTimeout: lock ?? defaults.lockTimeout, processTimeout: process ?? defaults.processTimeout,
            httpsProxy: environment["https_proxy"] == nil ? nonEmpty("HTTPS_PROXY") : nonEmpty("https_proxy"),
            httpProxy: environment["http_proxy"] == nil ? nonEmpty("HTTP_PROXY") : nonEmpty("http_proxy"),
            noProxy: environment["no_proxy"] == nil ? nonEmpty("NO_PROXY") : nonEmpty("no_proxy"))
    }

    package func httpOptions(for url: String, caBundle: String?) -> HTTPOptions {
        // curl's convention: HTTP_PROXY only for http://.
        let isHTTPS = url.lowercased().hasPrefix("https:")
        return HTTPOptions(connectTimeout: connectTimeout, totalTimeout: attemptTimeout, caBundle: caBundle,
                           proxy: isHTTPS ? httpsProxy : httpProxy, noProxy: noProxy)
    }

    package var retryPolicy: RetryPolicy { RetryPolicy(maxAttempts: maxAttempts, deadline: deadline) }

    /// Seconds greater than 0, finite; the syntax of every timeout knob (and
    /// `AWS_METADATA_SERVICE_TIMEOUT`'s).
    package static func seconds(_ text: String) -> Double? {
        guard let value = Double(text.trimmingWhitespace()), value > 0, value.isFinite else { return nil }
        return value
    }

    /// Seconds 0 or more, finite: a wait, where 0 is "do not wait".
    package static func waitSeconds(_ text: String) -> Double? {
        guard let value = Double(text.trimmingWhitespace()), value >= 0, value.isFinite else { return nil }
        return value
    }

    package static func attempts(_ text: String) -> Int? {
        guard let value = Int(text.trimmingWhitespace()), (1...maximumAttempts).contains(value) else { return nil }
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

/// `NetworkSettings` parsed on first use, then kept for the run (a chain of roles parses them
/// once). The broker is made on every run, a cache hit included, and a hit must neither parse
/// them nor fail on them.
package final class LazyNetworkSettings {
    private let environment: [String: String]
    private var parsed: NetworkSettings?

    package init(environment: [String: String]) {
        self.environment = environment
    }

    /// Settings already at hand (tests, a command that parsed them itself).
    package init(_ settings: NetworkSettings) {
        environment = [:]
        parsed = settings
    }

    package func get() throws(UsageError) -> NetworkSettings {
        if let parsed { return parsed }
        let settings = try NetworkSettings(environment: environment)
        parsed = settings
        return settings
    }
}
