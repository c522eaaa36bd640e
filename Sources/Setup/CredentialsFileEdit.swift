#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
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

    /// The file's bytes; a symbolic link is refused (replacing it would cut the link).
    package static func read(_ path: String) throws -> [UInt8] {
        if case .success(let info) = FileSystem.linkStatus(path), info.isSymlink {
            throw KeysError(.credentialsFileUnusable,
                            "\(path) is a symbolic link; stscache does not rewrite it: move the keys by hand with 'stscache keys add'")
        }
        switch BoundedRead.regularFile(atPath: path, limit: 64 << 20) {
        case .success(let bytes): return bytes
        case .failure(let failure):
            throw KeysError(.credentialsFileUnusable, "cannot read \(path): \(failure.reason)")
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

    /// Writes the backup (`<path>.stscache-backup`, 0600), then replaces the file with the
    /// edited one atomically, unless it changed since `original` was read. Returns the
    /// backup's path.
    package static func replace(_ path: String, original: [UInt8], with edit: CredentialsFileEdit) throws -> String {
        let (directoryPath, name) = splitPath(path)
        let directory: Int32
        switch FileSystem.open(at: AT_FDCWD, directoryPath, O_RDONLY | O_DIRECTORY) {
        case .success(let fd): directory = fd
        case .failure(let error):
            throw KeysError(.credentialsFileUnusable, "cannot open \(directoryPath): \(String(cString: strerror(error.code)))")
        }
        defer { close(directory) }
        let backupName = name + ".stscache-backup"
        do {
            try FileSystem.writeAtomically(directory: directory, directoryPath: directoryPath, finalName: backupName,
                                           temporaryStem: backupName, bytes: edit.backup) { temporary in
                renameat(directory, temporary, directory, backupName) == 0 ? .success(()) : .failure(Errno(errno))
            }
            try FileSystem.writeAtomically(directory: directory, directoryPath: directoryPath, finalName: name,
                                           temporaryStem: name, bytes: edit.edited) { temporary -> Result<Void, Errno> in
                // Someone (an editor, `aws configure`) changed the file since we read it:
                // replacing it would lose their change.
                guard (try? read(path)) == original else { return .failure(Errno(EAGAIN)) }
                return renameat(directory, temporary, directory, name) == 0 ? .success(()) : .failure(Errno(errno))
            }
        } catch where error.errno == EAGAIN {
            throw KeysError(.credentialsFileChanged,
                            "\(path) changed while stscache was importing from it, so it was left as it is; the keys are in "
                                + "the store now: run 'stscache keys import' again to remove them from the file")
        } catch {
            throw KeysError(.credentialsFileUnusable,
                            "\(error.operation) \(error.path) failed: \(String(cString: strerror(error.errno)))")
        }
        return directoryPath + "/" + backupName
    }
}
