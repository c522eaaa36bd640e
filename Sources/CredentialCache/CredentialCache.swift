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

/// The result of looking up one entry with the key.
public enum CacheLookup: Sendable, Equatable {
    case hit(credentials: CachedCredentials, header: EntryHeader)
    case miss(MissReason)
}

/// One `*.entry` file as `list` shows it: its header, or why it could not be read.
public struct CacheListing: Sendable, Equatable {
    public var stem: String
    public var path: String
    /// Nil when the file is not a readable entry (`problem` says why).
    public var header: EntryHeader?
    public var problem: MissReason?
    /// Whether the header was authenticated with the cache's key (`verify(_:encryptionKey:)`):
    /// until then it is only what the file says, and anyone who can write the directory's
    /// files could have written it.
    public var verified = false
}

/// The encrypted on-disk cache: one entry file per `CacheKey`, written atomically, read into a
/// hit or a miss, plus the per-entry lock that makes refreshes single-flight across processes.
///
/// Files: `<stem>.entry`, `<stem>.lock`, `<stem>.attention` (the agent's mark of a session that
/// needs a person), and `.<stem>.<random>.tmp` while a write is under way;
/// all mode 0600, all opened with `O_NOFOLLOW` relative to the checked directory.
public struct CredentialCache: Sendable {
    /// The wait for a lock another stscache process holds (`STSCACHE_LOCK_TIMEOUT`'s default, for
    /// cache entries and the long-term key store alike): long enough for the holder to finish
    /// one MFA prompt.
    public static let defaultLockTimeout: Double = 120

    public let directory: CacheDirectory

    public init(directory: CacheDirectory) {
        self.directory = directory
    }

    /// Convenience: resolve the path from the environment and open (creating if needed).
    public static func open(environment: [String: String], home: String, create: Bool = true) throws(CacheError)
        -> CredentialCache
    {
        let path = CacheDirectory.resolvePath(environment: environment, home: home)
        return CredentialCache(directory: try CacheDirectory.open(path: path, create: create))
    }

    /// Full path of the key's entry file (for messages).
    public func entryPath(for key: CacheKey) -> String { directory.pathOf(key.entryFileName) }

    /// Full path of the key's lock file (for messages).
    public func lockPath(for key: CacheKey) -> String { directory.pathOf(key.lockFileName) }

    // MARK: Reading

    /// The entry's plaintext header without the key: one open, one read, no crypto. Nil when
    /// there is no entry, it is unreadable, or its header names another request.
    public func readHeader(_ key: CacheKey) -> EntryHeader? {
        guard case .success(let bytes) = readEntryFile(key.entryFileName, mapped: true),
              case .success(let parsed) = EntryFormat.parseHeader(bytes),
              parsed.header.stem == key.stem, parsed.header.roleArn == key.roleArn,
              parsed.header.sessionName == key.sessionName
        else { return nil }
        return parsed.header
    }

    /// Decrypts the key's entry. Any damage, a foreign file, another key or an unknown format
    /// is a `.miss` with its reason; this never throws and never returns another request's
    /// credentials. Whether a hit is still fresh enough is `RefreshPolicy`'s call.
    ///
    /// - Parameter principal: the caller's `PrincipalBinding`; an entry fetched with other source
    ///   keys is a miss (`.differentPrincipal`).
    public func read(_ key: CacheKey, encryptionKey: [UInt8], principal: [UInt8] = PrincipalBinding.unbound)
        -> CacheLookup
    {
        let bytes: [UInt8]
        switch readEntryFile(key.entryFileName) {
        case .success(let read): bytes = read
        case .failure(let reason): return .miss(reason)
        }
        switch EntryFormat.decrypt(bytes, for: key, key: encryptionKey, principal: principal) {
        case .success(let (credentials, header)): return .hit(credentials: credentials, header: header)
        case .failure(let reason): return .miss(reason)
        }
    }

