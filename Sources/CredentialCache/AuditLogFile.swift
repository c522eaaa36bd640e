#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

/// The audit log's two files in the cache directory, beside the entries: `audit.log`, one JSON
/// line per hand-out (no secrets: the record is made in `Credentials`), and `audit.log.1`, the
/// one rotated generation. Like every cache file they are opened relative to the checked
/// directory descriptor, never through a symbolic link, and only when they are regular files of
/// ours with no group or other bits and one link; `list` ignores them, `purge --all` removes them.
///
/// Appends are one `write(2)` on an `O_APPEND` descriptor, so lines from processes writing at
/// once never interleave (the record is kept under `AuditLogFile.lineLimit`, `PIPE_BUF`).
extension CredentialCache {
    public static let auditLogName = "audit.log"
    public static let rotatedAuditLogName = "audit.log.1"

    /// Why a line was not appended (the hand-out goes on; the caller may warn once).
    public enum AuditWriteFailure: Error, Equatable {
        /// The existing file is not one stscache would have made: the words after its path.
        case refused(path: String, reason: String)
        case failed(path: String, operation: String, errno: Int32)

        public var message: String {
            switch self {
            case .refused(let path, let reason):
                return "audit log \(path) \(reason); nothing was recorded: move it aside (stscache makes a new one, 0600)"
            case .failed(let path, let operation, let errno):
                return "audit log \(path): \(operation) failed (\(String(cString: strerror(errno)))); nothing was recorded"
            }
        }
    }

    /// Appends `line` (one whole record ending in a newline) with one `write`. When the file
    /// would grow past `limit` bytes it is first renamed to `audit.log.1` (replacing the older
    /// generation) under an exclusive `flock` on it, so of several processes that find it full
    /// only one rotates; the others see the rename and append to the new file.
    public func appendAuditLine(_ line: [UInt8], limit: Int = AuditLogFile.defaultLimit) -> AuditWriteFailure? {
        for _ in 0..<3 {
            let fd: Int32
            switch openAuditLog() {
            case .success(let opened): fd = opened
            case .failure(let failure): return failure
            }
            defer { close(fd) }
            guard case .success(let info) = FileSystem.status(of: fd) else {
                return .failed(path: directory.pathOf(Self.auditLogName), operation: "checking", errno: errno)
            }
            if Int(info.st_size) + line.count > limit && info.st_size > 0 {
                rotateAuditLog(fd, info)
                continue
            }
            let failure = line.withUnsafeBytes { bytes -> Int32? in
                while true {
                    let written = Glibc.write(fd, bytes.baseAddress, bytes.count)
                    if written == bytes.count { return nil }
                    if written < 0 && errno == EINTR { continue }
                    return written < 0 ? errno : EIO
                }
            }
            if let failure { return .failed(path: directory.pathOf(Self.auditLogName), operation: "writing", errno: failure) }
            return nil
        }
        return .failed(path: directory.pathOf(Self.auditLogName), operation: "rotating", errno: EAGAIN)
    }

    /// `audit.log` for appending: opened if it is there and safe, else created 0600 (`O_EXCL`,
    /// then `fchmod`, so a umask cannot widen or narrow it).
    private func openAuditLog() -> Result<Int32, AuditWriteFailure> {
        let path = directory.pathOf(Self.auditLogName)
        let flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
        var fd: Int32
        switch FileSystem.open(at: directory.fd, Self.auditLogName, flags) {
        case .success(let opened): fd = opened
        case .failure(let error) where error.code == ENOENT:
            switch FileSystem.open(at: directory.fd, Self.auditLogName, flags | O_CREAT | O_EXCL, mode: 0o600) {
            case .success(let created):
                fd = created
                _ = fchmod(fd, 0o600)
            case .failure(let again) where again.code == EEXIST:
                // Another process created it a moment ago: open theirs (and check it).
                guard case .success(let opened) = FileSystem.open(at: directory.fd, Self.auditLogName, flags) else {
                    return .failure(.failed(path: path, operation: "opening", errno: errno))
                }
                fd = opened
            case .failure(let again):
                return .failure(again.code == ELOOP ? .refused(path: path, reason: "is a symbolic link")
                                    : .failed(path: path, operation: "creating", errno: again.code))
            }
        case .failure(let error):
            if error.code == ELOOP { return .failure(.refused(path: path, reason: "is a symbolic link")) }
            if error.code == ENXIO { return .failure(.refused(path: path, reason: "is not a regular file")) }
            return .failure(.failed(path: path, operation: "opening", errno: error.code))
        }
        guard case .success(let info) = FileSystem.status(of: fd) else {
            close(fd)
            return .failure(.failed(path: path, operation: "checking", errno: errno))
        }
        if let reason = AuditLogFile.refusal(info) {
            close(fd)
            return .failure(.refused(path: path, reason: reason))
        }
        return .success(fd)
    }

