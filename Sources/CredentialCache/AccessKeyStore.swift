#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OpenSSLCrypto
import StscacheSupport

/// One profile's long-term access key as the store holds it, with where a rotation got to.
/// `description` never shows a secret.
public struct StoredAccessKey: Sendable, Equatable, CustomStringConvertible {
    public var profile: String
    public var accessKeyId: String
    public var secretAccessKey: String
    public var addedAt: Date
    /// When `keys rotate` last made this key current; nil until the first rotation.
    public var rotatedAt: Date?
    /// A rotation that has started and not finished (a rerun of `keys rotate` finishes it).
    public var rotation: RotationState?

    public init(profile: String, accessKeyId: String, secretAccessKey: String, addedAt: Date,
                rotatedAt: Date? = nil, rotation: RotationState? = nil) {
        self.profile = profile
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.addedAt = addedAt
        self.rotatedAt = rotatedAt
        self.rotation = rotation
    }

    public var description: String {
        "StoredAccessKey(profile: \(profile), accessKeyId: \(accessKeyId), <redacted>)"
    }
}

/// Where an interrupted `keys rotate` stopped. Each state is written to the store before the
/// IAM call it prepares, so a rerun knows which keys exist (docs/DESIGN.md, "Long-term keys").
public enum RotationState: Sendable, Equatable, CustomStringConvertible {
    /// CreateAccessKey is about to be called; `existingKeyIds` are the user's keys before it.
    /// A key that is not among them afterwards may have been made by this rotation (its answer
    /// lost with the interrupted run) or by a person since: the rerun names it and leaves it.
    case creating(startedAt: Date, existingKeyIds: [String])
    /// The new key exists and is recorded here; it is not yet known to work.
    case created(accessKeyId: String, secretAccessKey: String)
    /// The new key works and is the current one; the old key is still to be deleted.
    case retiring(oldAccessKeyId: String)

    public var description: String {
        switch self {
        case .creating(_, let existing): return "creating (existing keys: \(existing.joined(separator: ", ")))"
        case .created(let id, _): return "created \(id), not yet verified"
        case .retiring(let old): return "deleting the old key \(old)"
        }
    }
}

/// What can go wrong with the long-term key store. Messages name the file and the fix, never a
/// secret.
public enum AccessKeyStoreError: UserFacingError, Sendable, Equatable {
    /// The file is not a store this version reads, or is cut short or inconsistent.
    case damaged(path: String, reason: String)
    /// The file was encrypted under another key than the one at hand.
    case otherKey(path: String)
    /// A record failed authentication: altered, or moved from another profile.
    case tampered(path: String, profile: String)
    /// The file or its directory is reachable by others, a symlink, or someone else's.
    case insecure(path: String, reason: String)
    case fileOperationFailed(path: String, operation: String, errno: Int32)
    /// Another process held the store's lock for longer than the wait.
    case lockTimeout(path: String, seconds: Double)
    /// A profile name the store cannot hold (empty, too long, control characters).
    case invalidProfileName
    /// Larger than any store stscache writes.
    case tooLarge(path: String)
    /// What was to be written does not fit the format (a field over 64 KiB, the store over 1 MiB).
    case tooLargeToWrite

    public var errorCode: String {
        switch self {
        case .damaged: return "keys.store-damaged"
        case .otherKey: return "keys.store-other-key"
        case .tampered: return "keys.record-tampered"
        case .insecure: return "keys.store-insecure"
        case .fileOperationFailed: return "keys.file-operation-failed"
        case .lockTimeout: return "keys.lock-timeout"
        case .invalidProfileName: return "keys.invalid-profile-name"
        case .tooLarge: return "keys.store-too-large"
        case .tooLargeToWrite: return "keys.too-large-to-write"
        }
    }

