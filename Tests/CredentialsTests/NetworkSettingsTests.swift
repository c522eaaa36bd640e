import Testing
import CredentialCache
import Transport
@testable import Credentials
import TestSupport

@Suite("Network settings from the environment")
struct NetworkSettingsTests {
    let https = "https://sts.eu-west-1.amazonaws.com/"

    @Test("defaults: 5 s to connect, 10 s per attempt, 30 s in all, 3 attempts, 120 s for a lock, 300 s for a process")
    func defaults() throws {
        let settings = try NetworkSettings(environment: [:])
        #expect(settings == NetworkSettings())
        #expect(settings.connectTimeout == 5)
        #expect(settings.attemptTimeout == 10)
        #expect(settings.deadline == 30)
        #expect(settings.maxAttempts == 3)
        #expect(settings.lockTimeout == 120)
        #expect(settings.lockTimeout == CredentialCache.defaultLockTimeout)
        #expect(settings.processTimeout == ProcessCredentialSource.defaultTimeout)
        let options = settings.httpOptions(for: https, caBundle: nil)
        #expect(options.connectTimeout == 5)
        #expect(options.totalTimeout == 10)
        #expect(options.proxy == nil)
        #expect(options.noProxy == nil)
        #expect(settings.retryPolicy.deadline == 30)
        #expect(settings.retryPolicy.maxAttempts == 3)
    }

    @Test("each variable sets its value, and no attempt outlasts the overall deadline")
    func knobs() throws {
        let environment = [
            "STSCACHE_CONNECT_TIMEOUT": "2", "STSCACHE_ATTEMPT_TIMEOUT": "7", "STSCACHE_STS_TIMEOUT": "12",
            "STSCACHE_MAX_ATTEMPTS": "5", "STSCACHE_LOCK_TIMEOUT": "45.5", "STSCACHE_PROCESS_TIMEOUT": "600",
        ]
        let settings = try NetworkSettings(environment: environment)
        #expect(settings.connectTimeout == 2)
        #expect(settings.attemptTimeout == 7)
        #expect(settings.deadline == 12)
        #expect(settings.maxAttempts == 5)
        #expect(settings.lockTimeout == 45.5)
        #expect(settings.processTimeout == 600)
        let options = settings.httpOptions(for: https, caBundle: "/etc/ca.pem")
        #expect(options.connectTimeout == 2)
        #expect(options.totalTimeout == 7)
        #expect(options.caBundle == "/etc/ca.pem")
        #expect(settings.retryPolicy.deadline == 12)
        #expect(settings.retryPolicy.maxAttempts == 5)

        let short = try NetworkSettings(environment: ["STSCACHE_STS_TIMEOUT": "2"]).httpOptions(for: https, caBundle: nil)
        #expect(short.totalTimeout == 2)
        #expect(short.connectTimeout == 2)
    }

    @Test("STSCACHE_LOCK_TIMEOUT=0 means do not wait (not the default); empty means the default")
    func lockTimeoutZero() throws {
        #expect(try NetworkSettings(environment: ["STSCACHE_LOCK_TIMEOUT": "0"]).lockTimeout == 0)
        #expect(try NetworkSettings(environment: ["STSCACHE_LOCK_TIMEOUT": " 0 "]).lockTimeout == 0)
        #expect(try NetworkSettings(environment: ["STSCACHE_LOCK_TIMEOUT": ""]).lockTimeout == 120)
    }

    @Test("HTTPS_PROXY for https endpoints, HTTP_PROXY for http ones; lower case wins; NO_PROXY passed on")
    func proxies() throws {
        let environment = [
            "HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "HTTP_PROXY": "http://plain:3128",
            "NO_PROXY": "localhost,.internal",
        ]
        let settings = try NetworkSettings(environment: environment)
        let secure = settings.httpOptions(for: https, caBundle: nil)
        #expect(secure.proxy == "http://lower:3128")
        #expect(secure.noProxy == "localhost,.internal")
        let plain = settings.httpOptions(for: "http://127.0.0.1:5000", caBundle: nil)
        #expect(plain.proxy == "http://plain:3128")
        let empty = try NetworkSettings(environment: ["HTTPS_PROXY": ""]).httpOptions(for: https, caBundle: nil)
        #expect(empty.proxy == nil)
        // An empty lower-case name still wins: no proxy.
        let hidden = try NetworkSettings(environment: ["https_proxy": "", "HTTPS_PROXY": "http://upper:3128"])
        #expect(hidden.httpOptions(for: https, caBundle: nil).proxy == nil)
    }

