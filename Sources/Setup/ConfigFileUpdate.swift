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
/// (what setup wrote: the record of which setup this was, docs/setup.md). A whole-file undo
/// restores the newest backup only while the file still holds exactly what setup wrote, so it
/// never throws away an edit made since; otherwise the pairs that setup made (the profiles
/// delegating in `.written` whose role half the backup lacks) are put back one by one.
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
    /// `keepsWritten: false` for an undo's own backup, which is no setup to undo.
    package static func replace(_ snapshot: Snapshot, with newBytes: [UInt8], stamp: String, keepsWritten: Bool = true,
                                beforeReplace: () -> Void = {}) throws(SetupError) -> String {
        do {
            let replaced = try AWSFileWriter.replace(
                snapshot, with: newBytes,
                backup: AWSFileWriter.Backup(stamp: stamp, bytes: snapshot.bytes, keepsWritten: keepsWritten),
                beforeReplace: beforeReplace)
            return replaced.backupPath ?? ""
        } catch {
            throw setupError(error)
        }
    }

    /// The newest setup's record: the file before it (`<name>.stscache-backup-<stamp>`) and
    /// what it wrote (the same name plus `.written`), both 0600 beside the config file.
    package struct SetupRecord {
        package var backupPath: String
        package var before: [UInt8]
        package var written: [UInt8]
        package var writtenPath: String { backupPath + AWSFileWriter.writtenSuffix }
    }

    /// The newest setup's record for the file `snapshot` was read from, or nil when setup has
    /// not changed it (or every change was undone).
    package static func newestSetup(of snapshot: Snapshot) throws(SetupError) -> SetupRecord? {
        let (directoryPath, name) = splitPath(snapshot.realPath)
        guard let backupName = newestBackup(directoryPath: directoryPath, name: name) else { return nil }
        let backupPath = directoryPath + "/" + backupName
        switch (BoundedRead.regularFile(atPath: backupPath, limit: fileLimit),
                BoundedRead.regularFile(atPath: backupPath + AWSFileWriter.writtenSuffix, limit: fileLimit)) {
        case (.success(let before), .success(let written)):
            return SetupRecord(backupPath: backupPath, before: before, written: written)
        case (.failure(let failure), _), (_, .failure(let failure)):
            throw SetupError(.fileError, "cannot read the backup \(backupPath): \(failure.reason).")
        }
    }

    /// The message for a whole-file undo with nothing to undo.
    package static func noBackupError(_ path: String) -> SetupError {
        SetupError(.noBackup, "no setup backup of \(path) to restore; stscache setup has not changed this file (or its "
            + "changes were undone). To put back one delegating pair made by hand or by an older setup: "
            + "stscache setup --undo --profile NAME.")
    }

    /// What `undo` restored.
    package struct Restored {
        package var configPath: String
        package var backupPath: String
    }

    /// Restores the newest backup of the file at `path`, if the file still holds what setup
    /// wrote then; removes that backup pair afterwards (an older one is then the next to undo).
    /// When the file changed since, `changedSinceSetup` is thrown (the command then undoes the
    /// setup's pairs one by one instead, `DelegationUndo`).
    package static func undo(_ path: String) throws(SetupError) -> Restored {
        let snapshot = try read(path)
        guard let record = try newestSetup(of: snapshot) else { throw noBackupError(path) }
        guard snapshot.bytes == record.written else {
            throw SetupError(.changedSinceSetup, "\(path) changed since setup wrote it, and restoring \(record.backupPath) "
                + "would lose that change; nothing was restored. stscache setup --undo --profile NAME puts back one pair "
                + "and keeps every other edit.")
        }
        return try restore(snapshot, record)
    }

    /// Replaces the file with the record's `before` bytes and removes the record.
    package static func restore(_ snapshot: Snapshot, _ record: SetupRecord) throws(SetupError) -> Restored {
        do {
            _ = try AWSFileWriter.replace(snapshot, with: record.before)
        } catch {
            throw setupError(error)
        }
        unlink(record.writtenPath)
        unlink(record.backupPath)
        return Restored(configPath: snapshot.path, backupPath: record.backupPath)
    }

    /// After that setup's pairs were undone one by one: its `.written` goes, so the next
    /// whole-file undo looks at the setup before it; the backup stays (the file before setup).
    package static func retire(_ record: SetupRecord) {
        unlink(record.writtenPath)
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