    public var message: String {
        switch self {
        case .damaged(let path, let reason):
            return "the long-term key store \(path) is damaged (\(reason)); restore it from a backup, or move it "
                + "away and add the keys again with 'stscache keys add PROFILE'"
        case .otherKey(let path):
            return "the long-term key store \(path) was encrypted under another key than the one at hand "
                + "(the store key was replaced, or STSCACHE_CACHE_KEY / STSCACHE_KEY_STORE changed); restore that key, "
                + "or move the store away and add the keys again"
        case .tampered(let path, let profile):
            return "the record for profile \"\(profile)\" in the long-term key store \(path) failed authentication "
                + "(altered, or copied from another profile); it is not used. Remove it with "
                + "'stscache keys remove \(profile)' and add the keys again"
        case .insecure(let path, let reason):
            return "the long-term key store \(path) \(reason); it must be yours, a regular file (directory: a "
                + "directory) and reachable by you only: chmod 600 the file and 700 its directory"
        case .fileOperationFailed(let path, let operation, let code):
            return "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        case .lockTimeout(let path, let seconds):
            return "another stscache held the long-term key store's lock \(path) for more than \(Int(seconds)) "
                + "seconds; try again once it has finished (STSCACHE_LOCK_TIMEOUT sets how long to wait)"
        case .invalidProfileName:
            return "a profile name must be 1 to 256 bytes of printable text"
        case .tooLarge(let path):
            return "the long-term key store \(path) is larger than 1 MiB, more than stscache ever writes; it is not read"
        case .tooLargeToWrite:
            return "the keys (or the number of stored profiles) are too large for the long-term key store; nothing was written"
        }
    }
}

/// Long-term access keys, encrypted, in one file of their own (`access-keys`, 0600, in
/// stscache's 0700 config directory), so that a profile's keys need not sit in plaintext in
/// `~/.aws/credentials`.
///
/// Each record is AES-256-GCM with the file's header and the record's profile name as
/// associated data: a record moved to another profile, an altered byte anywhere, or a file
/// written under another key is refused, never used. Writers take `access-keys.lock` (flock)
/// and replace the file atomically (`FileSystem.writeAtomically`), so concurrent `keys`
/// commands neither lose each other's changes nor leave a partial file.
///
/// Only a source that has no keys of its own reads this store, and only when its role needs
/// a new session: a cache hit never opens it.
public struct AccessKeyStore: Sendable {
    /// A name the store can hold: 1 to 256 bytes of text without control characters.
    package static func isValidProfileName(_ profile: String) -> Bool { AccessKeyFile.isValidProfileName(profile) }

    public let path: String
    /// Seconds to wait for another writer's lock (0: try once); stscache passes
    /// `STSCACHE_LOCK_TIMEOUT`'s value, whose default this is too.
    public var lockTimeout: Double = CredentialCache.defaultLockTimeout

    public init(path: String) {
        self.path = path
    }

    public static let fileName = "access-keys"

    /// `$XDG_CONFIG_HOME/stscache/access-keys`, else `<home>/.config/stscache/access-keys`:
    /// next to the file key store's `cache-key`.
    public static func defaultPath(environment: [String: String], home: String) -> String {
        let keyFile = FileKeyStore.defaultPath(environment: environment, home: home)
        return splitPath(keyFile).directory + "/" + fileName
    }

    var directoryPath: String { splitPath(path).directory }

    var name: String { splitPath(path).name }

    /// The key that encrypts this store, from the same key store kind the cache uses, but not
    /// the cache's own key: the kernel keyring forgets its key at reboot and `purge --all`
    /// deletes the cache key, and neither may take the user's long-term keys with it. With
    /// `env` (`STSCACHE_CACHE_KEY`, which the user keeps) the key is derived from that key with
    /// a label of its own; otherwise it is a 0600 key file `access-keys-key` beside the store.
    public func encryptionKeyStore(for cacheKeyStore: any KeyStore) -> any KeyStore {
        if let environmentStore = cacheKeyStore as? EnvKeyStore {
            return DerivedKeyStore(base: environmentStore, label: "stscache access-key store/1")
        }
        return FileKeyStore(path: directoryPath + "/access-keys-key")
    }

    // MARK: Reading

    /// Profile names with a record, read without any key (the names are the file's plaintext;
    /// nothing is decrypted). An absent store has none.
    public func profileNames() throws(AccessKeyStoreError) -> [String] {
        guard let bytes = try readFile() else { return [] }
        return try AccessKeyFile.parse(bytes, path: path).records.map(\.profile)
    }

