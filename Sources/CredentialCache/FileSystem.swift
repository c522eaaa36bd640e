#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OpenSSLCrypto

/// Thin, errno-returning wrappers over the few syscalls the cache uses. A failure is the errno
/// (`Int32`), so callers turn it into a `CacheError` naming their own path.
enum FileSystem {
    static var currentUID: UInt32 { UInt32(geteuid()) }

    /// openat(2), retried on EINTR, always close-on-exec.
    static func open(at directory: Int32, _ name: String, _ flags: Int32, mode: mode_t = 0) -> Result<Int32, Errno> {
        while true {
            let fd = openat(directory, name, flags | O_CLOEXEC, mode)
            if fd >= 0 { return .success(fd) }
            if errno != EINTR { return .failure(Errno(errno)) }
        }
    }

    static func status(of fd: Int32) -> Result<stat, Errno> {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(Errno(errno)) }
        return .success(info)
    }

    static func linkStatus(_ path: String) -> Result<stat, Errno> {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .failure(Errno(errno)) }
        return .success(info)
    }

    /// Reads to end of file, refusing anything larger than `limit` bytes.
    static func readAll(_ fd: Int32, limit: Int) -> Result<[UInt8], ReadFailure> {
        var buffer = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total <= limit {
            let n = buffer.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress! + total, raw.count - total)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.io(Errno(errno)))
            }
            if n == 0 { break }
            total += n
        }
        if total > limit { return .failure(.tooLarge) }
        buffer.removeLast(buffer.count - total)
        return .success(buffer)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Errno? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return Errno(errno)
            }
            offset += n
        }
        return nil
    }

    static func sync(_ fd: Int32) -> Errno? {
        while fsync(fd) != 0 {
            if errno != EINTR { return Errno(errno) }
        }
        return nil
    }

    /// A random, unguessable component for temporary file names.
    static func randomToken() throws(CacheError) -> String {
        do {
            return Hex.encode(try SecureRandom.bytes(count: 8))
        } catch {
            throw .randomUnavailable
        }
    }

    /// Writes `bytes` to `directory/finalName` without ever exposing a partial file: an
    /// `O_EXCL` temp file `.<temporaryStem>.<random>.tmp` (mode 0600) in the same directory,
    /// fsync, then `install` (rename or link), then fsync of the directory. The temp file is
    /// removed on every failure path; an `install` that succeeds owns it from then on.
    ///
    /// - Returns: what `install` returned (e.g. whether a link found the name taken).
    static func writeAtomically<T>(
        directory: Int32, directoryPath: String, finalName: String, temporaryStem: String, bytes: [UInt8],
        install: (_ temporaryName: String) -> Result<T, Errno>
    ) throws(CacheError) -> T {
        let temporaryName = "." + temporaryStem + "." + (try randomToken()) + ".tmp"
        let temporaryPath = directoryPath + "/" + temporaryName
        let fd: Int32
        switch open(at: directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let error):
            throw .fileOperationFailed(path: temporaryPath, operation: "creating", errno: error.code)
        }
        var installed = false
        defer {
            if !installed { unlinkat(directory, temporaryName, 0) }
        }
        // The umask can only clear bits; make the mode exactly 0600 even under a strange umask.
        if fchmod(fd, 0o600) != 0 {
            let code = errno
            close(fd)
            throw .fileOperationFailed(path: temporaryPath, operation: "chmod", errno: code)
        }
        if let error = writeAll(fd, bytes) ?? sync(fd) {
            close(fd)
            throw .fileOperationFailed(path: temporaryPath, operation: "writing", errno: error.code)
        }
        close(fd)
        let result: T
        switch install(temporaryName) {
        case .success(let value): result = value
        case .failure(let error):
            throw .fileOperationFailed(path: directoryPath + "/" + finalName, operation: "replacing", errno: error.code)
        }
        installed = true
        // The new name must survive a crash too; a failed directory fsync loses nothing but durability.
        _ = sync(directory)
        return result
    }
}

struct Errno: Error, Equatable {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}

enum ReadFailure: Error, Equatable {
    case io(Errno)
    case tooLarge
}

extension stat {
    var permissionBits: UInt32 { UInt32(st_mode) & 0o7777 }
    var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }
    var isSymlink: Bool { (st_mode & S_IFMT) == S_IFLNK }
}
