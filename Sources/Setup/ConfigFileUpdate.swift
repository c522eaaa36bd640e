#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport
import Credentials

/// `setup`'s change to the config file and its undo, through the one writer of the user's AWS
/// files (`AWSFileWriter`: links, backups, modes and the changed-underneath check).
///
/// Each setup leaves two files next to the config file, both 0600:
/// `<name>.stscache-backup-<UTC stamp>` (the file as it was) and the same name plus `.written`
/// (what setup wrote). `undo` restores the newest backup only while the file still holds
/// exactly what setup wrote, so it never throws away an edit made since.
package enum ConfigFileUpdate {
    package typealias Snapshot = AWSFileWriter.Snapshot

    static let fileLimit = 64 << 20

    /// Reads the config file at `path` (following links) for an edit.
    package static func read(_ path: String) throws(SetupError) -> Snapshot {
        do {
            return try AWSFileWriter.read(path, limit: fileLimit)
        } catch where error.kind == .missing {
            throw SetupError(.fileError, "cannot find \(path); setup edits an existing config file (AWS_CONFIG_FILE or "
                + "~/.aws/config).")
        } catch {
            throw setupError(error)
        }
    }

    /// Keeps the backup pair, then replaces the file with `newBytes` (see `AWSFileWriter.replace`).
    /// `beforeReplace` runs after the backups are written, for tests that change the file then.
    ///
    /// - Returns: the backup's path.
    package static func replace(_ snapshot: Snapshot, with newBytes: [UInt8], stamp: String,
                                beforeReplace: () -> Void = {}) throws(SetupError) -> String {
        do {
            let replaced = try AWSFileWriter.replace(
                snapshot, with: newBytes, backup: AWSFileWriter.Backup(stamp: stamp, bytes: snapshot.bytes, keepsWritten: true),
                beforeReplace: beforeReplace)
            return replaced.backupPath ?? ""
        } catch {
            throw setupError(error)
        }
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
        guard let backupName = newestBackup(directoryPath: directoryPath, name: name) else {
            throw SetupError(.noBackup, "no setup backup of \(path) to restore (\(directoryPath)/\(name)\(backupPrefix)*"
                + "\(AWSFileWriter.writtenSuffix)); undo restores what stscache setup changed, and it has not changed this file.")
        }
        let backupPath = directoryPath + "/" + backupName
        let writtenPath = backupPath + AWSFileWriter.writtenSuffix
        let original: [UInt8]
        let written: [UInt8]
        switch (BoundedRead.regularFile(atPath: backupPath, limit: fileLimit),
                BoundedRead.regularFile(atPath: writtenPath, limit: fileLimit)) {
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
        do {
            _ = try AWSFileWriter.replace(snapshot, with: original)
        } catch {
            throw setupError(error)
        }
        unlink(writtenPath)
        unlink(backupPath)
        return Restored(configPath: path, backupPath: backupPath)
    }

    private static var backupPrefix: String { AWSFileWriter.backupMarker + "-" }

    /// The newest backup that has its `.written` partner, by the stamp in its name.
    static func newestBackup(directoryPath: String, name: String) -> String? {
        guard case .success(let directory) = FileSystem.open(at: AT_FDCWD, directoryPath, O_RDONLY | O_DIRECTORY) else {
            return nil
        }
        defer { close(directory) }
        guard case .success(let entries) = FileSystem.entryNames(of: directory) else { return nil }
        let prefix = name + backupPrefix
        let names = Set(entries.filter { $0.hasPrefix(prefix) })
        let written = AWSFileWriter.writtenSuffix
        return names.filter { !$0.hasSuffix(written) && names.contains($0 + written) }
            .max { backupOrder($0, prefix: prefix) < backupOrder($1, prefix: prefix) }
    }

    /// (stamp, attempt number) from `<name>.stscache-backup-<stamp>[-N]`, given `<name>.stscache-backup-`.
    private static func backupOrder(_ name: String, prefix: String) -> (String, Int) {
        let tail = name.dropFirst(prefix.count)
        let parts = tail.split(separator: "-")
        if parts.count == 2, let attempt = Int(parts[1]) { return (String(parts[0]), attempt) }
        return (String(tail), 1)
    }

    private static func setupError(_ failure: AWSFileWriter.Failure) -> SetupError {
        SetupError(failure.kind == .changedUnderneath ? .changedUnderneath : .fileError, failure.message)
    }
}
