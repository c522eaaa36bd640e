import CKeyring
import Foundation
import Synchronization
import Testing
@testable import CredentialCache
import StscacheSupport
import TestSupport

/// Each test uses its own key description, so the user's real stscache key is never touched.
func testKeyDescription() -> String { "stscache:test:\(UUID().uuidString)" }

/// Runs `body` concurrently on `count` threads and returns every result.
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable () throws -> T) -> [Result<T, any Error>] {
    let results = Mutex<[Result<T, any Error>]>([])
    DispatchQueue.concurrentPerform(iterations: count) { _ in
        let result = Result { try body() }
        results.withLock { $0.append(result) }
    }
    return results.withLock { $0 }
}

@Suite("Kernel keyring key store")
struct KeyringKeyStoreTests {
    @Test("creates a 32-byte key once, finds it again from a new store, deletes it")
    func lifecycle() throws {
        let store = KeyringKeyStore(description: testKeyDescription())
        defer { try? store.deleteKey() }
        #expect(try store.loadKey() == nil)
        let key = try store.loadOrCreateKey()
        #expect(key.count == 32)
        #expect(try store.loadKey() == key)
        #expect(try KeyringKeyStore(description: store.keyDescription).loadOrCreateKey() == key)
        try store.deleteKey()
        #expect(try store.loadKey() == nil)
        try store.deleteKey()  // deleting nothing is fine
        let fresh = try store.loadOrCreateKey()
        #expect(fresh != key)
    }

    @Test("the key is frozen and readable by the user's processes that do not possess it")
    func permissions() throws {
        let store = KeyringKeyStore(description: testKeyDescription())
        defer { try? store.deleteKey() }
        let key = try store.loadOrCreateKey()
        let serial = store.keyDescription.withCString { stscache_keyring_search($0) }
        try #require(serial > 0)

        // /proc/keys shows the permission mask in hex: possessor and user may read, nobody writes.
        let proc = try String(contentsOfFile: "/proc/keys", encoding: .utf8)
        let line = try #require(proc.split(separator: "\n").first { $0.contains(store.keyDescription) })
        #expect(line.contains(" 3b2b0000 "), "\(line)")

        // A racing add_key of the same description cannot replace the frozen key.
        let other = randomKey()
        let added = store.keyDescription.withCString { description in
            other.withUnsafeBufferPointer { stscache_keyring_add(description, $0.baseAddress, $0.count) }
        }
        #expect(added == -EACCES)
        #expect(try store.loadKey() == key)

        // A new anonymous session keyring does not link the user keyring, so this reader does
        // not possess the key: only the "user" read permission lets it through (the default
        // permissions would refuse it, as in a terminal without pam_keyinit).
        let result = try run(["/usr/bin/keyctl", "session", "-", "keyctl", "pipe", String(serial)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Array(result.stdout) == key)
    }

    @Test("concurrent creators converge on one key")
    func concurrentCreators() throws {
        let description = testKeyDescription()
        defer { try? KeyringKeyStore(description: description).deleteKey() }
        let results = concurrently(16) { try KeyringKeyStore(description: description).loadOrCreateKey() }
        let keys = try results.map { try $0.get() }
        #expect(Set(keys).count == 1)
        #expect(try KeyringKeyStore(description: description).loadKey() == keys[0])
    }

    @Test("a blocked keyctl is keyring-unavailable", arguments: [EPERM, ENOSYS, EACCES])
    func blocked(errno code: Int32) throws {
        let store = KeyringKeyStore(description: testKeyDescription(), simulatedErrno: code)
        expectCacheError("cache.keyring-unavailable") { try store.checkAvailable() }
        expectCacheError("cache.keyring-unavailable") { _ = try store.loadKey() }
        let error = expectCacheError("cache.keyring-unavailable") { _ = try store.loadOrCreateKey() }
        #expect(error?.message.contains("STSCACHE_KEY_STORE=file") == true)
    }

    @Test("other keyctl failures are keyring-failed")
    func otherFailure() throws {
        let store = KeyringKeyStore(description: testKeyDescription(), simulatedErrno: EDQUOT)
        expectCacheError("cache.keyring-failed") { _ = try store.loadOrCreateKey() }
    }

    @Test("a key of the wrong length is refused")
    func wrongLength() throws {
        let store = KeyringKeyStore(description: testKeyDescription())
        defer { try? store.deleteKey() }
        let short: [UInt8] = [1, 2, 3]
        let added = store.keyDescription.withCString { description in
            short.withUnsafeBufferPointer { stscache_keyring_add(description, $0.baseAddress, $0.count) }
        }
        try #require(added > 0)
        expectCacheError("cache.keyring-key-invalid") { _ = try store.loadKey() }
    }
}

@Suite("Key file store", .permissiveTemporaryDirectory)
struct FileKeyStoreTests {
    let temp = TemporaryDirectory.current