    /// Open with `O_NOFOLLOW | O_NONBLOCK` (a FIFO planted there must not hang us), require a
    /// regular file of at most 64 KiB, read it whole.
    ///
    /// `mapped`: copy it out of a private mapping instead of `read(2)`. Only reads report
    /// `IN_ACCESS` to inotify, and the caching agent counts an entry as used when one does: so
    /// the readers that hand credentials out (`read`) use `read(2)`, and the ones that only look
    /// at headers (`prompt`, `list`, `purge`, the agent itself) map the file and do not count.
    private func readEntryFile(_ name: String, mapped: Bool = false) -> Result<[UInt8], MissReason> {
        let fd: Int32
        switch FileSystem.open(at: directory.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.code == ENOENT { return .failure(.absent) }
            if error.code == ELOOP { return .failure(.unreadable("symbolic link")) }
            return .failure(.unreadable(errorText(error.code)))
        }
        defer { close(fd) }
        guard case .success(let info) = FileSystem.status(of: fd) else { return .failure(.unreadable("fstat")) }
        guard info.isRegularFile else { return .failure(.unreadable("not a regular file")) }
        guard info.st_size <= EntryFormat.maximumSize else { return .failure(.tooLarge) }
        if mapped { return Self.copyMapped(fd, size: Int(info.st_size)) }
        switch BoundedRead.toEnd(fd, limit: EntryFormat.maximumSize, sizeHint: Int(info.st_size)) {
        case .success(let bytes): return .success(bytes)
        case .failure(.tooLarge): return .failure(.tooLarge)
        case .failure(let failure): return .failure(.unreadable(failure.reason))
        }
    }

