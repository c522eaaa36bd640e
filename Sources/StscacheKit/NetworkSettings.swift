import STS
import Transport

/// Network knobs from the environment, documented in the README.
enum NetworkSettings {
    static func httpOptions(for url: String, caBundle: String?, environment: [String: String]) -> HTTPOptions {
        let isHTTPS = url.lowercased().hasPrefix("https:")
        // curl's convention: lower-case first, upper-case accepted; HTTP_PROXY only for http://.
        let proxy = isHTTPS
            ? (environment["https_proxy"] ?? environment["HTTPS_PROXY"])
            : (environment["http_proxy"] ?? environment["HTTP_PROXY"])
        let noProxy = environment["no_proxy"] ?? environment["NO_PROXY"]
        return HTTPOptions(
            connectTimeout: seconds(environment["STSCACHE_CONNECT_TIMEOUT"]) ?? 5,
            totalTimeout: seconds(environment["STSCACHE_STS_TIMEOUT"]) ?? 30,
            caBundle: caBundle,
            proxy: proxy.flatMap { $0.isEmpty ? nil : $0 },
            noProxy: noProxy.flatMap { $0.isEmpty ? nil : $0 })
    }

    static func retryPolicy(environment: [String: String]) -> STSRetryPolicy {
        STSRetryPolicy(
            maxAttempts: environment["STSCACHE_MAX_ATTEMPTS"].flatMap { Int($0) } ?? 3,
            deadline: seconds(environment["STSCACHE_STS_TIMEOUT"]) ?? 30)
    }

    static func seconds(_ text: String?) -> Double? {
        guard let text, let value = Double(text), value > 0, value.isFinite else { return nil }
        return value
    }
}
