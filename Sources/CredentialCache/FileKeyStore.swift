#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OpenSSLCrypto
import StscacheSupport

/// The key in a 0600 file of exactly 32 raw bytes: the fallback where keyctl is blocked
/// (containers). It survives reboots, so it protects less than the keyring against offline
/// disk access, but still keeps the cache directory useless on its own (backups, sync folders).
public struct FileKeyStore: KeyStore {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var name: String { "file" }
    public var location: String { "key file \(path)" }

    /// `$XDG_CONFIG_HOME/stscache/cache-key`, else `<home>/.config/stscache/cache-key` (a relative
    /// `XDG_CONFIG_HOME` is ignored, as the XDG spec requires).
    public static func defaultPath(environment: [String: String], home: String) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            return trimmingTrailingSlashes(xdg) + "/stscache/cache-key"
        }
        return trimmingTrailingSlashes(home) + "/.config/stscache/cache-key"
    }

    private var directoryPath: String { splitPath(path).directory }

    private var fileName: String { splitPath(path).name }

    /// The key, read through its directory after checking that directory again: a key
    /// directory opened to others after the key was made (someone could swap the key file, and
    /// with it decide what the cache decrypts to) is refused at every load, not only at creation.
    ///
    /// - Throws: `CacheError.keyDirectoryUnusable` (symlink, another owner, writable by group or
    ///   others), `.keyFileInsecure` (symlink, not a regular file, another owner, any group/other
    ///   bit), `.keyFileInvalid` (not 32 bytes), `.fileOperationFailed`.
    public func loadKey() throws -> [UInt8]? {
        let directory: Int32
        switch FileSystem.open(at: AT_FDCWD, directoryPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
        case .success(let opened): directory = opened
        case .failure(let error):
            if error.code == ENOENT { return nil }
            throw Self.unusable(directoryPath, error.code)
        }
        defer { close(directory) }
        try checkDirectory(directory)
        return try load(at: directory, name: fileName)
    }

    public func loadOrCreateKey() throws -> [UInt8] {
        if let key = try loadKey() { return key }
        let directory = try openDirectory()
        defer { close(directory) }
        var candidate = try freshKeyCandidate()
        defer { EntryFormat.wipe(&candidate) }
        let name = fileName
        // link(2) onto the final name is create-if-absent with the content already in place:
        // the first creator wins, everyone else gets EEXIST and reads the winner's key.
        do {
            _ = try FileSystem.createExclusively(directory: directory, directoryPath: directoryPath, name: name,
                                                 bytes: candidate)
        } catch {
            throw CacheError(error)
        }
        guard let key = try load(at: directory, name: name) else {
            throw CacheError.fileOperationFailed(path: path, operation: "reading new key file", errno: ENOENT)
        }
        return key
    }

    public func deleteKey() throws {
        guard unlink(path) != 0 else { return }
        let code = errno
        if code != ENOENT {
            throw CacheError.fileOperationFailed(path: path, operation: "removing", errno: code)
        }
    }

    private func load(at directory: Int32, name: String) throws(CacheError) -> [UInt8]? {
        let (fd, info): (Int32, stat)
        switch FileSystem.openPrivateFile(at: directory, name) {
        case .success(let opened): (fd, info) = opened
        case .failure(.missing): return nil
        case .failure(.insecure(let reason)): throw .keyFileInsecure(path: path, reason: reason)
        case .failure(.failed(let operation, let code)): throw .fileOperationFailed(path: path, operation: operation, errno: code)
        }
        defer { close(fd) }
        guard info.st_size == AES256GCM.keyCount else { throw .keyFileInvalid(path: path, length: Int(info.st_size)) }
        var key: [UInt8]
        switch BoundedRead.toEnd(fd, limit: AES256GCM.keyCount, sizeHint: AES256GCM.keyCount) {
        case .success(let bytes): key = bytes
        case .failure(.system(let code)): throw .fileOperationFailed(path: path, operation: "reading", errno: code)
        case .failure: throw .keyFileInvalid(path: path, length: Int(info.st_size))
        }
        guard key.count == AES256GCM.keyCount else {
            let length = key.count
            EntryFormat.wipe(&key)
            throw .keyFileInvalid(path: path, length: length)
        }
        return key
    }

    /// The key's directory, created 0700 (parents too) when missing; refused when it is a
    /// symlink, another user's, or writable by group/others (someone could swap the key file).
    private func openDirectory() throws(CacheError) -> Int32 {
        try CacheDirectory.createParents(of: path)
        let fd: Int32
        switch FileSystem.open(at: AT_FDCWD, directoryPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) {
        case .success(let opened): fd = opened
        case .failure(let error): throw Self.unusable(directoryPath, error.code)
        }
        do {
            try checkDirectory(fd)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Ours, and writable by nobody else (a group- or world-writable directory lets another
    /// user replace the key file; group-readable alone reveals only its name).
    private func checkDirectory(_ fd: Int32) throws(CacheError) {
        guard case .success(let info) = FileSystem.status(of: fd) else {
            throw .fileOperationFailed(path: directoryPath, operation: "checking", errno: EIO)
        }
        if UInt32(info.st_uid) != FileSystem.currentUID {
            throw .keyDirectoryUnusable(path: directoryPath, reason: "is owned by uid \(info.st_uid), not by you")
        }
        if info.permissionBits & 0o022 != 0 {
            throw .keyDirectoryUnusable(path: directoryPath,
                                        reason: "has mode \(octal(info.permissionBits)) (group or others can write to it)")
        }
    }

    private static func unusable(_ directory: String, _ code: Int32) -> CacheError {
        if code == ELOOP || code == ENOTDIR {
            return .keyDirectoryUnusable(path: directory, reason: "is a symbolic link or not a directory")
        }
        return .fileOperationFailed(path: directory, operation: "opening", errno: code)
    }
}
