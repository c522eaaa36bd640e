#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import OpenSSLCrypto

/// Where the cache's 32-byte AES-256-GCM key lives.
///
/// Losing the key is harmless: every entry becomes a miss and is re-fetched and overwritten.
public protocol KeyStore: Sendable {
    /// `keyring`, `file` or `env` (the `STSCACHE_KEY_STORE` value that selects it).
    var name: String { get }
    /// Where the key is, for verbose output and `purge --all` (never the key itself).
    var location: String { get }
    /// The key, or nil when none has been created yet. Reading entries only needs this.
    func loadKey() throws -> [UInt8]?
    /// The key, creating it first if needed. Concurrent creators all end up with the same key.
    func loadOrCreateKey() throws -> [UInt8]
    /// Forgets the key (every entry becomes a miss). A missing key is not an error.
    func deleteKey() throws
}

/// The key store to use, chosen from the environment, with a note for verbose output.
public struct KeyStoreSelection: Sendable {
    public var store: any KeyStore
    /// For verbose output only (nil unless `verbose`): which store, and why when it fell back.
    public var note: String?

    public init(store: any KeyStore, note: String? = nil) {
        self.store = store
        self.note = note
    }

    /// `STSCACHE_KEY_STORE` = `keyring` | `file` | `env`. Unset: `env` when `STSCACHE_CACHE_KEY`
    /// is set (CI sets just the key), otherwise `keyring`, falling back to `file` when keyctl is
    /// refused here (seccomp in containers). The fallback is silent: it is only described in
    /// `note`, and only when `verbose`.
    ///
    /// - Throws: `CacheError.unknownKeyStore`, `.environmentKeyMissing`, `.environmentKeyMalformed`.
    public static func make(environment: [String: String], home: String, verbose: Bool) throws(CacheError)
        -> KeyStoreSelection
    {
        try make(environment: environment, home: home, verbose: verbose, keyring: KeyringKeyStore())
    }

    /// `make` with the keyring store injected (tests force it to fail).
    static func make(environment: [String: String], home: String, verbose: Bool,
                     keyring: KeyringKeyStore) throws(CacheError) -> KeyStoreSelection {
        let requested = nonEmpty(environment["STSCACHE_KEY_STORE"])?.lowercased()
        let envKey = nonEmpty(environment["STSCACHE_CACHE_KEY"])
        let file = { FileKeyStore(path: FileKeyStore.defaultPath(environment: environment, home: home)) }
        func selection(_ store: any KeyStore, _ why: String) -> KeyStoreSelection {
            KeyStoreSelection(store: store, note: verbose ? "key store: \(store.name), \(store.location)\(why)" : nil)
        }
        switch requested {
        case "env":
            guard let envKey else { throw .environmentKeyMissing }
            return selection(try EnvKeyStore(value: envKey), "")
        case "file":
            return selection(file(), "")
        case "keyring":
            return selection(keyring, "")
        case nil:
            if let envKey { return selection(try EnvKeyStore(value: envKey), " (STSCACHE_CACHE_KEY is set)") }
            do {
                try keyring.checkAvailable()
                return selection(keyring, "")
            } catch {
                return selection(file(), " (kernel keyring refused: \(error.code); using the key file instead)")
            }
        case let other?:
            throw .unknownKeyStore(value: other)
        }
    }
}

func nonEmpty(_ value: String?) -> String? {
    guard let value, !value.isEmpty else { return nil }
    return value
}

/// `STSCACHE_CACHE_KEY`: base64 of 32 bytes, for CI where neither keyring nor a key file fits.
public struct EnvKeyStore: KeyStore {
    public var name: String { "env" }
    public var location: String { "environment variable STSCACHE_CACHE_KEY" }
    private let key: [UInt8]

    /// - Throws: `CacheError.environmentKeyMalformed` (the message never repeats the value).
    public init(value: String) throws(CacheError) {
        let trimmed = String(value.filter { !$0.isWhitespace })
        guard let data = Data(base64Encoded: trimmed) else {
            throw .environmentKeyMalformed(reason: "is not valid base64")
        }
        guard data.count == AES256GCM.keyCount else {
            throw .environmentKeyMalformed(reason: "decodes to \(data.count) bytes, not 32")
        }
        key = Array(data)
    }

    public func loadKey() throws -> [UInt8]? { key }

    public func loadOrCreateKey() throws -> [UInt8] { key }

    /// Nothing to delete: the key lives in the caller's environment. Unset STSCACHE_CACHE_KEY
    /// (or change it) to retire it; entries encrypted under it become misses.
    public func deleteKey() throws {}
}

/// 32 fresh random bytes for a store that is about to create the cache key (the caller wipes
/// them once stored).
func freshKeyCandidate() throws(CacheError) -> [UInt8] {
    do {
        return try SecureRandom.bytes(count: AES256GCM.keyCount)
    } catch {
        throw .randomUnavailable
    }
}
