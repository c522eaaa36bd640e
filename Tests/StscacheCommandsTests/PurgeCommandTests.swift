import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// The standard config with a second session of prod-role's role, for bob.
private let withProdBob = standardConfig + """
    [profile prod-bob]
    role_arn = \(prodRoleArn)
    source_profile = base
    role_session_name = bob

    """

@Suite("stscache purge", .testHome())
struct PurgeCommandTests {
    let home = TestHome.current

    @Test("--profile follows the delegation and removes exactly that role's entry (its lock file stays)")
    func byProfile() throws {
        let prod = try home.cacheSession(for: "prod-role", expiresIn: 600)
        let dev = try home.cacheSession(for: "dev-role", expiresIn: 600)

        let result = home.run(["purge", "--profile", "prod"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        #expect(result.stdout == "removed session alice of \(prodRoleArn) (profiles prod, prod-role), 10m left\n")
        #expect(!home.exists(home.entryPath(prod)))
        // The lock file stays: a waiter on a deleted lock inode and a newcomer would both refresh.
        #expect(home.exists(home.cacheDirectory + "/" + prod.lockFileName))
        #expect(home.exists(home.entryPath(dev)))
    }

    @Test("nothing to purge is a message and exit 0")
    func nothing() throws {
        #expect(home.run(["purge", "--profile", "prod"]).stdout
            == "nothing to purge: no cached session for profile prod (session alice of \(prodRoleArn))\n")
        try home.cacheSession(for: "dev-role", expiresIn: 600)
        let result = home.run(["purge", "--profile", "prod"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("nothing to purge: "))
        #expect(home.run(["purge", "--expired"]).stdout == "nothing to purge: no expired or damaged entries\n")
        #expect(home.run(["purge", "--role-arn", "arn:aws:iam::1:role/None"]).stdout
            == "nothing to purge: no cached session of arn:aws:iam::1:role/None\n")
    }

    @Test("--role-arn removes every session of the role; --session-name narrows it", .testHome(config: withProdBob))
    func byRoleArn() throws {
        let alice = try home.cacheSession(for: "prod-role", expiresIn: 600)
        let bob = try home.cacheSession(for: "prod-bob", expiresIn: 600)
        let dev = try home.cacheSession(for: "dev-role", expiresIn: 600)

        let narrowed = home.run(["purge", "--role-arn", prodRoleArn, "--session-name", "bob"])
        #expect(narrowed.stdout == "removed session bob of \(prodRoleArn) (profile prod-bob), 10m left\n")
        #expect(!home.exists(home.entryPath(bob)) && home.exists(home.entryPath(alice)))

        try home.cacheSession(for: "prod-bob", expiresIn: 600)
        let all = home.run(["purge", "--role-arn", prodRoleArn])
        #expect(all.stdout.split(separator: "\n").count == 2)
        #expect(!home.exists(home.entryPath(bob)) && !home.exists(home.entryPath(alice)))
        #expect(home.exists(home.entryPath(dev)))
    }

    @Test("--expired removes expired and damaged entries, keeps valid ones and unknown formats")
    func expired() throws {
        let valid = try home.cacheSession(for: "prod-role", expiresIn: 600)
        let stale = try home.cacheSession(for: "dev-role", expiresIn: -60)
        let lastMinute = try home.cacheSession(for: "env-role", expiresIn: 30)
        let damaged = home.cacheDirectory + "/" + String(repeating: "cd", count: 32) + ".entry"
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: damaged))
        // A newer stscache's entry: right magic, format version 9.
        let future = home.cacheDirectory + "/" + String(repeating: "ef", count: 32) + ".entry"
        try Data(Array("STSCACHE".utf8) + [9, 0, 0] + [UInt8](repeating: 0, count: 80)).write(to: URL(fileURLWithPath: future))