    /// The file's bytes through a private read-only mapping. Entries are replaced by rename,
    /// never truncated in place, so the mapping cannot lose its pages under us.
    private static func copyMapped(_ fd: Int32, size: Int) -> Result<[UInt8], MissReason> {
        guard size > 0 else { return .success([]) }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            return .failure(.unreadable("mmap: " + errorText(errno)))
        }
        defer { munmap(mapping, size) }
        return .success(Array(UnsafeRawBufferPointer(start: mapping, count: size)))
    }

    // MARK: Writing

    /// Encrypts and stores the credentials under a fresh random nonce, replacing any previous
    /// entry atomically (temp file + fsync + rename + directory fsync; never truncated in place).
    ///
    /// - Parameter issuedAt: now, from the caller's clock (recorded to size the refresh window).
    public func write(_ credentials: CachedCredentials, for key: CacheKey, issuedAt: Date,
                      encryptionKey: [UInt8], principal: [UInt8] = PrincipalBinding.unbound) throws(CacheError) {
        let path = entryPath(for: key)
        guard encryptionKey.count == AES256GCM.keyCount else {
            throw .fileOperationFailed(path: path, operation: "encrypting (key is not 32 bytes)", errno: EINVAL)
        }
        let bytes: [UInt8]
        do {
            let nonce = try SecureRandom.bytes(count: AES256GCM.nonceCount)
            bytes = try EntryFormat.encode(credentials, for: key, issuedAt: issuedAt, key: encryptionKey, nonce: nonce,
                                           principal: principal)
        } catch EntryFormat.EncodeFailure.tooLarge {
            throw .entryTooLarge(path: path)
        } catch is EntryFormat.EncodeFailure {
            throw .fileOperationFailed(path: path, operation: "encoding (a time outside 1970-9999)", errno: EINVAL)
        } catch {
            throw .randomUnavailable
        }
        let finalName = key.entryFileName
        let fd = directory.fd
        do {
            try FileSystem.writeAtomically(
                directory: fd, directoryPath: directory.path, finalName: finalName, temporaryStem: key.stem,
                bytes: bytes
            ) { temporaryName in
                renameat(fd, temporaryName, fd, finalName) == 0 ? .success(()) : .failure(Errno(errno))
            }
        } catch {
            throw CacheError(error)
        }
        removeAbandonedTemporaryFiles(comparedTo: finalName)
    }

    /// Temp files older than this (seconds) belong to no live writer: a write takes milliseconds.
    static let abandonedTemporaryAge = 600

    /// Removes temp files (`.<stem>.<random>.tmp`, ours, regular) that a writer killed with
    /// SIGKILL — or by a power cut — left between creating and renaming them, once they are older
    /// than `abandonedTemporaryAge`. Ages are measured against the modification time of
    /// `reference`, a file just written, so they come from the file system's clock (the same one
    /// that stamped the temp files) rather than from a clock that may be skewed or faked.
    /// Best effort: nothing here can fail the write.
    func removeAbandonedTemporaryFiles(comparedTo reference: String) {
        var now = stat()
        guard fstatat(directory.fd, reference, &now, AT_SYMLINK_NOFOLLOW) == 0,
              let names = try? directory.fileNames()
        else { return }
        for name in names where isTemporaryName(name) {
            var info = stat()
            guard fstatat(directory.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.isRegularFile,
                  info.st_uid == FileSystem.currentUID,
                  now.modificationSeconds - info.modificationSeconds > Self.abandonedTemporaryAge
            else { continue }
            unlinkat(directory.fd, name, 0)
        }
    }

    // MARK: Locking

    /// Runs `body` holding an exclusive `flock` on `<stem>.lock`, so one process refreshes a
    /// role while the others wait and then find the fresh entry (re-read it inside `body`).
    ///
    /// Waits at most `timeout` seconds (polling, 5 ms growing to 50 ms), then throws
    /// `CacheError.lockTimeout`. The kernel drops the lock when its holder exits or is killed,
    /// so a crashed process never wedges the others. The lock file is kept: deleting it while
    /// others wait on it would split them across two inodes.
    public func withEntryLock<T>(_ key: CacheKey, timeout: Double, _ body: () throws -> T) throws -> T {
        try withEntryLock(stem: key.stem, roleArn: key.roleArn, timeout: timeout, body)
    }

    /// The same lock, named by the entry's stem: for `purge`, which finds entries in the
    /// directory listing and may not have the settings to rebuild their key.
    public func withEntryLock<T>(stem: String, roleArn: String, timeout: Double, _ body: () throws -> T) throws -> T {
        try withEntryLock(stem: stem, roleArn: roleArn, timeout: timeout, whileWaiting: { nil }, body)
    }

    /// `withEntryLock`, for callers who can be answered without the lock: while another process
    /// holds it, `whileWaiting` runs after every change to the directory (an entry renamed into
    /// place) and after every poll interval, and the first non-nil value it returns is the
    /// result, without `body` and without taking the lock.
    ///
    /// That is the single-flight wait of N processes that all missed: one calls STS, the rest
    /// sleep on inotify (Linux) instead of a timer, wake when its entry lands, and read it in
    /// parallel instead of queueing one by one on the exclusive lock.
    public func withEntryLock<T>(_ key: CacheKey, timeout: Double, whileWaiting: () -> T?,
                                 _ body: () throws -> T) throws -> T {
        try withEntryLock(stem: key.stem, roleArn: key.roleArn, timeout: timeout, whileWaiting: whileWaiting, body)
    }

    func withEntryLock<T>(stem: String, roleArn: String, timeout: Double, whileWaiting: () -> T?,
                          _ body: () throws -> T) throws -> T {
        guard isStem(stem) else { throw CacheError.fileOperationFailed(path: directory.pathOf(stem), operation: "locking", errno: EINVAL) }
        switch try acquireLock(stem: stem, roleArn: roleArn, timeout: timeout, whileWaiting: whileWaiting) {
        case .answered(let value):
            return value
        case .acquired(let fd):
            defer {
                flock(fd, LOCK_UN)
                close(fd)
            }
            return try body()
        }
    }

    enum LockOutcome<T> {
        case acquired(Int32)
        case answered(T)
    }

    func acquireLock(stem: String, roleArn: String, timeout: Double) throws(CacheError) -> Int32 {
        switch try acquireLock(stem: stem, roleArn: roleArn, timeout: timeout, whileWaiting: { () -> Never? in nil }) {
        case .acquired(let fd): return fd
        }
    }

    func acquireLock<T>(stem: String, roleArn: String, timeout: Double,
                        whileWaiting: () -> T?) throws(CacheError) -> LockOutcome<T> {
        let lockFileName = stem + ".lock"
        let path = directory.pathOf(lockFileName)
        let fd: Int32
        switch FileSystem.open(at: directory.fd, lockFileName, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let error): throw .fileOperationFailed(path: path, operation: "opening lock file", errno: error.code)
        }
        let deadline = monotonicSeconds() + max(0, timeout)
        var pause = 0.005
        var changes: DirectoryChanges?
        defer { changes?.close() }
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return .acquired(fd) }
            let code = errno
            if code != EWOULDBLOCK && code != EINTR {
                close(fd)
                throw .fileOperationFailed(path: path, operation: "locking", errno: code)
            }
            // Watch before looking, so an entry renamed in between still wakes us.
            if changes == nil { changes = DirectoryChanges(watching: directory.path) }
            if let answer = whileWaiting() {
                close(fd)
                return .answered(answer)
            }
            let remaining = deadline - monotonicSeconds()
            if remaining <= 0 {
                close(fd)
                throw .lockTimeout(roleArn: roleArn, path: path, seconds: timeout)
            }
            if let changes {
                changes.wait(seconds: min(pause, remaining))
            } else {
                sleepSeconds(min(pause, remaining))
            }
            pause = min(pause * 2, 0.05)
        }
    }

    // MARK: Listing and purging

    /// Every `<stem>.entry` in the directory with its header (or why it is unreadable), sorted by
    /// role ARN then session name, unreadable ones last. Other files are ignored.
    public func list() throws(CacheError) -> [CacheListing] {
        var listings: [CacheListing] = []
        for name in try directory.fileNames() where name.hasSuffix(".entry") {
            let stem = String(name.dropLast(".entry".count))
            guard isStem(stem) else { continue }
            var listing = CacheListing(stem: stem, path: directory.pathOf(name), header: nil, problem: nil)
            switch readEntryFile(name, mapped: true).flatMap({ EntryFormat.parseHeader($0).map(\.header) }) {
            case .success(let header) where header.stem == stem: listing.header = header
            case .success: listing.problem = .differentRequest
            case .failure(let reason): listing.problem = reason
            }
            listings.append(listing)
        }
        return listings.sorted { a, b in
            switch (a.header, b.header) {
            case let (x?, y?):
                return (x.roleArn, x.sessionName, a.stem) < (y.roleArn, y.sessionName, b.stem)
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a.stem < b.stem
            }
        }
    }

    /// The listing with its header authenticated under `encryptionKey`: `verified` when the tag
    /// holds, otherwise the header is dropped and `problem` says why (a forged or foreign file).
    public func verify(_ listing: CacheListing, encryptionKey: [UInt8]) -> CacheListing {
        guard listing.header != nil else { return listing }
        var checked = listing
        switch readEntryFile(listing.stem + ".entry", mapped: true).flatMap({ EntryFormat.authenticate($0, key: encryptionKey) }) {
        case .success(let header) where header.stem == listing.stem && header == listing.header:
            checked.verified = true
        case .success:
            checked.header = nil
            checked.problem = .differentRequest
        case .failure(let reason):
            checked.header = nil
            checked.problem = reason
        }
        return checked
    }

    /// Removes one entry (not its lock file). Returns whether an entry existed.
    @discardableResult
    public func remove(stem: String) throws(CacheError) -> Bool {
        guard isStem(stem) else { return false }
        // The lock file stays: deleting it while another process waits on it would let a third
        // one lock a new inode and refresh alongside the waiter.
        clearAttention(stem: stem)
        return try unlink(stem + ".entry")
    }

    @discardableResult
    public func remove(_ key: CacheKey) throws(CacheError) -> Bool {
        try remove(stem: key.stem)
    }

    /// Removes every entry, lock and leftover temp file stscache made; leaves other files and
    /// the directory itself. Returns the number of entries removed.
    @discardableResult
    public func removeAll() throws(CacheError) -> Int {
        var removed = 0
        for name in try directory.fileNames() {
            if name.hasSuffix(".entry"), isStem(name.dropLast(".entry".count)) {
                if try unlink(name) { removed += 1 }
            } else if name.hasSuffix(".lock"), isStem(name.dropLast(".lock".count)) {
                _ = try unlink(name)
            } else if name.hasSuffix(Self.attentionSuffix), isStem(name.dropLast(Self.attentionSuffix.count)) {
                _ = try unlink(name)
            } else if isTemporaryName(name) {
                _ = try unlink(name)
            }
        }
        _ = FileSystem.sync(directory.fd)
        return removed
    }

    private func unlink(_ name: String) throws(CacheError) -> Bool {
        if unlinkat(directory.fd, name, 0) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw .fileOperationFailed(path: directory.pathOf(name), operation: "removing", errno: code)
    }
}

