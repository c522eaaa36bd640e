#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport
import Credentials

/// Replacing the config file safely, for `setup` and its undo: a backup first, the new text
/// through the one atomic writer, and no replacement when the file changed since it was read.
///
/// Each setup leaves two files next to the config file, both 0600:
/// `<name>.stscache-backup-<UTC stamp>` (the file as it was) and the same name plus `.written`
/// (what setup wrote). `undo` restores the newest backup only while the file still holds
/// exactly what setup wrote, so it never throws away an edit made since.
package enum ConfigFileUpdate {
    /// A file as read: where it really is (symbolic links followed, so a config file kept in a
    /// dotfiles repository stays a link), its bytes, and what identifies this version of it.
    package struct Snapshot {
        /// The path as given (for messages).
        package var path: String
        /// The real path: links resolved.
        package var realPath: String
        package var bytes: [UInt8]
        package var identity: Identity
    }

    /// Device, inode, size, modification time and mode: a replaced or rewritten file differs in
    /// at least one of them, and the bytes are compared as well.
    package struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var mode: UInt32

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
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

    static let fileLimit = 64 << 20
    static let backupMarker = ".stscache-backup-"
    static let writtenSuffix = ".written"

    /// Reads the file at `path` (following links) with its identity.
    package static func read(_ path: String) throws(SetupError) -> Snapshot {
        guard let resolved = realPath(path) else {
            throw SetupError(.fileError, "cannot find \(path): \(String(cString: strerror(errno))); "
                + "setup edits an existing config file (AWS_CONFIG_FILE or ~/.aws/config).")
        }
        let (bytes, identity) = try readWithIdentity(resolved, shownAs: path)
        return Snapshot(path: path, realPath: resolved, bytes: bytes, identity: identity)
    }

    private static func readWithIdentity(_ path: String, shownAs shown: String) throws(SetupError) -> ([UInt8], Identity) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else {
            throw SetupError(.fileError, "cannot read \(shown): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        guard case .success(let info) = FileSystem.status(of: fd), info.isRegularFile else {
            throw SetupError(.fileError, "\(shown) is not a regular file; point AWS_CONFIG_FILE at the config file.")
        }
        switch BoundedRead.toEnd(fd, limit: fileLimit, sizeHint: Int(info.st_size)) {
        case .success(let bytes): return (bytes, Identity(info))
        case .failure(let failure):
            throw SetupError(.fileError, "cannot read \(shown): \(failure.reason).")
        }
    }

    /// True when the file at the snapshot's real path is still the version read: same identity
    /// and same bytes.
    static func isUnchanged(_ snapshot: Snapshot) -> Bool {
        guard let (bytes, identity) = try? readWithIdentity(snapshot.realPath, shownAs: snapshot.path) else { return false }
        return identity == snapshot.identity && bytes == snapshot.bytes
    }

    /// Writes the backup pair, then replaces the file with `newBytes`, keeping its mode. Refuses
    /// (removing the backup pair again) when the file changed since `snapshot` was read; the
    /// check runs right before the rename. `beforeReplace` runs after the backups are written,
    /// for tests that change the file at that moment.
    ///
    /// - Returns: the backup's path.
    package static func replace(_ snapshot: Snapshot, with newBytes: [UInt8], stamp: String,
                                beforeReplace: () -> Void = {}) throws(SetupError) -> String {
        let (directoryPath, name) = splitPath(snapshot.realPath)
        let directory = try openDirectory(directoryPath)
        defer { close(directory) }

        var backupName = ""
        for attempt in 1...9 {
            let candidate = name + backupMarker + stamp + (attempt == 1 ? "" : "-\(attempt)")
            if try createExclusively(directory: directory, directoryPath: directoryPath, name: candidate, bytes: snapshot.bytes) {
                backupName = candidate
                break
            }
        }
        guard !backupName.isEmpty else {
            throw SetupError(.fileError, "cannot name a backup of \(snapshot.path): \(name)\(backupMarker)\(stamp) and "
                + "its numbered variants exist; remove old backups, then run setup again.")
        }
        func removeBackups() {
            unlinkat(directory, backupName, 0)
            unlinkat(directory, backupName + writtenSuffix, 0)
        }
        do throws(SetupError) {
            guard try createExclusively(directory: directory, directoryPath: directoryPath,
                                        name: backupName + writtenSuffix, bytes: newBytes) else {
                removeBackups()
                throw SetupError(.fileError, "\(directoryPath)/\(backupName)\(writtenSuffix) appeared while setup ran; run setup again.")
            }
            beforeReplace()
            try replaceChecked(snapshot, directory: directory, directoryPath: directoryPath, name: name, bytes: newBytes)
        } catch {
            removeBackups()
            throw error
        }
        return directoryPath + "/" + backupName
    }

    /// What `undo` restored.
    package struct Restored {
        package var configPath: String
        package var backupPath: String
    }

    /// Restores the newest backup of the file at `path`, if the file still holds what setup
    /// wrote then; removes that backup pair afterwards (an older one is then the next to undo).
    package static func undo(_ path: String) throws(SetupError) -> Restored {
        let snapshot = try read(path)
        let (directoryPath, name) = splitPath(snapshot.realPath)
        let directory = try openDirectory(directoryPath)
        defer { close(directory) }
        guard let backupName = newestBackup(directoryPath: directoryPath, name: name) else {
            throw SetupError(.noBackup, "no setup backup of \(path) to restore (\(directoryPath)/\(name)\(backupMarker)*"
                + "\(writtenSuffix)); undo restores what stscache setup changed, and it has not changed this file.")
        }
        let backupPath = directoryPath + "/" + backupName
        let original: [UInt8]
        let written: [UInt8]
        switch (BoundedRead.regularFile(atPath: backupPath, limit: fileLimit),
                BoundedRead.regularFile(atPath: backupPath + writtenSuffix, limit: fileLimit)) {
        case (.success(let backup), .success(let after)):
            original = backup
            written = after
        case (.failure(let failure), _), (_, .failure(let failure)):
            throw SetupError(.fileError, "cannot read the backup \(backupPath): \(failure.reason).")
        }
        guard snapshot.bytes == written else {
            throw SetupError(.changedSinceSetup, "\(path) changed since setup wrote it, and undo would lose that change; "
                + "nothing was restored. Compare it with \(backupPath) (the file before setup) and merge by hand.")
        }
        try replaceChecked(snapshot, directory: directory, directoryPath: directoryPath, name: name, bytes: original)
        unlinkat(directory, backupName + writtenSuffix, 0)
        unlinkat(directory, backupName, 0)
        return Restored(configPath: path, backupPath: backupPath)
    }

    /// The newest backup that has its `.written` partner, by the stamp in its name.
    static func newestBackup(directoryPath: String, name: String) -> String? {
        guard let stream = opendir(directoryPath) else { return nil }
        defer { closedir(stream) }
        let prefix = name + backupMarker
        var names: Set<String> = []
        while let entry = readdir(stream) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if entryName.hasPrefix(prefix) { names.insert(entryName) }
        }
        return names.filter { !$0.hasSuffix(writtenSuffix) && names.contains($0 + writtenSuffix) }
            .max { backupOrder($0, prefix: prefix) < backupOrder($1, prefix: prefix) }
    }

    /// (stamp, attempt number) from `<name>.stscache-backup-<stamp>[-N]`, given `<name>.stscache-backup-`.
    private static func backupOrder(_ name: String, prefix: String) -> (String, Int) {
        let tail = name.dropFirst(prefix.count)
        let parts = tail.split(separator: "-")
        if parts.count == 2, let attempt = Int(parts[1]) { return (String(parts[0]), attempt) }
        return (String(tail), 1)
    }

    /// Atomically replaces `name` with `bytes` if the file is still the snapshot's version,
    /// with the snapshot's mode.
    private static func replaceChecked(_ snapshot: Snapshot, directory: Int32, directoryPath: String, name: String,
                                       bytes: [UInt8]) throws(SetupError) {
        let replaced: Bool
        do {
            replaced = try FileSystem.writeAtomically(
                directory: directory, directoryPath: directoryPath, finalName: name, temporaryStem: name, bytes: bytes
            ) { temporaryName -> Result<Bool, Errno> in
                // As late as it can be: after the new text is on disk, right before the rename.
                guard isUnchanged(snapshot) else {
                    unlinkat(directory, temporaryName, 0)
                    return .success(false)
                }
                if fchmodat(directory, temporaryName, mode_t(snapshot.identity.mode & 0o777), 0) != 0
                    || renameat(directory, temporaryName, directory, name) != 0 {
                    return .failure(Errno(errno))
                }
                return .success(true)
            }
        } catch {
            throw SetupError(.fileError, "cannot write \(error.path) (\(error.operation): "
                + "\(String(cString: strerror(error.errno)))); \(snapshot.path) is unchanged.")
        }
        guard replaced else {
            throw SetupError(.changedUnderneath, "\(snapshot.path) changed while stscache was editing it; nothing was "
                + "written. Run the command again.")
        }
    }

    /// Creates `name` with `bytes` (0600) unless it exists: false when it does.
    private static func createExclusively(directory: Int32, directoryPath: String, name: String,
                                          bytes: [UInt8]) throws(SetupError) -> Bool {
        do {
            return try FileSystem.createExclusively(directory: directory, directoryPath: directoryPath, name: name,
                                                    bytes: bytes)
        } catch {
            throw SetupError(.fileError, "cannot write \(error.path) (\(error.operation): "
                + "\(String(cString: strerror(error.errno)))); nothing was changed.")
        }
    }

    private static func openDirectory(_ path: String) throws(SetupError) -> Int32 {
        switch FileSystem.open(at: AT_FDCWD, path, O_RDONLY | O_DIRECTORY) {
        case .success(let fd): return fd
        case .failure(let error):
            throw SetupError(.fileError, "cannot open \(path): \(String(cString: strerror(error.code))).")
        }
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `YYYYMMDDTHHMMSSZ` for backup names: sorts as it reads, no characters a shell minds.
    package static func stamp(_ rfc3339: String) -> String {
        String(rfc3339.filter { $0 != "-" && $0 != ":" }.prefix(15)) + "Z"
    }
}