    /// Renames the full `audit.log` (open on `fd`) to `audit.log.1`, unless another process did
    /// so first (the name no longer leads to `fd`'s file).
    private func rotateAuditLog(_ fd: Int32, _ info: stat) {
        guard flock(fd, LOCK_EX) == 0 else { return }
        defer { flock(fd, LOCK_UN) }
        var named = stat()
        guard fstatat(directory.fd, Self.auditLogName, &named, AT_SYMLINK_NOFOLLOW) == 0,
              named.st_ino == info.st_ino, named.st_dev == info.st_dev else { return }
        _ = renameat(directory.fd, Self.auditLogName, directory.fd, Self.rotatedAuditLogName)
    }

    /// Removes both generations (`purge --all`: they name profiles and roles). Returns the names
    /// removed; with `dryRun`, the names that would be.
    public func removeAuditLogs(dryRun: Bool = false) throws(CacheError) -> [String] {
        var removed: [String] = []
        for name in [Self.auditLogName, Self.rotatedAuditLogName] {
            var info = stat()
            guard fstatat(directory.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if !dryRun && unlinkat(directory.fd, name, 0) != 0 && errno != ENOENT {
                throw .fileOperationFailed(path: directory.pathOf(name), operation: "removing", errno: errno)
            }
            removed.append(name)
        }
        return removed
    }

    /// Both generations' bytes, older first; a missing, unsafe or unreadable file counts as empty.
    public func readAuditLogs(limit: Int = 2 * AuditLogFile.defaultLimit) -> [UInt8] {
        var bytes: [UInt8] = []
        for name in [Self.rotatedAuditLogName, Self.auditLogName] {
            guard case .success(let opened) = FileSystem.openPrivateFile(at: directory.fd, name) else { continue }
            defer { close(opened.fd) }
            guard AuditLogFile.refusal(opened.info) == nil,
                  case .success(let read) = BoundedRead.toEnd(opened.fd, limit: limit, sizeHint: Int(opened.info.st_size))
            else { continue }
            bytes += read
            if let last = bytes.last, last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        }
        return bytes
    }
}

/// The audit log's limits and its one check.
public enum AuditLogFile {
    /// A generation is rotated before it grows past this (two generations: at most 8 MiB).
    public static let defaultLimit = 4 << 20
    /// The most a record may take: `PIPE_BUF`, the size POSIX promises atomic for pipes (an
    /// `O_APPEND` write to a regular file is atomic on Linux at any size; this keeps the promise
    /// for anything that copies the log through a pipe, and the record small).
    public static let lineLimit = 4096

    /// Why an open audit log is not used: not a regular file, someone else's, reachable by group
    /// or others, or linked elsewhere too. Nil when it is fine.
    public static func refusal(_ info: stat) -> String? {
        if !info.isRegularFile { return "is not a regular file" }
        if UInt32(info.st_uid) != FileSystem.currentUID { return "is owned by uid \(info.st_uid), not by you" }
        if info.permissionBits & 0o077 != 0 { return "has mode \(octal(info.permissionBits)) (group or others can reach it)" }
        if info.st_nlink != 1 { return "has \(info.st_nlink) hard links" }
        return nil
    }
}
