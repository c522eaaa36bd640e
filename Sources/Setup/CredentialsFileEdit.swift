import AWSConfig
import SigV4
import StscacheSupport
import Credentials

/// `keys import`'s change to the credentials file: the profile's `aws_access_key_id` and
/// `aws_secret_access_key` lines go, everything else stays byte for byte (comments, blank
/// lines, other sections, line endings). Pure over bytes, then one atomic replace.
package struct CredentialsFileEdit: Equatable {
    package var accessKeyId: String
    package var secretAccessKey: String
    /// The file without the profile's keys.
    package var edited: [UInt8]
    /// The file as it was, except that the secret's line is a comment saying where it went:
    /// a backup must not keep the plaintext secret the import exists to remove.
    package var backup: [UInt8]

    static let keyNames: Set<String> = ["aws_access_key_id", "aws_secret_access_key"]
    static let tokenNames: Set<String> = ["aws_session_token", "aws_security_token"]

    /// The credentials file as read for the edit, under `AWSFileWriter`'s policy (a symbolic
    /// link to a regular file of the user's is followed and stays a link).
    package static func read(_ path: String) throws(KeysError) -> AWSFileWriter.Snapshot {
        do {
            return try AWSFileWriter.read(path, limit: 64 << 20)
        } catch {
            throw KeysError(.credentialsFileUnusable, error.message)
        }
    }

    /// The edit that removes `profile`'s keys, or nil when the file holds none for it. What the
    /// keys are is what the reader makes of the file (`INIDocument`); where they are, the lines
    /// `ConfigText` gives each key (with its continuation lines), so both follow botocore's rules.
    package static func removingKeys(of profile: String, from original: [UInt8], path: String) throws -> CredentialsFileEdit? {
        let document: INIDocument
        do {
            document = try INIDocument.parse(original, path: path)
        } catch {
            throw KeysError(.credentialsFileUnusable, "cannot read \(path): \(error.message)")
        }
        guard let section = document.section(named: profile) else { return nil }
        if let token = tokenNames.sorted().first(where: { section[$0] != nil }) {
            throw KeysError(.noPlaintext,
                            "[\(profile)] in \(path) holds temporary keys (\(token)); only long-term keys can be stored")
        }
        guard let accessKeyId = section["aws_access_key_id"]?.text, let secret = section["aws_secret_access_key"]?.text,
              !accessKeyId.isEmpty, !secret.isEmpty else { return nil }
        let text = ConfigText(original)
        var edit = ConfigTextEdit()
        // The backup keeps everything but the secret, which becomes a comment saying where it went.
        var backup = ConfigTextEdit()
        for header in text.headerLines(named: profile) {
            let entries = text.entries(inSectionAt: header)
            for entry in entries where keyNames.contains(entry.key) {
                edit.remove(entry.first...entry.last)
                if entry.key == "aws_secret_access_key" {
                    backup.remove(entry.first...entry.last)
                    backup.insert(["# aws_secret_access_key: moved into stscache's key store ('stscache keys import \(profile)')"],
                                  before: entry.first)
                }
            }
            // A section left with nothing but comments goes with its header.
            if entries.allSatisfy({ keyNames.contains($0.key) }) { edit.remove(header...header) }
        }
        return CredentialsFileEdit(accessKeyId: accessKeyId, secretAccessKey: secret, edited: edit.apply(to: text),
                                   backup: backup.apply(to: text))
    }

    /// `keys export`'s edit: `profile`'s two key lines put back into the credentials file, under
    /// its `[profile]` header when there is one (after the last, the one whose keys count),
    /// else in a new section at the end. Everything else stays byte for byte. Refused when the
    /// section already holds keys.
    package static func addingKeys(_ keys: AWSCredentials, of profile: String, to original: [UInt8],
                                   path: String) throws(KeysError) -> [UInt8] {
        let document: INIDocument
        do {
            document = try INIDocument.parse(original, path: path)
        } catch {
            throw KeysError(.credentialsFileUnusable, "cannot read \(path): \(error.message)")
        }
        if let section = document.section(named: profile),
           let key = (keyNames.sorted() + tokenNames.sorted()).first(where: { section[$0] != nil }) {
            throw KeysError(.plaintextPresent, "[\(profile)] in \(path) already sets \(key); keys for one profile in both "
                + "places are refused. Remove those lines first, or keep the stored keys.")
        }
        let text = ConfigText(original)
        var edit = ConfigTextEdit()
        let lines = ["aws_access_key_id = " + keys.accessKeyId, "aws_secret_access_key = " + keys.secretAccessKey]
        if let header = text.headerLines(named: profile).last {
            edit.insert(lines, before: header + 1)
        } else {
            let needsBlank = !(text.lines.last.map { $0.kind == .blank } ?? true)
            edit.insert((needsBlank ? [""] : []) + ["[\(profile)]"] + lines, before: text.lines.count)
        }
        let edited = edit.apply(to: text)
        guard let check = try? INIDocument.parse(edited, path: path),
              check.section(named: profile)?["aws_access_key_id"]?.text == keys.accessKeyId,
              check.section(named: profile)?["aws_secret_access_key"]?.text == keys.secretAccessKey else {
            throw KeysError(.credentialsFileUnusable, "the edit of \(path) would not hold [\(profile)]'s keys as written; "
                + "nothing was written. Please report this with the file's layout (not its keys).")
        }
        return edited
    }

    /// Keeps the backup (`<name>.stscache-backup-<stamp>`, 0600, without the secret), then
    /// replaces the file with the edited one, unless it changed since `snapshot` was read;
    /// older backups still holding the secret are deleted (`AWSFileWriter.replace`).
    package static func replace(_ snapshot: AWSFileWriter.Snapshot, with edit: CredentialsFileEdit, profile: String,
                                stamp: String) throws(KeysError) -> AWSFileWriter.Replaced {
        let backup = AWSFileWriter.Backup(stamp: stamp, bytes: edit.backup, removedSecrets: [Array(edit.secretAccessKey.utf8)])
        do {
            return try AWSFileWriter.replace(snapshot, with: edit.edited, backup: backup)
        } catch where error.kind == .changedUnderneath {
            throw KeysError(.credentialsFileChanged,
                            "\(snapshot.path) changed while stscache was importing from it, so nothing was written to it; "
                                + "the keys are in the store now: run 'stscache keys import \(profile)' again to remove them "
                                + "from the file")
        } catch {
            throw KeysError(.credentialsFileUnusable, error.message)
        }
    }
}