/// `.<stem>.<16 hex>.tmp`, or `.agent.<16 hex>.tmp` (the agent's state file on its way in)
func isTemporaryName(_ name: String) -> Bool {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    return name.hasPrefix(".") && parts.count == 4 && parts[0].isEmpty && (isStem(parts[1]) || parts[1] == "agent")
        && parts[2].utf8.count == 16 && parts[3] == "tmp"
}

/// Wakes a waiter when a file is renamed into a directory (entries only ever arrive so): inotify
/// on Linux, nil elsewhere (the waiter then sleeps its poll interval). Only a hint: whoever wakes
/// re-checks the directory through its descriptor, so a path swapped under us costs a late
/// wake-up, never a wrong answer.
struct DirectoryChanges {
    private let fd: Int32

    init?(watching path: String) {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        guard inotify_add_watch(fd, path, UInt32(IN_MOVED_TO)) >= 0 else {
            Glibc.close(fd)
            return nil
        }
        self.fd = fd
        #else
        return nil
        #endif
    }

    /// Returns when the directory changed or after `seconds`, whichever comes first.
    func wait(seconds: Double) {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, Int32(max(1, (seconds * 1000).rounded(.up))))
        // Drain what arrived; the caller re-checks the directory itself.
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    func close() {
        #if os(Linux)
        Glibc.close(fd)
        #endif
    }
}