    /// Every record, decrypted and authenticated. An absent store is empty.
    public func records(encryptionKey: [UInt8]) throws(AccessKeyStoreError) -> [StoredAccessKey] {
        guard let bytes = try readFile() else { return [] }
        return try AccessKeyFile.decode(bytes, key: encryptionKey, path: path)
    }

    /// The record for `profile`, or nil. Only that record is decrypted.
    public func record(for profile: String, encryptionKey: [UInt8]) throws(AccessKeyStoreError) -> StoredAccessKey? {
        guard let bytes = try readFile() else { return nil }
        let file = try AccessKeyFile.parse(bytes, path: path)
        guard let sealed = file.records.first(where: { $0.profile == profile }) else { return nil }
        return try AccessKeyFile.open(sealed, file: file, key: encryptionKey, path: path)
    }

    // MARK: Writing

    /// Runs `body` on every record under the store's lock and writes the result back
    /// atomically when `body` changed it (an empty result removes the file).
    public func update<T>(encryptionKey: [UInt8], _ body: (inout [StoredAccessKey]) throws -> T) throws -> T {
        try withLock(encryptionKey: encryptionKey) { transaction in
            let before = try transaction.load()
            var records = before
            let result = try body(&records)
            if records != before { try transaction.save(records) }
            return result
        }
    }

    /// Runs `body` holding the store's lock for all of it, with `load` and `save` on the
    /// records: for a change made of several steps that each must be on disk before the next
    /// (a rotation), and that no other writer may interleave with.
    public func withLock<T>(encryptionKey: [UInt8], _ body: (Transaction) throws -> T) throws -> T {
        let directory = try openDirectory(create: true)
        defer { close(directory) }
        let lock = try acquireLock(directory: directory)
        defer { close(lock) }
        return try body(Transaction(store: self, directory: directory, key: encryptionKey))
    }

    /// The store while its lock is held (`withLock`).
    public struct Transaction {
        let store: AccessKeyStore
        let directory: Int32
        let key: [UInt8]

        public func load() throws(AccessKeyStoreError) -> [StoredAccessKey] {
            guard let bytes = try store.readFile(directory: directory) else { return [] }
            return try AccessKeyFile.decode(bytes, key: key, path: store.path)
        }

        public func save(_ records: [StoredAccessKey]) throws {
            try store.write(records, directory: directory, key: key)
        }
    }

    fileprivate func write(_ records: [StoredAccessKey], directory: Int32, key: [UInt8]) throws {
        if records.isEmpty {
            if unlinkat(directory, name, 0) != 0 && errno != ENOENT {
                throw AccessKeyStoreError.fileOperationFailed(path: path, operation: "removing", errno: errno)
            }
            _ = FileSystem.sync(directory)
            return
        }
        var bytes = try AccessKeyFile.encode(records, key: key)
        defer { EntryFormat.wipe(&bytes) }
        let final = name
        do {
            try FileSystem.writeAtomically(directory: directory, directoryPath: directoryPath, finalName: final,
                                           temporaryStem: final, bytes: bytes) { temporary -> Result<Void, Errno> in
                renameat(directory, temporary, directory, final) == 0 ? .success(()) : .failure(Errno(errno))
            }
        } catch {
            throw AccessKeyStoreError.fileOperationFailed(path: error.path, operation: error.operation, errno: error.errno)
        }
    }

    // MARK: Files

    /// The store's bytes, nil when there is no store (or no directory yet).
    private func readFile() throws(AccessKeyStoreError) -> [UInt8]? {
        let directory: Int32
        do {
            directory = try openDirectory(create: false)
        } catch .fileOperationFailed(_, _, let code) where code == ENOENT {
            return nil
        }
        defer { close(directory) }
        return try readFile(directory: directory)
    }

    fileprivate func readFile(directory: Int32) throws(AccessKeyStoreError) -> [UInt8]? {
        let (fd, info): (Int32, stat)
        switch FileSystem.openPrivateFile(at: directory, name) {
        case .success(let opened): (fd, info) = opened
        case .failure(.missing): return nil
        case .failure(.insecure(let reason)): throw .insecure(path: path, reason: reason)
        case .failure(.failed(let operation, let code)): throw .fileOperationFailed(path: path, operation: operation, errno: code)
        }
        defer { close(fd) }
        switch BoundedRead.toEnd(fd, limit: AccessKeyFile.maximumSize, sizeHint: Int(info.st_size)) {
        case .success(let bytes): return bytes
        case .failure(.system(let code)): throw .fileOperationFailed(path: path, operation: "reading", errno: code)
        case .failure: throw .tooLarge(path: path)
        }
    }

