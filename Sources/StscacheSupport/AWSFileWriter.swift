#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one writer of files that belong to the user and the AWS CLI: `~/.aws/config` (`setup`),
/// `~/.aws/credentials` (`keys import`) and the Identity Center token cache (a refresh, `login`).
/// The user and the CLI meet all of them the same way, so one policy holds for all
/// (docs/SECURITY.md, "The user's AWS files"):
///
/// - Links: a symbolic link (or a chain) to a regular file the user owns is followed: that file
///   is changed and the link stays, so a dotfiles manager's link keeps working. Anything else (a
///   dangling link, a FIFO, a directory, a file another user owns, through a link or not) is
///   refused before anything is written.
/// - Backups, when the caller keeps one: `<name>.stscache-backup-<UTC stamp>[-N]` beside the file
///   changed, 0600, never overwriting another. Its bytes are the caller's and may not hold a
///   secret the change removes; older backups of the file that hold one are deleted once the
///   change is made, so the secret is left in no backup.
/// - Modes: a replaced file keeps its permission bits; a new file is 0600.
/// - Changed underneath: a change planned on a read (`replace`) is made only if, right before
///   the rename, the path still leads to the same file (device, inode, owner, size, mtime, mode)
///   holding the same bytes; otherwise nothing is written (its backups go again) and the error
///   says to run the command again.
///
/// Underneath: `FileSystem.writeAtomically` (0600 temp file, fsync, rename, directory fsync,
/// termination signals held).
package enum AWSFileWriter {
    package static let backupMarker = ".stscache-backup"
    /// Setup's record of what it wrote, beside its backup, for `--undo`.
    package static let writtenSuffix = ".written"

    /// Why nothing was written (a backup made for the change is removed again).
    package struct Failure: Error, Equatable {
        package enum Kind: Equatable, Sendable {
            /// Nothing is at the path.
            case missing
            /// The policy refuses the file: a dangling link, not a regular file, not the user's.
            case refused
            /// The file changed between the read and the rename.
            case changedUnderneath
            /// A system call failed, or the file is larger than the caller reads.
            case failed
        }

        package var kind: Kind
        /// One sentence naming the path.
        package var message: String

        package init(_ kind: Kind, _ message: String) {
            self.kind = kind
            self.message = message
        }
    }

    /// A file as read: the path as given (for messages), the file it leads to, its bytes, and
    /// what identifies this version of it.
    package struct Snapshot: Equatable {
        package var path: String
        package var realPath: String
        package var bytes: [UInt8]
        package var identity: Identity
    }

    /// A rewritten or replaced file differs in at least one of these (and the bytes are
    /// compared as well).
    package struct Identity: Equatable {
        package var device: UInt64
        package var inode: UInt64
        package var owner: UInt32
        package var size: Int64
        package var modifiedSeconds: Int
        package var modifiedNanoseconds: Int
        package var mode: UInt32

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            owner = UInt32(info.st_uid)
            size = Int64(info.st_size)
            #if canImport(Darwin)
            modifiedSeconds = Int(info.st_mtimespec.tv_sec)
            modifiedNanoseconds = Int(info.st_mtimespec.tv_nsec)
            #else
            modifiedSeconds = Int(info.st_mtim.tv_sec)
            modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
            #endif
            mode = info.permissionBits
        }
    }

    /// A backup to keep before a `replace`.
    package struct Backup {
        /// `YYYYMMDDTHHMMSSZ` (`stamp(_:)`).
        package var stamp: String
        /// What the backup holds: the file as it was, less any secret the change removes.
        package var bytes: [UInt8]
        /// Secrets the change may take out of the file; those the new bytes no longer hold are
        /// refused in `bytes`, and older backups holding one are deleted after the change.
        package var removedSecrets: [[UInt8]]
        /// Also keep the new bytes as `<backup>.written` (setup's undo compares the file with it).
        package var keepsWritten: Bool

        package init(stamp: String, bytes: [UInt8], removedSecrets: [[UInt8]] = [], keepsWritten: Bool = false) {
            self.stamp = stamp
            self.bytes = bytes
            self.removedSecrets = removedSecrets
            self.keepsWritten = keepsWritten
        }
    }

    /// What `replace` left behind besides the file.
    package struct Replaced: Equatable {
        /// The backup's path, when one was kept.
        package var backupPath: String?
        /// Older backups deleted because they held a secret the change removed.
        package var deletedBackups: [String]
    }

    /// `YYYYMMDDTHHMMSSZ` from an RFC 3339 time, for backup names: sorts as it reads, nothing a
    /// shell minds.
    package static func stamp(_ rfc3339: String) -> String {
        String(rfc3339.filter { $0 != "-" && $0 != ":" }.prefix(15)) + "Z"
    }

    // MARK: Reading

    /// Reads the file `path` leads to, at most `limit` bytes, for a change planned on them.
    /// `requiringEditable` refuses at once what `replace` would refuse later, so a command can
    /// stop before doing anything else; a token refresh reads a file it may not be able to write
    /// back, and still uses the token.
    package static func read(_ path: String, limit: Int, requiringEditable: Bool = true) throws(Failure) -> Snapshot {
        let realPath = try resolve(path)
        let (fd, info) = try openRegular(realPath, shownAs: path)
        defer { close(fd) }
        guard Int(info.st_size) <= limit else { throw Failure(.failed, "cannot read \(path): larger than \(limit) bytes.") }
        let bytes: [UInt8]
        switch BoundedRead.toEnd(fd, limit: limit, sizeHint: Int(info.st_size)) {
        case .success(let read): bytes = read
        case .failure(let failure): throw Failure(.failed, "cannot read \(path): \(failure.reason).")
        }
        let snapshot = Snapshot(path: path, realPath: realPath, bytes: bytes, identity: Identity(info))
        if requiringEditable, let refusal = refusal(owner: snapshot.identity.owner, path, realPath) { throw refusal }
        return snapshot
    }

    /// The file `path` leads to, links resolved.
    private static func resolve(_ path: String) throws(Failure) -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw Failure(.missing, "\(path) does not exist.") }
            throw Failure(.failed, "cannot read \(path): \(String(cString: strerror(code))).")
        }
        guard let resolved = realpath(path, nil) else {
            let code = errno
            if info.isSymlink && (code == ENOENT || code == ENOTDIR) {
                throw refused(path, nil, "is a symbolic link to nothing")
            }
            throw Failure(.failed, "cannot resolve \(path): \(String(cString: strerror(code))).")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `realPath` opened for reading (never through a link, never hanging on a FIFO), if it is
    /// a regular file.
    private static func openRegular(_ realPath: String, shownAs path: String) throws(Failure) -> (Int32, stat) {
        let fd: Int32
        switch FileSystem.open(at: AT_FDCWD, realPath, O_RDONLY | O_NONBLOCK | O_NOFOLLOW) {
        case .success(let opened): fd = opened
        case .failure(let error):
            if error.code == ENOENT { throw Failure(.missing, "\(path) does not exist.") }
            throw Failure(.failed, "cannot read \(path): \(String(cString: strerror(error.code))).")
        }
        guard case .success(let info) = FileSystem.status(of: fd), info.isRegularFile else {
            close(fd)
            throw refused(path, realPath, "is not a regular file")
        }
        return (fd, info)
    }

    private static func refusal(owner: UInt32, _ path: String, _ realPath: String) -> Failure? {
        guard owner != FileSystem.currentUID else { return nil }
        return refused(path, realPath, "belongs to uid \(owner), not to you (uid \(FileSystem.currentUID))")
    }

    private static func refused(_ path: String, _ realPath: String?, _ what: String) -> Failure {
        let subject = realPath.map { $0 == path ? path : "\(path) (which leads to \($0))" } ?? path
        return Failure(.refused, "\(subject) \(what); stscache changes only a regular file you own, or a symbolic link "
            + "to one, so nothing was written.")
    }

    /// True when `snapshot.path` still leads to the version read: same file, same identity,
    /// same bytes.
    private static func isUnchanged(_ snapshot: Snapshot) -> Bool {
        guard let realPath = try? resolve(snapshot.path), realPath == snapshot.realPath,
              let (fd, info) = try? openRegular(realPath, shownAs: snapshot.path) else { return false }
        defer { close(fd) }
        guard Identity(info) == snapshot.identity,
              case .success(let bytes) = BoundedRead.toEnd(fd, limit: snapshot.bytes.count, sizeHint: snapshot.bytes.count)
        else { return false }
        return bytes == snapshot.bytes
    }

    // MARK: Writing

    /// Replaces the file `snapshot` was read from with `bytes`, keeping its mode, after keeping
    /// `backup`, and only while the file is still the version read: the check runs right before
    /// the rename. A refusal or failure removes the backup again. `beforeReplace` runs after the
    /// backup is written, for tests that change the file at that moment.
    package static func replace(_ snapshot: Snapshot, with bytes: [UInt8], backup: Backup? = nil,
                                beforeReplace: () -> Void = {}) throws(Failure) -> Replaced {
        if let refusal = refusal(owner: snapshot.identity.owner, snapshot.path, snapshot.realPath) { throw refusal }
        let (directoryPath, name) = splitPath(snapshot.realPath)
        let directory = try openDirectory(directoryPath)
        defer { close(directory) }
        var kept: [String] = []
        // A secret still in the new bytes (another profile with the same key) is not removed.
        let removed = backup?.removedSecrets.filter { !contains(bytes, $0) } ?? []
        do throws(Failure) {
            if let backup {
                try keep(backup, removing: removed, of: snapshot, written: bytes, directory: directory,
                         directoryPath: directoryPath, name: name, into: &kept)
            }
            beforeReplace()
            try install(bytes, directory: directory, directoryPath: directoryPath, name: name,
                        mode: snapshot.identity.mode, shownAs: snapshot.path, unlessChangedFrom: snapshot)
        } catch {
            for made in kept { unlinkat(directory, made, 0) }
            throw error
        }
        var deleted: [String] = []
        if !removed.isEmpty {
            deleted = deleteBackups(of: name, holding: removed, directory: directory, directoryPath: directoryPath,
                                    except: Set(kept))
        }
        return Replaced(backupPath: kept.first.map { directoryPath + "/" + $0 }, deletedBackups: deleted)
    }

    /// Writes `bytes` as the whole file at `path`, whatever it held (a new login's token, a
    /// client registration): a new file is 0600, an existing one is replaced under the same
    /// link, owner and mode policy as `replace`.
    package static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        var target = path
        var mode: UInt32 = 0o600
        do throws(Failure) {
            let realPath = try resolve(path)
            let (fd, info) = try openRegular(realPath, shownAs: path)
            close(fd)
            if let refusal = refusal(owner: UInt32(info.st_uid), path, realPath) { throw refusal }
            target = realPath
            mode = info.permissionBits
        } catch where error.kind == .missing {
            // A new file, where the path says.
        }
        let (directoryPath, name) = splitPath(target)
        let directory = try openDirectory(directoryPath)
        defer { close(directory) }
        try install(bytes, directory: directory, directoryPath: directoryPath, name: name, mode: mode, shownAs: path,
                    unlessChangedFrom: nil)
    }

    /// The backup (and setup's `.written` record) of `snapshot`'s file, created exclusively;
    /// the names made go into `kept`.
    private static func keep(_ backup: Backup, removing removed: [[UInt8]], of snapshot: Snapshot, written: [UInt8],
                             directory: Int32, directoryPath: String, name: String,
                             into kept: inout [String]) throws(Failure) {
        if removed.contains(where: { contains(backup.bytes, $0) }) {
            throw Failure(.failed, "the backup of \(snapshot.path) would still hold the secret the change removes; nothing "
                + "was written (a bug in stscache: please report it).")
        }
        let base = name + backupMarker + "-" + backup.stamp
        for attempt in 1...9 {
            let candidate = base + (attempt == 1 ? "" : "-\(attempt)")
            if try createExclusively(candidate, backup.bytes, directory: directory, directoryPath: directoryPath,
                                     shownAs: snapshot.path) {
                kept.append(candidate)
                break
            }
        }
        guard let made = kept.first else {
            throw Failure(.failed, "cannot name a backup of \(snapshot.path): \(directoryPath)/\(base) and its numbered "
                + "variants exist; remove old backups, then run the command again.")
        }
        guard backup.keepsWritten else { return }
        guard try createExclusively(made + writtenSuffix, written, directory: directory, directoryPath: directoryPath,
                                    shownAs: snapshot.path) else {
            throw Failure(.changedUnderneath, "\(directoryPath)/\(made)\(writtenSuffix) appeared while stscache was editing "
                + "\(snapshot.path); nothing was written. Run the command again.")
        }
        kept.append(made + writtenSuffix)
    }

    private static func createExclusively(_ name: String, _ bytes: [UInt8], directory: Int32, directoryPath: String,
                                          shownAs path: String) throws(Failure) -> Bool {
        do {
            return try FileSystem.createExclusively(directory: directory, directoryPath: directoryPath, name: name,
                                                    bytes: bytes)
        } catch {
            throw failure(error, unchanged: path)
        }
    }

    /// `bytes` at `directory/name` through the atomic writer with `mode`; with a snapshot, only
    /// while the file is still that version, checked after the new bytes are on disk and right
    /// before the rename (the closest it can be without a lock the CLI would not honour).
    private static func install(_ bytes: [UInt8], directory: Int32, directoryPath: String, name: String, mode: UInt32,
                                shownAs path: String, unlessChangedFrom snapshot: Snapshot?) throws(Failure) {
        let replaced: Bool
        do {
            replaced = try FileSystem.writeAtomically(
                directory: directory, directoryPath: directoryPath, finalName: name, temporaryStem: name, bytes: bytes
            ) { temporaryName -> Result<Bool, Errno> in
                if let snapshot, !isUnchanged(snapshot) {
                    unlinkat(directory, temporaryName, 0)
                    return .success(false)
                }
                if fchmodat(directory, temporaryName, mode_t(mode & 0o777), 0) != 0
                    || renameat(directory, temporaryName, directory, name) != 0 {
                    return .failure(Errno(errno))
                }
                return .success(true)
            }
        } catch {
            throw failure(error, unchanged: path)
        }
        guard replaced else {
            throw Failure(.changedUnderneath, "\(path) changed while stscache was editing it; nothing was written. "
                + "Run the command again.")
        }
    }

    /// Deletes the backups of `name` (`<name>.stscache-backup*`, regular files of ours) that hold
    /// one of `secrets`, except those in `kept`; returns their paths.
    private static func deleteBackups(of name: String, holding secrets: [[UInt8]], directory: Int32,
                                      directoryPath: String, except kept: Set<String>) -> [String] {
        guard case .success(let names) = FileSystem.entryNames(of: directory) else { return [] }
        var deleted: [String] = []
        for entry in names.sorted() where entry.hasPrefix(name + backupMarker) && !kept.contains(entry) {
            guard case .success(let fd) = FileSystem.open(at: directory, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK) else {
                continue
            }
            defer { close(fd) }
            guard case .success(let info) = FileSystem.status(of: fd), info.isRegularFile,
                  UInt32(info.st_uid) == FileSystem.currentUID,
                  case .success(let bytes) = BoundedRead.toEnd(fd, limit: backupLimit, sizeHint: Int(info.st_size)),
                  secrets.contains(where: { contains(bytes, $0) }),
                  unlinkat(directory, entry, 0) == 0 else { continue }
            deleted.append(directoryPath + "/" + entry)
        }
        return deleted
    }

    /// The largest backup searched for a removed secret (a credentials file is kilobytes).
    static let backupLimit = 64 << 20

    private static func contains(_ bytes: [UInt8], _ secret: [UInt8]) -> Bool {
        guard !secret.isEmpty, secret.count <= bytes.count else { return false }
        return (0...(bytes.count - secret.count)).contains { start in
            bytes[start] == secret[0] && bytes[start..<(start + secret.count)].elementsEqual(secret)
        }
    }

    private static func openDirectory(_ path: String) throws(Failure) -> Int32 {
        switch FileSystem.open(at: AT_FDCWD, path, O_RDONLY | O_DIRECTORY) {
        case .success(let fd): return fd
        case .failure(let error):
            throw Failure(.failed, "cannot open \(path): \(String(cString: strerror(error.code))).")
        }
    }

    private static func failure(_ error: FileSystem.WriteFailure, unchanged path: String) -> Failure {
        Failure(.failed, "cannot write \(error.path) (\(error.operation): \(String(cString: strerror(error.errno)))); "
            + "\(path) is unchanged.")
    }
}
