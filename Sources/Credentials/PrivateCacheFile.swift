#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import StscacheSupport

/// The one reader of the bearer secrets the AWS CLI caches for the user (Identity Center tokens
/// and client registrations in `~/.aws/sso/cache`, `aws login` sessions in `~/.aws/login/cache`).
/// What such a file holds decides whose credentials are used, so a file someone else could have
/// written is never sent, and one others could read is not trusted either: the key store's owner
/// and mode checks, under the link rule of the writer of the user's AWS files (`AWSFileWriter`),
/// so reading and writing follow one policy.
///
/// - The cache directory (links followed), and the directory a linked file really is in: yours,
///   and nobody else can add or swap files in it. The CLI makes it with `os.makedirs` (0755 or
///   0700 by umask); the 0775 a umask of 002 gives is accepted when the group is your private
///   group (`FileSystem.isUserPrivateGroup`).
/// - The file: a regular file you own with no group or other bits (the CLI and stscache write
///   0600), or a symbolic link (or a chain) to one, as the writer follows on write.
///
/// Anything else is refused before a byte is sent, naming the file and the fix. Reads are
/// bounded (`Described.sizeLimit`) and never block on a FIFO.
package enum PrivateCacheFile {
    /// What the file is, for messages, and how much of it may be read.
    package struct Described: Sendable {
        /// "the Identity Center token file"
        package var what: String
        /// "the Identity Center token cache"
        package var cacheName: String
        /// The command that writes the file afresh (named in fixes).
        package var login: String
        package var sizeLimit: Int

        package init(what: String, cacheName: String, login: String, sizeLimit: Int) {
            (self.what, self.cacheName, self.login, self.sizeLimit) = (what, cacheName, login, sizeLimit)
        }
    }

    /// Why the file was not read: the policy refused it, or it could not be read.
    package struct Refusal: Error, Equatable {
        package enum Kind: Sendable { case insecure, unreadable }
        package var kind: Kind
        /// One sentence naming the file and the fix.
        package var message: String

        init(_ kind: Kind, _ message: String) {
            self.kind = kind
            self.message = message
        }
    }

    /// A file read under the policy, and which file that was (a refresh's snapshot must be of
    /// the same one).
    package struct Checked {
        package var bytes: [UInt8]
        /// Where the path leads (the path itself unless it is a link).
        package var realPath: String
        package var device: UInt64
        package var inode: UInt64

        /// Whether the writer's `snapshot` is of this same file, still the user's and private:
        /// a refresh rewrites only the file the policy accepted.
        package func isSameFile(as snapshot: AWSFileWriter.Snapshot) -> Bool {
            snapshot.realPath == realPath && snapshot.identity.device == device && snapshot.identity.inode == inode
                && snapshot.identity.owner == FileSystem.currentUID && snapshot.identity.mode & 0o077 == 0
        }
    }

    /// The file `name` in `directory` when the policy accepts it; nil when there is none.
    package static func read(directory: String, name: String, _ described: Described) throws(Refusal) -> Checked? {
        let path = directory + "/" + name
        let refusal = Refuser(described: described, path: path)
        let cache: Int32
        switch FileSystem.open(at: AT_FDCWD, directory, O_RDONLY | O_DIRECTORY) {
        case .success(let fd): cache = fd
        case .failure(let error) where error.code == ENOENT: return nil
        case .failure(let error) where error.code == ENOTDIR:
            throw refusal.directory(directory, "is not a directory", chmod: false)
        case .failure(let error): throw refusal.unreadable(directory, error.code)
        }
        defer { close(cache) }
        try refusal.check(directory: cache, directory)

        var entry = stat()
        guard fstatat(cache, name, &entry, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw refusal.unreadable(path, errno)
        }
        // A link: the file it leads to, in a directory that must pass the same check.
        var parent = cache
        defer { if parent != cache { close(parent) } }
        var base = name
        var realPath = path
        if entry.isSymlink {
            guard let resolved = realpath(path, nil) else {
                if errno == ENOENT || errno == ENOTDIR { throw refusal.file(realPath: nil, "is a symbolic link to nothing") }
                throw refusal.unreadable(path, errno)
            }
            realPath = String(cString: resolved)
            free(resolved)
            let slash = realPath.lastIndex(of: "/")!
            let realDirectory = slash == realPath.startIndex ? "/" : String(realPath[..<slash])
            base = String(realPath[realPath.index(after: slash)...])
            switch FileSystem.open(at: AT_FDCWD, realDirectory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
            case .success(let fd): parent = fd
            case .failure(let error): throw refusal.unreadable(realDirectory, error.code)
            }
            try refusal.check(directory: parent, realDirectory, linkTarget: true)
        }

        let fd: Int32
        switch FileSystem.open(at: parent, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) {
        case .success(let opened): fd = opened
        case .failure(let error) where error.code == ENOENT: return nil
        case .failure(let error) where error.code == ELOOP:
            throw refusal.file(realPath: entry.isSymlink ? realPath : nil, "became a symbolic link while stscache read it")
        case .failure(let error): throw refusal.unreadable(realPath, error.code)
        }
        defer { close(fd) }
        let info: stat
        switch FileSystem.status(of: fd) {
        case .success(let status): info = status
        case .failure(let error): throw refusal.unreadable(realPath, error.code)
        }
        try refusal.check(file: info, realPath: entry.isSymlink ? realPath : nil)
        switch BoundedRead.toEnd(fd, limit: described.sizeLimit, sizeHint: Int(info.st_size)) {
        case .success(let bytes):
            return Checked(bytes: bytes, realPath: realPath, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        case .failure(let failure):
            throw Refusal(.unreadable, "cannot read \(described.what) \(path): \(failure.reason).")
        }
    }

    /// The policy's refusals: the file or directory, what is wrong, and what to run.
    private struct Refuser {
        var described: Described
        var path: String
        var login: String { described.login }

        /// "it was not used": nothing in the cache was, and nothing went to the service.
        private static let outcome = "it was not used and nothing was sent"

        /// A directory that is not the user's, or that others can add files to. `linkTarget`: the
        /// directory a linked file really is in, not the cache itself.
        func check(directory fd: Int32, _ directory: String, linkTarget: Bool = false) throws(Refusal) {
            let info: stat
            switch FileSystem.status(of: fd) {
            case .success(let status): info = status
            case .failure(let error): throw unreadable(directory, error.code)
            }
            if UInt32(info.st_uid) != FileSystem.currentUID {
                throw self.directory(directory, linkTarget: linkTarget,
                                     "is owned by uid \(info.st_uid), not by you (uid \(FileSystem.currentUID))", chmod: false)
            }
            let mode = info.permissionBits
            if mode & 0o002 != 0 || (mode & 0o020 != 0 && !FileSystem.isUserPrivateGroup(UInt32(info.st_gid))) {
                throw self.directory(directory, linkTarget: linkTarget, "has mode \(octal(mode)) (others can put files in it)",
                                     chmod: true)
            }
        }

        /// Not a regular file of the user's with no group or other bits.
        func check(file info: stat, realPath: String?) throws(Refusal) {
            if !info.isRegularFile { throw file(realPath: realPath, "is not a regular file") }
            if UInt32(info.st_uid) != FileSystem.currentUID {
                throw file(realPath: realPath, "is owned by uid \(info.st_uid), not by you (uid \(FileSystem.currentUID))")
            }
            let mode = info.permissionBits
            let chmod = "chmod 600 \(ShellQuote.word(realPath ?? path))"
            if mode & 0o022 != 0 {
                // Its token may be someone else's: only the user knows whether a chmod is enough.
                throw file(realPath: realPath, "has mode \(octal(mode)) (group or others can write it)",
                           fix: "if only you could have written it, run: \(chmod); otherwise remove it, then run: \(login)")
            }
            if mode & 0o077 != 0 {
                throw file(realPath: realPath, "has mode \(octal(mode)) (group or others can read it)", fix: "run: \(chmod)")
            }
        }

        func file(realPath: String?, _ what: String, fix: String? = nil) -> Refusal {
            let subject = described.what + " " + (realPath.map { "\(path) (a symbolic link to \($0))" } ?? path)
            return Refusal(.insecure, "\(subject) \(what); \(Self.outcome). To fix, "
                + (fix ?? "remove it, then run: \(login)"))
        }

        func directory(_ directory: String, linkTarget: Bool = false, _ what: String, chmod: Bool) -> Refusal {
            let subject = linkTarget
                ? "the directory \(directory) that \(described.what) \(path) leads into \(what), so the file is not trusted"
                : "\(described.cacheName) \(directory) \(what), so \(described.what) \(path) in it is not trusted"
            // A linked file's directory may be shared (/tmp): the link goes, not the directory's mode.
            let fix = linkTarget
                ? "remove the link, then run: \(login)"
                : chmod
                ? "if only you could have put files in it, run: chmod 700 \(ShellQuote.word(directory)); otherwise move "
                    + "it away, then run: \(login)"
                : "move it away, then run: \(login)"
            return Refusal(.insecure, "\(subject); \(Self.outcome). To fix, \(fix)")
        }

        func unreadable(_ what: String, _ code: Int32) -> Refusal {
            Refusal(.unreadable, "cannot read \(described.what) \(path) (\(what): \(String(cString: strerror(code)))).")
        }
    }
}