        let result = home.run(["purge", "--expired"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").count == 3, "\(result.stdout)")
        #expect(result.stdout.contains("removed session alice of \(devRoleArn) (profiles default, dev-role), expired"))
        #expect(result.stdout.contains("removed damaged entry \(damaged)"))
        #expect(home.exists(home.entryPath(valid)))
        #expect(!home.exists(home.entryPath(stale)))
        #expect(!home.exists(home.entryPath(lastMinute)))
        #expect(!home.exists(damaged))
        #expect(home.exists(future))
    }

    @Test("--dry-run says what it would remove and removes nothing", arguments: [
        ["--profile", "prod"], ["--role-arn", prodRoleArn], ["--expired"], ["--all"],
    ])
    func dryRun(selection: [String]) throws {
        home.environment["STSCACHE_KEY_STORE"] = "file"
        let keyFile = home.path(".config/stscache/cache-key")
        try FileManager.default.createDirectory(atPath: home.path(".config/stscache"), withIntermediateDirectories: true)
        try Data(home.encryptionKey).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o600)
        chmod(home.path(".config"), 0o700)
        chmod(home.path(".config/stscache"), 0o700)
        let key = try home.cacheSession(for: "prod-role", expiresIn: selection == ["--expired"] ? -100 : 600)
        let before = home.cacheFiles()

        let result = home.run(["purge", "--dry-run"] + selection)

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("would remove"), "\(result.stdout)")
        #expect(!result.stdout.contains("removed"))
        #expect(home.cacheFiles() == before)
        #expect(home.exists(home.entryPath(key)))
        #expect(home.exists(keyFile))
    }

    @Test("--all removes entries, lock files and the key file")
    func all() throws {
        home.environment["STSCACHE_KEY_STORE"] = "file"
        home.environment["STSCACHE_CACHE_KEY"] = nil
        // The file key store creates its key on first use, as a credential-process miss would.
        let store = FileKeyStore(path: FileKeyStore.defaultPath(environment: home.environment, home: home.root))
        let fileKey = try store.loadOrCreateKey()
        let cache = try CredentialCache.open(environment: home.environment, home: home.root)
        let key = CredentialBroker.cacheKey(for: try home.role("prod-role"))
        try cache.write(sampleCredentials(expiration: now.addingTimeInterval(600), tag: "p"), for: key,
                        issuedAt: now, encryptionKey: fileKey)
        try cache.withEntryLock(key, timeout: 1) {}
        try Data("x".utf8).write(to: URL(fileURLWithPath: home.cacheDirectory + "/unrelated.txt"))
        #expect(home.cacheFiles().contains(key.lockFileName))

        let result = home.run(["purge", "--all"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            removed 1 cached session from \(home.cacheDirectory)
            removed the key from the file key store (key file \(store.path))

            """)
        #expect(home.cacheFiles() == ["unrelated.txt"])
        #expect(!home.exists(store.path))

        let again = home.run(["purge", "--all"])
        #expect(again.status == 0)
        #expect(again.stdout == """
            no cached sessions in \(home.cacheDirectory)
            no key in the file key store (key file \(store.path))

            """)
    }

    @Test("--all with the env key store says the key lives in the environment")
    func allWithEnvironmentKey() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        let result = home.run(["purge", "--all"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("STSCACHE_CACHE_KEY"))
        #expect(home.cacheFiles().isEmpty)
    }

    @Test("waits for a refresh holding the role's lock before removing")
    func takesTheLock() throws {
        let key = try home.cacheSession(for: "prod-role", expiresIn: 600)
        let cache = try CredentialCache.open(environment: home.environment, home: home.root)
        // The holder looks, just before it lets go, whether the entry is still there: a purge
        // that did not wait would have removed it by then (it starts at once and takes a few
        // milliseconds; a loaded machine can only make it later, never make the fix fail).
        let path = home.entryPath(key)
        let keptWhileLocked = Locked(false)
        holdEntryLock(key, in: cache) {
            Thread.sleep(forTimeInterval: 1)
            keptWhileLocked.value = FileManager.default.fileExists(atPath: path)
        }

        let result = home.run(["purge", "--profile", "prod"])

        #expect(keptWhileLocked.value, "purge removed the entry while a refresh held its lock")
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!home.exists(home.entryPath(key)))
    }

    @Test("usage mistakes: one line on stderr, nothing on stdout, exit 64", arguments: [
        [], ["--all", "--expired"], ["--profile", "prod", "--role-arn", prodRoleArn], ["--session-name", "x", "--expired"],
    ])
    func validation(arguments: [String]) throws {
        let key = try home.cacheSession(for: "prod-role", expiresIn: -100)
        expectCleanFailure(home.run(["purge"] + arguments), status: 64)
        #expect(home.exists(home.entryPath(key)))
    }

    @Test("an unknown profile is an error naming it")
    func unknownProfile() throws {
        expectCleanFailure(home.run(["purge", "--profile", "nosuch"]), status: 1, mentioning: ["nosuch"])
    }
}