    /// The store's directory, ours and writable by nobody else (someone who could replace the
    /// file could roll a record back or delete it).
    private func openDirectory(create: Bool) throws(AccessKeyStoreError) -> Int32 {
        if create {
            do {
                try CacheDirectory.createParents(of: path)
            } catch .directoryUnavailable(let failed, let code) {
                throw .fileOperationFailed(path: failed, operation: "creating", errno: code)
            } catch {
                throw .fileOperationFailed(path: directoryPath, operation: "creating", errno: EIO)
            }
        }
        let fd: Int32
        switch FileSystem.open(at: AT_FDCWD, directoryPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.code == ELOOP || error.code == ENOTDIR {
                throw .insecure(path: directoryPath, reason: "is a symbolic link or not a directory")
            }
            throw .fileOperationFailed(path: directoryPath, operation: "opening", errno: error.code)
        }
        guard case .success(let info) = FileSystem.status(of: fd) else {
            close(fd)
            throw .fileOperationFailed(path: directoryPath, operation: "checking", errno: EIO)
        }
        if UInt32(info.st_uid) != FileSystem.currentUID {
            close(fd)
            throw .insecure(path: directoryPath, reason: "is owned by uid \(info.st_uid), not by you")
        }
        if info.permissionBits & 0o022 != 0 {
            close(fd)
            throw .insecure(path: directoryPath,
                            reason: "has mode \(octal(info.permissionBits)) (group or others can write to it)")
        }
        return fd
    }

    private func acquireLock(directory: Int32) throws(AccessKeyStoreError) -> Int32 {
        let lockName = name + ".lock"
        let lockPath = directoryPath + "/" + lockName
        let fd: Int32
        switch FileSystem.open(at: directory, lockName, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let error): throw .fileOperationFailed(path: lockPath, operation: "opening lock file", errno: error.code)
        }
        let deadline = monotonicSeconds() + max(0, lockTimeout)
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return fd }
            let code = errno
            if code != EWOULDBLOCK && code != EINTR {
                close(fd)
                throw .fileOperationFailed(path: lockPath, operation: "locking", errno: code)
            }
            if monotonicSeconds() >= deadline {
                close(fd)
                throw .lockTimeout(path: lockPath, seconds: lockTimeout)
            }
            sleepSeconds(0.02)
        }
    }
}

/// A key store whose key is derived from another's with a label (HMAC-SHA256), so one secret
/// the user keeps (`STSCACHE_CACHE_KEY`) yields independent keys for independent uses.
struct DerivedKeyStore: KeyStore {
    let base: any KeyStore
    let label: String

    var name: String { base.name }
    var location: String { base.location + " (derived for the long-term key store)" }

    func loadKey() throws -> [UInt8]? {
        guard var key = try base.loadKey() else { return nil }
        defer { EntryFormat.wipe(&key) }
        return HMACSHA256.authenticationCode(key: key, message: Array(label.utf8))
    }

    func loadOrCreateKey() throws -> [UInt8] {
        var key = try base.loadOrCreateKey()
        defer { EntryFormat.wipe(&key) }
        return HMACSHA256.authenticationCode(key: key, message: Array(label.utf8))
    }

    /// The derived key lives in the base key; there is nothing of its own to delete.
    func deleteKey() throws {}
}

