#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// `NetworkSettings` as the commands see it: parsed when a run needs it (a miss, a keys
/// command), never on a cache hit or in `prompt`, and the one value every wait uses.
@Suite("settings: parsed once, where they are needed", .serialized)
struct SettingsTests {
    static let mistyped = ["STSCACHE_STS_TIMEOUT": "30s", "STSCACHE_LOCK_TIMEOUT": "soon", "STSCACHE_MAX_ATTEMPTS": "x",
                           "STSCACHE_PROCESS_TIMEOUT": "-1"]

    @Test("a cache hit and prompt neither parse nor fail on a mistyped setting; a miss names it")
    func hitDoesNotParse() throws {
        let home = try TestHome()
        try home.cacheSession(for: "prod-role", expiresIn: 3000)
        let hit = home.run(["credential-process", "--profile", "prod-role"], extra: Self.mistyped)
        #expect(hit.status == 0, "\(hit.stderr)")
        #expect(hit.stdout.contains("\"Version\": 1") || hit.stdout.contains("\"Version\":1"))
        #expect(home.run(["prompt", "--profile", "prod"], extra: Self.mistyped).stdout == "prod 50m\n")

        let miss = home.run(["credential-process", "--profile", "prod-role", "--force-refresh"], extra: Self.mistyped)
        expectCleanFailure(miss, mentioning: ["STSCACHE_STS_TIMEOUT='30s' is not a number of seconds"])
    }

    @Test("each invalid value is the usage.invalid-setting error on a miss", arguments: [
        ("STSCACHE_LOCK_TIMEOUT", "-1"), ("STSCACHE_PROCESS_TIMEOUT", "0"), ("STSCACHE_MAX_ATTEMPTS", "11"),
        ("STSCACHE_CONNECT_TIMEOUT", "fast"),
    ])
    func missNamesTheSetting(name: String, value: String) throws {
        let home = try TestHome()
        let result = home.run(["credential-process", "--profile", "prod-role"], extra: [name: value])
        expectCleanFailure(result, mentioning: ["\(name)='\(value)'"])
    }

    /// `keys` writers wait for the store's lock as long as `STSCACHE_LOCK_TIMEOUT` says, 0
    /// included (it used to mean "the store's own 30 s" there, and "do not wait" for the cache).
    @Test("the long-term key store's lock waits STSCACHE_LOCK_TIMEOUT: 0 is at once, 0.6 is 0.6 s")
    func keyStoreLockWait() throws {
        let home = try TestHome()
        // A first write makes the store's directory and lock file.
        #expect(home.run(["keys", "remove", "base"]).status != 64)
        let lockPath = AccessKeyStore.defaultPath(environment: home.environment, home: home.root) + ".lock"
        let holder = open(lockPath, O_RDWR)
        try #require(holder >= 0, "no lock file at \(lockPath)")
        defer { close(holder) }
        try #require(flock(holder, LOCK_EX | LOCK_NB) == 0)

        var started = Date()
        let immediate = home.run(["keys", "remove", "base"], extra: ["STSCACHE_LOCK_TIMEOUT": "0"])
        // 0 used to mean the store's own 30 s; a loaded machine stays well under half of it.
        #expect(Date().timeIntervalSince(started) < 15)
        expectCleanFailure(immediate, mentioning: ["lock", "STSCACHE_LOCK_TIMEOUT"])

        started = Date()
        let waited = home.run(["keys", "remove", "base"], extra: ["STSCACHE_LOCK_TIMEOUT": "0.6"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed >= 0.6 && elapsed < 15, "waited \(elapsed) s")
        expectCleanFailure(waited, mentioning: ["STSCACHE_LOCK_TIMEOUT"])

        expectCleanFailure(home.run(["keys", "remove", "base"], extra: ["STSCACHE_LOCK_TIMEOUT": "-1"]),
                           mentioning: ["STSCACHE_LOCK_TIMEOUT='-1'"])
    }
}
