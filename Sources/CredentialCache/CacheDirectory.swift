#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

/// The cache directory, checked and held open: every file operation goes through `openat` and
/// friends on this descriptor, so a directory swapped for a symlink after the checks cannot
/// redirect them.
///
/// Checks (on every open, not only at creation): not a symbolic link, a directory, owned by the
/// effective uid, no group or other permission bits at all.
public final class CacheDirectory: Sendable {
    /// The path as resolved, for messages and listings.
    public let path: String
    /// `O_DIRECTORY | O_NOFOLLOW` descriptor, closed when this object goes away.
    let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// `STSCACHE_CACHE_DIR`, else `$XDG_CACHE_HOME/stscache`, else `<home>/.cache/stscache`.
    ///
    /// Empty variables count as unset. A leading `~/` in `STSCACHE_CACHE_DIR` is expanded with
    /// `home`; a relative `XDG_CACHE_HOME` is ignored, as the XDG Base Directory spec requires.
    public static func resolvePath(environment: [String: String], home: String) -> String {
        if let explicit = environment["STSCACHE_CACHE_DIR"], !explicit.isEmpty {
            return trimmingTrailingSlashes(expandTilde(explicit, home: home))
        }
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return trimmingTrailingSlashes(xdg) + "/stscache"
        }
        return trimmingTrailingSlashes(home) + "/.cache/stscache"
    }

    /// Opens the directory at `path`, creating it (mode 0700, parents 0700 as the XDG spec asks)
    /// when it is missing and `create` is true, and refuses it when it is unsafe.
    ///
    /// - Throws: `CacheError.directoryIsSymlink`, `.directoryNotOwned`, `.directoryPermissions`,
    ///   `.notADirectory`, `.directoryMissing` (only when `create` is false), `.directoryUnavailable`.
    public static func open(path: String, create: Bool = true) throws(CacheError) -> CacheDirectory {
        var created = false
        var result = openChecked(path)
        if case .failure(let error) = result, error.code == ENOENT {
            guard create else { throw .directoryMissing(path: path) }
            try createParents(of: path)
            if mkdir(path, 0o700) == 0 {
                created = true
            } else if errno != EEXIST {
                throw .directoryUnavailable(path: path, errno: errno)
            }
            result = openChecked(path)
        }
        let fd: Int32
        switch result {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.code == ELOOP || error.code == ENOTDIR {
                if case .success(let info) = FileSystem.linkStatus(path) {
                    if info.isSymlink { throw .directoryIsSymlink(path: path) }
                    if !info.isDirectory { throw .notADirectory(path: path) }
                }
            }
            throw .directoryUnavailable(path: path, errno: error.code)
        }
        do {
            try verify(fd: fd, path: path, justCreated: created)
        } catch {
            close(fd)
            throw error
        }
        return CacheDirectory(path: path, fd: fd)
    }

    /// The checks, on the open descriptor (no window between check and use).
    private static func verify(fd: Int32, path: String, justCreated: Bool) throws(CacheError) {
        var info: stat
        switch FileSystem.status(of: fd) {
        case .success(let status): info = status
        case .failure(let error): throw .directoryUnavailable(path: path, errno: error.code)
        }
        guard info.isDirectory else { throw .notADirectory(path: path) }
        guard UInt32(info.st_uid) == FileSystem.currentUID else {
            throw .directoryNotOwned(path: path, owner: UInt32(info.st_uid), expected: FileSystem.currentUID)
        }
        // mkdir(0700) under any umask can only lose owner bits, never gain group/other ones;
        // give back the owner bits a strange umask removed from a directory we just made.
        if justCreated && info.permissionBits != 0o700 {
            guard fchmod(fd, 0o700) == 0, case .success(let again) = FileSystem.status(of: fd) else {
                throw .directoryUnavailable(path: path, errno: errno)
            }
            info = again
        }
        guard info.permissionBits & 0o077 == 0 else {
            throw .directoryPermissions(path: path, mode: info.permissionBits)
        }
    }

    private static func openChecked(_ path: String) -> Result<Int32, Errno> {
        FileSystem.open(at: AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    }

    /// `mkdir -p` of everything above `path`, mode 0700 for the directories it makes.
    static func createParents(of path: String) throws(CacheError) {
        var components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.isEmpty else { return }
        components.removeLast()
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in components {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw .directoryUnavailable(path: prefix, errno: errno)
            }
        }
    }

    /// Absolute path of a file inside the directory, for messages.
    public func pathOf(_ name: String) -> String { path + "/" + name }

    /// Names of the directory's entries (no `.`/`..`), read through a duplicate descriptor.
    func fileNames() throws(CacheError) -> [String] {
        switch FileSystem.entryNames(of: fd) {
        case .success(let names): return names
        case .failure(let error): throw .fileOperationFailed(path: path, operation: "listing", errno: error.code)
        }
    }
}

func expandTilde(_ path: String, home: String) -> String {
    if path == "~" { return home }
    if path.hasPrefix("~/") { return trimmingTrailingSlashes(home) + "/" + path.dropFirst(2) }
    return path
}

func trimmingTrailingSlashes(_ path: String) -> String {
    var path = Substring(path)
    while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
    return String(path)
}