/// The store's format, version 1, integers big-endian:
///
///     file      = "STSCKEYS" | u8 version=1 | 8-byte key id | u16 record count | record*
///     record    = u16 len + profile | 12-byte nonce | u32 len + (AES-256-GCM ciphertext | 16-byte tag)
///     AAD       = "STSCKEYS" | u8 version | 8-byte key id | u16 len + profile
///     plaintext = u16 len + access key id | u16 len + secret | i64 addedAt | i64 rotatedAt (-1: never)
///                 | u8 rotation (0 none, 1 creating, 2 created, 3 retiring) | rotation fields
///     creating  = i64 startedAt | u16 count | (u16 len + key id)*
///     created   = u16 len + key id | u16 len + secret
///     retiring  = u16 len + key id
///
/// Reading is strict: trailing bytes, a repeated profile, a length past the end, a bad UTF-8
/// string or an unknown rotation kind make the file damaged, never a crash or a guess.
enum AccessKeyFile {
    static let magic: [UInt8] = Array("STSCKEYS".utf8)
    static let version: UInt8 = 1
    static let maximumSize = 1 << 20
    static let maximumProfileBytes = 256

    struct SealedRecord {
        var profile: String
        var nonce: [UInt8]
        var sealed: [UInt8]
    }

    struct Parsed {
        var keyId: [UInt8]
        var records: [SealedRecord]
    }