    @Test("default path: XDG_CONFIG_HOME, else ~/.config")
    func defaultPath() {
        #expect(FileKeyStore.defaultPath(environment: [:], home: "/home/a") == "/home/a/.config/stscache/cache-key")
        #expect(FileKeyStore.defaultPath(environment: ["XDG_CONFIG_HOME": "/cfg"], home: "/home/a")
                == "/cfg/stscache/cache-key")
        #expect(FileKeyStore.defaultPath(environment: ["XDG_CONFIG_HOME": "rel"], home: "/home/a")
                == "/home/a/.config/stscache/cache-key")
    }

    @Test("creates a 0600 key in a 0700 directory, reads it back, deletes it")
    func lifecycle() throws {
        let path = temp.sub("config/stscache/cache-key")
        let store = FileKeyStore(path: path)
        #expect(try store.loadKey() == nil)
        let key = try store.loadOrCreateKey()
        #expect(key.count == 32)
        #expect(readBytes(path) == key)
        #expect(modeOf(path) == 0o600)
        #expect(modeOf(temp.sub("config/stscache")) == 0o700)
        #expect(try FileKeyStore(path: path).loadOrCreateKey() == key)
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.sub("config/stscache")) == ["cache-key"])
        try store.deleteKey()
        #expect(try store.loadKey() == nil)
        try store.deleteKey()
    }

    @Test("concurrent creators converge on one key")
    func concurrentCreators() throws {
        let path = temp.sub("cfg/cache-key")
        let results = concurrently(16) { try FileKeyStore(path: path).loadOrCreateKey() }
        let keys = try results.map { try $0.get() }
        #expect(Set(keys).count == 1)
        #expect(readBytes(path) == keys[0])
        #expect(try FileManager.default.contentsOfDirectory(atPath: temp.sub("cfg")) == ["cache-key"])
    }

    @Test("refuses a symlinked, shared or wrong-length key file")
    func refusesUnsafeFiles() throws {
        let path = temp.sub("cache-key")
        let store = FileKeyStore(path: path)

        writeBytes(temp.sub("real"), randomKey())
        #expect(chmod(temp.sub("real"), 0o600) == 0)
        #expect(symlink(temp.sub("real"), path) == 0)
        var error = expectCacheError("cache.key-file-insecure") { _ = try store.loadOrCreateKey() }
        #expect(error?.message.contains(path) == true)
        #expect(unlink(path) == 0)

        for mode in [0o640, 0o604, 0o660] {
            writeBytes(path, randomKey())
            #expect(chmod(path, mode_t(mode)) == 0)
            error = expectCacheError("cache.key-file-insecure") { _ = try store.loadKey() }
            #expect(error?.message.contains(octal(UInt32(mode))) == true)
        }

        writeBytes(path, [1, 2, 3])
        #expect(chmod(path, 0o600) == 0)
        expectCacheError("cache.key-file-invalid") { _ = try store.loadOrCreateKey() }
    }

    @Test("refuses a key directory others can write to")
    func refusesSharedDirectory() throws {
        #expect(mkdir(temp.sub("shared"), 0o777) == 0)
        expectCacheError("cache.key-dir-unusable") { _ = try FileKeyStore(path: temp.sub("shared/cache-key")).loadOrCreateKey() }
    }

    @Test("a key directory opened to others after the key was made is refused at every load, not only at creation")
    func rechecksDirectoryAtLoad() throws {
        let store = FileKeyStore(path: temp.sub("config/stscache/cache-key"))
        let key = try store.loadOrCreateKey()
        #expect(try store.loadKey() == key)
        for mode: mode_t in [0o777, 0o770, 0o702] {
            #expect(chmod(temp.sub("config/stscache"), mode) == 0)
            let error = expectCacheError("cache.key-dir-unusable") { _ = try store.loadKey() }
            #expect(error?.message.contains(temp.sub("config/stscache")) == true)
            expectCacheError("cache.key-dir-unusable") { _ = try store.loadOrCreateKey() }
        }
        // Readable by others but writable only by the owner: the key file's own 0600 protects it.
        #expect(chmod(temp.sub("config/stscache"), 0o755) == 0)
        #expect(try store.loadKey() == key)
        // A symlink planted where the directory was is refused too.
        #expect(rename(temp.sub("config/stscache"), temp.sub("config/elsewhere")) == 0)
        #expect(symlink(temp.sub("config/elsewhere"), temp.sub("config/stscache")) == 0)
        expectCacheError("cache.key-dir-unusable") { _ = try store.loadKey() }
    }
}

