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
    /// SIGINT, SIGTERM, SIGHUP and SIGQUIT are held while the temp file exists (see
    /// `deferringTerminationSignals`), so Ctrl-C or a `kill` mid-write takes effect once the
    /// file is renamed or removed, never leaving it behind. (SIGKILL cannot be held: a writer
    /// killed that way leaves the temp file, which a later write clears — see
    /// `CredentialCache.removeAbandonedTemporaryFiles`; the entry itself is never half-written.)
    ///
    /// - Returns: what `install` returned (e.g. whether a link found the name taken).
    static func writeAtomically<T>(
        directory: Int32, directoryPath: String, finalName: String, temporaryStem: String, bytes: [UInt8],
        install: (_ temporaryName: String) -> Result<T, Errno>
    ) throws(CacheError) -> T {
        try deferringTerminationSignals { () throws(CacheError) -> T in
            try writeAtomicallyNow(directory: directory, directoryPath: directoryPath, finalName: finalName,
                                   temporaryStem: temporaryStem, bytes: bytes, install: install)
        }
    }

    /// The signals that ask a process to stop (terminal keys, `kill`, a closed terminal).
    static let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Runs `body` with the termination signals blocked for this thread; one that arrives
    /// meanwhile stays pending and is delivered — with its usual effect, normally the end of
    /// the process — as soon as `body` returns. The write it guards takes milliseconds.
    static func deferringTerminationSignals<T>(_ body: () throws(CacheError) -> T) throws(CacheError) -> T {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in terminationSignals { sigaddset(&blocked, signal) }
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    private static func writeAtomicallyNow<T>(
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


extension stat {
    var permissionBits: UInt32 { UInt32(st_mode) & 0o7777 }
    /// Last modification, whole seconds since the epoch.
    var modificationSeconds: Int {
        #if canImport(Darwin)
        return Int(st_mtimespec.tv_sec)
        #else
        return Int(st_mtim.tv_sec)
        #endif
    }
    var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }
    var isSymlink: Bool { (st_mode & S_IFMT) == S_IFLNK }
}