    @Test("a value that is not valid is a usage error naming the variable and the value", arguments: [
        ("STSCACHE_STS_TIMEOUT", "30s"), ("STSCACHE_CONNECT_TIMEOUT", "0"), ("STSCACHE_ATTEMPT_TIMEOUT", "-1"),
        ("STSCACHE_LOCK_TIMEOUT", "two minutes"), ("STSCACHE_MAX_ATTEMPTS", "0"), ("STSCACHE_MAX_ATTEMPTS", "2.5"),
        ("STSCACHE_MAX_ATTEMPTS", "1000"), ("STSCACHE_STS_TIMEOUT", "nan"), ("STSCACHE_LOCK_TIMEOUT", "inf"),
        ("STSCACHE_LOCK_TIMEOUT", "-1"), ("STSCACHE_PROCESS_TIMEOUT", "0"), ("STSCACHE_PROCESS_TIMEOUT", "5m"),
    ])
    func invalid(name: String, value: String) {
        let error = #expect(throws: UsageError.self) {
            try NetworkSettings(environment: [name: value])
        }
        #expect(error?.message.hasPrefix("\(name)='\(value)' is not ") == true)
        #expect(error?.errorCode == "usage.invalid-setting")
    }

    @Test("valid values pass", arguments: [
        ["STSCACHE_STS_TIMEOUT": "2.5"], ["STSCACHE_LOCK_TIMEOUT": "0"], ["STSCACHE_MAX_ATTEMPTS": "1"],
        ["STSCACHE_CONNECT_TIMEOUT": " 3 "], ["STSCACHE_PROCESS_TIMEOUT": "0.5"], ["STSCACHE_MAX_ATTEMPTS": ""], [:],
    ])
    func valid(environment: [String: String]) throws {
        _ = try NetworkSettings(environment: environment)
    }

    @Test("parsed on first use only, then kept")
    func lazy() throws {
        let invalid = LazyNetworkSettings(environment: ["STSCACHE_STS_TIMEOUT": "soon"])  // nothing parsed yet
        #expect(throws: UsageError.self) { try invalid.get() }
        let given = LazyNetworkSettings(NetworkSettings(lockTimeout: 3))
        #expect(try given.get().lockTimeout == 3)
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

@Suite("The long-term key store waits as long as every other lock")
struct StoredKeysLockTests {
    @Test("StoredKeys opens the store with the parsed lock timeout; the store's own default is the same 120 s")
    func lockTimeout() throws {
        let home = try TemporaryDirectory(prefix: "stscache-stored-keys")
        let context = Context(environment: [:], now: { testNow }, homeDirectory: home.path, userName: "t",
                              makeTransport: { NetworkForbidden() }, output: CapturedOutput().sinks())
        for text in ["0", "2.5", ""] {
            let settings = try NetworkSettings(environment: ["STSCACHE_LOCK_TIMEOUT": text])
            let stored = StoredKeys(context: context, cacheKeyStore: FixedKeyStore(),
                                    lockTimeout: settings.lockTimeout)
            #expect(stored.store.lockTimeout == (text.isEmpty ? 120 : Double(text)!))
        }
        #expect(AccessKeyStore(path: home.path + "/access-keys").lockTimeout == CredentialCache.defaultLockTimeout)
    }
}

@Suite("The refresh window: one reader of STSCACHE_REFRESH_WINDOW")
struct RefreshWindowTests {
    @Test("--refresh-window wins, else STSCACHE_REFRESH_WINDOW, else 15 minutes; a typo is a usage error")
    func policy() throws {
        let environment = ["STSCACHE_REFRESH_WINDOW": "30m"]
        #expect(try RefreshWindow.policy(option: "1h", environment: environment).window == 3600)
        #expect(try RefreshWindow.policy(option: nil, environment: environment).window == 1800)
        #expect(try RefreshWindow.policy(option: nil, environment: [:]).window == RefreshPolicy.defaultWindow)
        #expect(try RefreshWindow.policy(option: nil, environment: ["STSCACHE_REFRESH_WINDOW": ""]).window
            == RefreshPolicy.defaultWindow)
        let error = #expect(throws: UsageError.self) {
            try RefreshWindow.policy(option: nil, environment: ["STSCACHE_REFRESH_WINDOW": "soon"])
        }
        #expect(error?.errorCode == "usage.invalid-setting")
    }
}
