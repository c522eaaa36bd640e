import Testing
import Transport
@testable import Credentials
import TestSupport

@Suite("Network settings from the environment")
struct NetworkSettingsTests {
    let https = "https://sts.eu-west-1.amazonaws.com/"

    @Test("defaults: 5 s to connect, 10 s per attempt, 30 s in all, 3 attempts, 120 s for the lock")
    func defaults() {
        let options = NetworkSettings.httpOptions(for: https, caBundle: nil, environment: [:])
        #expect(options.connectTimeout == 5)
        #expect(options.totalTimeout == 10)
        #expect(options.proxy == nil)
        #expect(options.noProxy == nil)
        let retry = NetworkSettings.retryPolicy(environment: [:])
        #expect(retry.deadline == 30)
        #expect(retry.maxAttempts == 3)
        #expect(NetworkSettings.lockTimeout(environment: [:]) == 120)
    }

    @Test("each knob is read, and no attempt outlasts the overall deadline")
    func knobs() {
        let environment = [
            "STSCACHE_CONNECT_TIMEOUT": "2", "STSCACHE_ATTEMPT_TIMEOUT": "7", "STSCACHE_STS_TIMEOUT": "12",
            "STSCACHE_MAX_ATTEMPTS": "5", "STSCACHE_LOCK_TIMEOUT": "0",
        ]
        let options = NetworkSettings.httpOptions(for: https, caBundle: "/etc/ca.pem", environment: environment)
        #expect(options.connectTimeout == 2)
        #expect(options.totalTimeout == 7)
        #expect(options.caBundle == "/etc/ca.pem")
        #expect(NetworkSettings.retryPolicy(environment: environment).deadline == 12)
        #expect(NetworkSettings.retryPolicy(environment: environment).maxAttempts == 5)
        #expect(NetworkSettings.lockTimeout(environment: environment) == 0)

        let short = NetworkSettings.httpOptions(for: https, caBundle: nil, environment: ["STSCACHE_STS_TIMEOUT": "2"])
        #expect(short.totalTimeout == 2)
        #expect(short.connectTimeout == 2)
    }

    @Test("HTTPS_PROXY for https endpoints, HTTP_PROXY for http ones; lower case wins; NO_PROXY passed on")
    func proxies() {
        let environment = [
            "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTP_PROXY": "http://plain:3128",
            "NO_PROXY": "localhost,.internal",
        ]
        let secure = NetworkSettings.httpOptions(for: https, caBundle: nil, environment: environment)
        #expect(secure.proxy == "http://lower:3128")
        #expect(secure.noProxy == "localhost,.internal")
        let plain = NetworkSettings.httpOptions(for: "http://127.0.0.1:5000", caBundle: nil, environment: environment)
        #expect(plain.proxy == "http://plain:3128")
        let empty = NetworkSettings.httpOptions(for: https, caBundle: nil, environment: ["HTTPS_PROXY": ""])
        #expect(empty.proxy == nil)
    }

    @Test("a value that is not a number is an error naming the variable", arguments: [
        ("STSCACHE_STS_TIMEOUT", "30s"), ("STSCACHE_CONNECT_TIMEOUT", "0"), ("STSCACHE_ATTEMPT_TIMEOUT", "-1"),
        ("STSCACHE_LOCK_TIMEOUT", "two minutes"), ("STSCACHE_MAX_ATTEMPTS", "0"), ("STSCACHE_MAX_ATTEMPTS", "2.5"),
        ("STSCACHE_MAX_ATTEMPTS", "1000"), ("STSCACHE_STS_TIMEOUT", "nan"), ("STSCACHE_LOCK_TIMEOUT", "inf"),
    ])
    func invalid(name: String, value: String) {
        let error = #expect(throws: UsageError.self) {
            try NetworkSettings.validate(environment: [name: value])
        }
        #expect(error?.message.contains("\(name)='\(value)'") == true)
    }

    @Test("valid values pass", arguments: [
        ["STSCACHE_STS_TIMEOUT": "2.5"], ["STSCACHE_LOCK_TIMEOUT": "0"], ["STSCACHE_MAX_ATTEMPTS": "1"],
        ["STSCACHE_CONNECT_TIMEOUT": " 3 "], [:],
    ])
    func valid(environment: [String: String]) throws {
        try NetworkSettings.validate(environment: environment)
    }

    @Test("the clock-skew warning says by how much and what to do")
    func skewWarning() {
        let line = NetworkSettings.clockSkewWarning(-1203)
        #expect(line.hasPrefix("stscache: warning: the local clock is 20 min 3 s ahead of STS's clock"))
        #expect(line.contains("NTP"))
        #expect(line.hasSuffix("\n"))
        #expect(line.dropLast().contains("\n") == false)
    }
}
