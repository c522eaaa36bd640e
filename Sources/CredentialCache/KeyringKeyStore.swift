#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKeyring
import OpenSSLCrypto
import StscacheSupport

/// The key in the Linux kernel's per-user keyring (`keyctl show @u`): shared by every process of
/// the user (new terminals, tmux panes, cron), never on disk, gone at reboot.
///
/// The key is a `user` key in the user keyring. Once created its permissions are set to
/// possessor view/read/search/link/setattr and user view/read/search/setattr: readable by the
/// user's processes that do not possess the user keyring through their session, and — having no
/// write permission — frozen, so a racing `add_key` of the same description fails with EACCES
/// instead of replacing it. Every creator re-reads after its own `add_key` + `setperm` (or after
/// that EACCES), so concurrent creators all converge on the one payload that was frozen.
public struct KeyringKeyStore: KeyStore {
    public static let defaultDescription = "stscache:cache-key:v1"

    /// Possessor: view, read, search, link, setattr. User: view, read, search, setattr. No write.
    static let permissions: UInt32 = 0x3b2b_0000

    public let keyDescription: String
    /// Tests set this to make every syscall fail as seccomp would.
    let simulatedErrno: Int32?

    public init(description: String = KeyringKeyStore.defaultDescription) {
        self.keyDescription = description
        self.simulatedErrno = nil
    }

    init(description: String = KeyringKeyStore.defaultDescription, simulatedErrno: Int32?) {
        self.keyDescription = description
        self.simulatedErrno = simulatedErrno
    }

    public var name: String { "keyring" }
    public var location: String { "kernel user keyring, key '\(keyDescription)'" }

    /// One cheap keyctl call: throws `CacheError.keyringUnavailable` where keyctl is blocked.
    public func checkAvailable() throws(CacheError) {
        _ = try call("get user keyring") { stscache_keyring_user_keyring_id() }
    }

    public func loadKey() throws -> [UInt8]? {
        guard let serial = try search() else { return nil }
        return try read(serial)
    }

    public func loadOrCreateKey() throws -> [UInt8] {
        if let key = try loadKey() { return key }
        var candidate = try freshKeyCandidate()
        defer { EntryFormat.wipe(&candidate) }
        let added = simulatedErrno.map { -Int32($0) } ?? keyDescription.withCString { description in
            candidate.withUnsafeBufferPointer { stscache_keyring_add(description, $0.baseAddress, $0.count) }
        }
        if added >= 0 {
            _ = try call("setperm") { stscache_keyring_setperm(added, Self.permissions) }
        } else if -added != EACCES {
            // EACCES: another process created and froze the key between our search and add_key.
            throw classify(-added, operation: "add_key")
        }
        guard let serial = try search() else { throw CacheError.keyringFailed(operation: "search after add_key", errno: ENOKEY) }
        return try read(serial)
    }

    public func deleteKey() throws {
        guard let serial = try search() else { return }
        do {
            _ = try call("invalidate") { stscache_keyring_invalidate(serial) }
        } catch {
            _ = try call("unlink") { stscache_keyring_unlink(serial) }
        }
    }

    private func search() throws(CacheError) -> Int32? {
        let result = simulatedErrno.map { -$0 } ?? keyDescription.withCString { stscache_keyring_search($0) }
        if result >= 0 { return result }
        let code = -result
        #if os(Linux)
        if code == ENOKEY || code == EKEYREVOKED || code == EKEYEXPIRED { return nil }
        #endif
        throw classify(code, operation: "search")
    }

    private func read(_ serial: Int32) throws(CacheError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = try call("read") {
            buffer.withUnsafeMutableBufferPointer { Int32(clamping: stscache_keyring_read(serial, $0.baseAddress, $0.count)) }
        }
        guard length == AES256GCM.keyCount else {
            EntryFormat.wipe(&buffer)
            throw .keyringKeyInvalid(description: keyDescription, length: Int(length))
        }
        return Array(buffer.prefix(Int(length)))
    }

    /// Runs one wrapper call (or its simulated failure) and turns -errno into a CacheError.
    private func call(_ operation: String, _ body: () -> Int32) throws(CacheError) -> Int32 {
        let result = simulatedErrno.map { -$0 } ?? body()
        guard result < 0 else { return result }
        throw classify(-result, operation: operation)
    }

    /// EPERM/ENOSYS/EACCES are what seccomp filters and kernels without keys return: "not here".
    private func classify(_ code: Int32, operation: String) -> CacheError {
        code == EPERM || code == ENOSYS || code == EACCES
            ? .keyringUnavailable(errno: code) : .keyringFailed(operation: operation, errno: code)
    }
}
