#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, errno-returning wrappers over the few file system calls stscache makes, and the one
/// atomic file writer (cache entries, the key file; the token and config files to come). A
/// failure is the errno, so callers turn it into their own error naming their own path.
package enum FileSystem {
    package static var currentUID: UInt32 { UInt32(geteuid()) }

    /// openat(2), retried on EINTR, always close-on-exec.
    package static func open(at directory: Int32, _ name: String, _ flags: Int32, mode: mode_t = 0) -> Result<Int32, Errno> {
        while true {
            let fd = openat(directory, name, flags | O_CLOEXEC, mode)
            if fd >= 0 { return .success(fd) }
            if errno != EINTR { return .failure(Errno(errno)) }
        }
    }

    package static func status(of fd: Int32) -> Result<stat, Errno> {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(Errno(errno)) }
        return .success(info)
    }

    package static func linkStatus(_ path: String) -> Result<stat, Errno> {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .failure(Errno(errno)) }
        return .success(info)
    }

    /// write(2) until done, resumed after a signal.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Errno? {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return Errno(errno)
            }
            offset += n
        }
        return nil
    }

    package static func sync(_ fd: Int32) -> Errno? {
        while fsync(fd) != 0 {
            if errno != EINTR { return Errno(errno) }
        }
        return nil
    }

    /// A failed step of `writeAtomically`: what was being done to which file, and the errno.
    package struct WriteFailure: Error, Equatable {
        package var path: String
        package var operation: String
        package var errno: Int32
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
    package static func writeAtomically<T>(
        directory: Int32, directoryPath: String, finalName: String, temporaryStem: String, bytes: [UInt8],
        install: (_ temporaryName: String) -> Result<T, Errno>
    ) throws(WriteFailure) -> T {
        try deferringTerminationSignals { () throws(WriteFailure) -> T in
            try writeAtomicallyNow(directory: directory, directoryPath: directoryPath, finalName: finalName,
                                   temporaryStem: temporaryStem, bytes: bytes, install: install)
        }
    }

    /// Creates `directory/name` holding `bytes` (0600) unless the name is taken: a finished temp
    /// file is linked onto it, so the file is never seen half-written and, of writers racing for
    /// the name, the first wins. False when the name exists (the temp file is removed either way).
    package static func createExclusively(directory: Int32, directoryPath: String, name: String,
                                          bytes: [UInt8]) throws(WriteFailure) -> Bool {
        try writeAtomically(
            directory: directory, directoryPath: directoryPath, finalName: name, temporaryStem: name, bytes: bytes
        ) { temporaryName -> Result<Bool, Errno> in
            let linked = linkat(directory, temporaryName, directory, name, 0) == 0
            let code = errno
            unlinkat(directory, temporaryName, 0)
            if linked { return .success(true) }
            return code == EEXIST ? .success(false) : .failure(Errno(code))
        }
    }

    /// The names in the open directory `fd` (no `.` or `..`), read through a duplicate
    /// descriptor so `fd` stays usable.
    package static func entryNames(of fd: Int32) -> Result<[String], Errno> {
        let copy = dup(fd)
        guard copy >= 0 else { return .failure(Errno(errno)) }
        guard let stream = fdopendir(copy) else {
            let code = errno
            close(copy)
            return .failure(Errno(code))
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// Why `openPrivateFile` gave no descriptor.
    package enum PrivateFileFailure: Error, Equatable {
        case missing
        /// What is wrong, as the words after the path: "is a symbolic link".
        case insecure(reason: String)
        case failed(operation: String, errno: Int32)
    }

    /// Opens `name` in `directory` for reading a file only its owner may see (the cache key, the
    /// key store): never through a symbolic link (`O_NOFOLLOW`: ELOOP), never hanging on a FIFO
    /// (`O_NONBLOCK`), and only a regular file of ours with no group or other bits: anything else
    /// could be someone else's planted or readable copy. The caller closes the descriptor.
    package static func openPrivateFile(at directory: Int32, _ name: String) -> Result<(fd: Int32, info: stat), PrivateFileFailure> {
        let fd: Int32
        switch open(at: directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.code == ENOENT { return .failure(.missing) }
            if error.code == ELOOP { return .failure(.insecure(reason: "is a symbolic link")) }
            return .failure(.failed(operation: "opening", errno: error.code))
        }
        let reason: String
        switch status(of: fd) {
        case .failure(let error):
            close(fd)
            return .failure(.failed(operation: "checking", errno: error.code))
        case .success(let info):
            if !info.isRegularFile {
                reason = "is not a regular file"
            } else if UInt32(info.st_uid) != currentUID {
                reason = "is owned by uid \(info.st_uid), not by you"
            } else if info.permissionBits & 0o077 != 0 {
                reason = "has mode \(octal(info.permissionBits)) (group or others can reach it)"
            } else {
                return .success((fd, info))
            }
        }
        close(fd)
        return .failure(.insecure(reason: reason))
    }

    /// True when `gid` is the user's private group (Debian's and Fedora's user private groups):
    /// the user's primary group, named as the user, with no other member. Under the umask of 002
    /// those systems give users, the AWS CLI's `os.makedirs` makes its cache directory 0775;
    /// group write then lets in nobody but the user (the rule of Debian's OpenSSH for ~/.ssh).
    package static func isUserPrivateGroup(_ gid: UInt32) -> Bool {
        var capacity = 16 * 1024
        while capacity <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: capacity)
            // Both entries' strings live in `buffer`, so everything is read inside this closure.
            let answer = buffer.withUnsafeMutableBufferPointer { raw -> Bool? in
                let half = capacity / 2
                var user = passwd()
                var userFound: UnsafeMutablePointer<passwd>?
                var entry = group()
                var entryFound: UnsafeMutablePointer<group>?
                let userResult = getpwuid_r(geteuid(), &user, raw.baseAddress!, half, &userFound)
                let groupResult = getgrgid_r(gid_t(gid), &entry, raw.baseAddress! + half, half, &entryFound)
                if userResult == ERANGE || groupResult == ERANGE { return nil }
                guard userResult == 0, groupResult == 0, userFound != nil, entryFound != nil, UInt32(user.pw_gid) == gid,
                      let userName = user.pw_name, let groupName = entry.gr_name, strcmp(userName, groupName) == 0,
                      var member = entry.gr_mem else { return false }
                while let name = member.pointee {
                    if strcmp(name, userName) != 0 { return false }
                    member += 1
                }
                return true
            }
            if let answer { return answer }
            capacity *= 4
        }
        return false
    }

    /// The signals that ask a process to stop (terminal keys, `kill`, a closed terminal).
    package static let terminationSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Runs `body` with the termination signals blocked for this thread; one that arrives
    /// meanwhile stays pending and is delivered — with its usual effect, normally the end of
    /// the process — as soon as `body` returns. The write it guards takes milliseconds.
    package static func deferringTerminationSignals<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
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
    ) throws(WriteFailure) -> T {
        // Unguessable (the system generator is getrandom(2)); O_EXCL makes it safe regardless.
        let token = String(UInt64.random(in: .min ... .max), radix: 16)
        let temporaryName = "." + temporaryStem + "." + String(repeating: "0", count: 16 - token.count) + token + ".tmp"
        let temporaryPath = directoryPath + "/" + temporaryName
        let fd: Int32
        switch open(at: directory, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600) {
        case .success(let opened): fd = opened
        case .failure(let error):
            throw WriteFailure(path: temporaryPath, operation: "creating", errno: error.code)
        }
        var installed = false
        defer {
            if !installed { unlinkat(directory, temporaryName, 0) }
        }
        // The umask can only clear bits; make the mode exactly 0600 even under a strange umask.
        if fchmod(fd, 0o600) != 0 {
            let code = errno
            close(fd)
            throw WriteFailure(path: temporaryPath, operation: "chmod", errno: code)
        }
        if let error = bytes.withUnsafeBytes({ writeAll(fd, $0) }) ?? sync(fd) {
            close(fd)
            throw WriteFailure(path: temporaryPath, operation: "writing", errno: error.code)
        }
        close(fd)
        let result: T
        switch install(temporaryName) {
        case .success(let value): result = value
        case .failure(let error):
            throw WriteFailure(path: directoryPath + "/" + finalName, operation: "replacing", errno: error.code)
        }
        installed = true
        // The new name must survive a crash too; a failed directory fsync loses nothing but durability.
        _ = sync(directory)
        return result
    }
}

package struct Errno: Error, Equatable {
    package var code: Int32
    package init(_ code: Int32) { self.code = code }
}


/// `0755`-style rendering of permission bits, for messages.
package func octal(_ mode: UInt32) -> String {
    let digits = String(mode & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

extension stat {
    package var permissionBits: UInt32 { UInt32(st_mode) & 0o7777 }
    /// Last modification, whole seconds since the epoch.
    package var modificationSeconds: Int {
        #if canImport(Darwin)
        return Int(st_mtimespec.tv_sec)
        #else
        return Int(st_mtim.tv_sec)
        #endif
    }
    package var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    package var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }
    package var isSymlink: Bool { (st_mode & S_IFMT) == S_IFLNK }
}