@Suite("Environment key store and selection")
struct KeyStoreSelectionTests {
    static let validKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    @Test("STSCACHE_CACHE_KEY: base64 of 32 bytes")
    func environmentKey() throws {
        let store = try EnvKeyStore(value: Self.validKey)
        #expect(try store.loadKey() == (0..<32).map { UInt8($0) })
        #expect(try store.loadOrCreateKey() == (0..<32).map { UInt8($0) })
        try store.deleteKey()
        #expect(try store.loadKey() != nil, "deleting cannot remove the caller's variable")
    }

    @Test("malformed STSCACHE_CACHE_KEY is a clear error that does not repeat the value")
    func malformedEnvironmentKey() {
        for value in ["not base64 !!", "c2hvcnQ=", Data(count: 33).base64EncodedString()] {
            let error = expectCacheError("cache.env-key-malformed") { _ = try EnvKeyStore(value: value) }
            #expect(error?.message.contains(value) == false)
        }
    }

    @Test("STSCACHE_KEY_STORE selects the store")
    func explicitSelection() throws {
        let home = "/home/test"
        let file = try KeyStoreSelection.make(environment: ["STSCACHE_KEY_STORE": "file"], home: home, verbose: false)
        #expect(file.store.name == "file")
        #expect((file.store as? FileKeyStore)?.path == "/home/test/.config/stscache/cache-key")
        #expect(file.note == nil)
        let keyring = try KeyStoreSelection.make(environment: ["STSCACHE_KEY_STORE": "keyring"], home: home, verbose: true)
        #expect(keyring.store.name == "keyring")
        #expect(keyring.note?.contains("keyring") == true)
        let env = try KeyStoreSelection.make(
            environment: ["STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": Self.validKey], home: home, verbose: false)
        #expect(env.store.name == "env")
        expectCacheError("cache.env-key-missing") {
            _ = try KeyStoreSelection.make(environment: ["STSCACHE_KEY_STORE": "env"], home: home, verbose: false)
        }
        expectCacheError("cache.key-store-unknown") {
            _ = try KeyStoreSelection.make(environment: ["STSCACHE_KEY_STORE": "vault"], home: home, verbose: false)
        }
    }

    @Test("default: keyring where keyctl works, env when only STSCACHE_CACHE_KEY is set")
    func defaultSelection() throws {
        let working = try KeyStoreSelection.make(environment: [:], home: "/h", verbose: false)
        #expect(working.store.name == "keyring")
        let env = try KeyStoreSelection.make(environment: ["STSCACHE_CACHE_KEY": Self.validKey], home: "/h", verbose: false)
        #expect(env.store.name == "env")
    }

    @Test("falls back to the key file when keyctl is refused; the note only when verbose", .permissiveTemporaryDirectory)
    func fallback() throws {
        let temp = TemporaryDirectory.current
        let blocked = KeyringKeyStore(description: testKeyDescription(), simulatedErrno: EPERM)
        let environment = ["XDG_CONFIG_HOME": temp.path]
        let quiet = try KeyStoreSelection.make(environment: environment, home: "/h", verbose: false, keyring: blocked)
        #expect(quiet.store.name == "file")
        #expect(quiet.note == nil)
        let verbose = try KeyStoreSelection.make(environment: environment, home: "/h", verbose: true, keyring: blocked)
        #expect(verbose.store.name == "file")
        let note = try #require(verbose.note)
        #expect(note.contains("cache.keyring-unavailable"))
        #expect(note.contains(temp.path + "/stscache/cache-key"))
        // The fallback store works end to end.
        let key = try verbose.store.loadOrCreateKey()
        #expect(readBytes(temp.path + "/stscache/cache-key") == key)

        // Asked for explicitly, a blocked keyring is an error, not a silent fallback.
        let explicit = try KeyStoreSelection.make(environment: ["STSCACHE_KEY_STORE": "keyring"], home: "/h",
                                                  verbose: false, keyring: blocked)
        expectCacheError("cache.keyring-unavailable") { _ = try explicit.store.loadOrCreateKey() }
    }
}