    static func isValidProfileName(_ profile: String) -> Bool {
        let bytes = Array(profile.utf8)
        return !bytes.isEmpty && bytes.count <= maximumProfileBytes
            && !profile.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    static func associatedData(keyId: [UInt8], profile: String) -> [UInt8] {
        let name = Array(profile.utf8)
        return magic + [version] + keyId + bigEndianBytes(UInt16(name.count)) + name
    }

    static func encode(_ records: [StoredAccessKey], key: [UInt8]) throws -> [UInt8] {
        let keyId = EntryFormat.keyId(of: key)
        guard records.count <= Int(UInt16.max) else { throw AccessKeyStoreError.tooLargeToWrite }
        var out = magic + [version] + keyId + bigEndianBytes(UInt16(records.count))
        for record in records {
            guard isValidProfileName(record.profile) else { throw AccessKeyStoreError.invalidProfileName }
            var plaintext = try plaintext(of: record)
            defer { EntryFormat.wipe(&plaintext) }
            let nonce = try SecureRandom.bytes(count: AES256GCM.nonceCount)
            let sealed = try AES256GCM.seal(plaintext, key: key, nonce: nonce,
                                            authenticating: associatedData(keyId: keyId, profile: record.profile))
            let name = Array(record.profile.utf8)
            out += bigEndianBytes(UInt16(name.count)) + name + nonce
            out += bigEndianBytes(UInt32(sealed.ciphertext.count + sealed.tag.count)) + sealed.ciphertext + sealed.tag
        }
        guard out.count <= maximumSize else { throw AccessKeyStoreError.tooLargeToWrite }
        return out
    }

    private static func plaintext(of record: StoredAccessKey) throws -> [UInt8] {
        func string(_ text: String) throws -> [UInt8] {
            let bytes = Array(text.utf8)
            guard bytes.count <= Int(UInt16.max) else { throw AccessKeyStoreError.tooLargeToWrite }
            return bigEndianBytes(UInt16(bytes.count)) + bytes
        }
        var out = try string(record.accessKeyId) + string(record.secretAccessKey)
        out += bigEndianBytes(EntryFormat.seconds(record.addedAt))
        out += bigEndianBytes(record.rotatedAt.map(EntryFormat.seconds) ?? -1)
        switch record.rotation {
        case nil:
            out.append(0)
        case .creating(let startedAt, let existing)?:
            out.append(1)
            out += bigEndianBytes(EntryFormat.seconds(startedAt)) + bigEndianBytes(UInt16(existing.count))
            for id in existing { out += try string(id) }
        case .created(let id, let secret)?:
            out.append(2)
            out += try string(id) + string(secret)
        case .retiring(let old)?:
            out.append(3)
            out += try string(old)
        }
        return out
    }

    /// The file's structure, nothing decrypted.
    static func parse(_ bytes: [UInt8], path: String) throws(AccessKeyStoreError) -> Parsed {
        func damaged(_ reason: String) -> AccessKeyStoreError { .damaged(path: path, reason: reason) }
        guard bytes.count <= maximumSize else { throw .tooLarge(path: path) }
        var reader = ByteReader(bytes)
        guard reader.take(magic.count) == magic else { throw damaged("not an stscache key store") }
        guard let version = reader.u8() else { throw damaged("cut short") }
        guard version == self.version else { throw damaged("format version \(version), which this stscache does not read") }
        guard let keyId = reader.take(EntryFormat.keyIdCount), let count = reader.u16() else { throw damaged("cut short") }
        var records: [SealedRecord] = []
        var seen: Set<String> = []
        for _ in 0..<Int(count) {
            guard let nameField = reader.string16(), let nonce = reader.take(AES256GCM.nonceCount),
                  let length = reader.u32(), length >= UInt32(AES256GCM.tagCount),
                  let sealed = reader.take(Int(length))
            else { throw damaged("cut short") }
            guard let profile = nameField, isValidProfileName(profile) else { throw damaged("a profile name is not valid text") }
            guard seen.insert(profile).inserted else { throw damaged("profile \"\(profile)\" appears twice") }
            records.append(SealedRecord(profile: profile, nonce: nonce, sealed: sealed))
        }
        guard reader.isAtEnd else { throw damaged("bytes after the last record") }
        return Parsed(keyId: keyId, records: records)
    }

    static func decode(_ bytes: [UInt8], key: [UInt8], path: String) throws(AccessKeyStoreError) -> [StoredAccessKey] {
        let file = try parse(bytes, path: path)
        var records: [StoredAccessKey] = []
        for sealed in file.records { records.append(try open(sealed, file: file, key: key, path: path)) }
        return records
    }

    static func open(_ record: SealedRecord, file: Parsed, key: [UInt8], path: String) throws(AccessKeyStoreError)
        -> StoredAccessKey
    {
        guard key.count == AES256GCM.keyCount, constantTimeEqual(file.keyId, EntryFormat.keyId(of: key)) else {
            throw .otherKey(path: path)
        }
        let split = record.sealed.count - AES256GCM.tagCount
        var plaintext: [UInt8]
        do {
            plaintext = try AES256GCM.open(
                .init(ciphertext: Array(record.sealed[..<split]), tag: Array(record.sealed[split...])),
                key: key, nonce: record.nonce, authenticating: associatedData(keyId: file.keyId, profile: record.profile))
        } catch {
            throw .tampered(path: path, profile: record.profile)
        }
        defer { EntryFormat.wipe(&plaintext) }
        guard let decoded = fields(plaintext, profile: record.profile) else {
            // Authentic but not understood: written by a bug, not an attacker.
            throw .damaged(path: path, reason: "the record for \"\(record.profile)\" is malformed")
        }
        return decoded
    }

    private static func fields(_ plaintext: [UInt8], profile: String) -> StoredAccessKey? {
        var reader = ByteReader(plaintext)
        guard let idField = reader.string16(), let id = idField, let secretField = reader.string16(),
              let secret = secretField, let added = reader.i64(), let rotated = reader.i64(),
              EntryFormat.isStorableTime(added), rotated == -1 || EntryFormat.isStorableTime(rotated),
              let kind = reader.u8()
        else { return nil }
        let rotation: RotationState?
        switch kind {
        case 0:
            rotation = nil
        case 1:
            guard let started = reader.i64(), EntryFormat.isStorableTime(started), let count = reader.u16() else { return nil }
            var existing: [String] = []
            for _ in 0..<Int(count) {
                guard let field = reader.string16(), let value = field else { return nil }
                existing.append(value)
            }
            rotation = .creating(startedAt: Date(timeIntervalSince1970: Double(started)), existingKeyIds: existing)
        case 2:
            guard let idField = reader.string16(), let newId = idField, let secretField = reader.string16(),
                  let newSecret = secretField else { return nil }
            rotation = .created(accessKeyId: newId, secretAccessKey: newSecret)
        case 3:
            guard let field = reader.string16(), let old = field else { return nil }
            rotation = .retiring(oldAccessKeyId: old)
        default:
            return nil
        }
        guard reader.isAtEnd else { return nil }
        return StoredAccessKey(
            profile: profile, accessKeyId: id, secretAccessKey: secret,
            addedAt: Date(timeIntervalSince1970: Double(added)),
            rotatedAt: rotated == -1 ? nil : Date(timeIntervalSince1970: Double(rotated)), rotation: rotation)
    }
}
