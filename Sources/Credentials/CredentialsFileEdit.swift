#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StscacheSupport

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

    /// The edit that removes `profile`'s keys, or nil when the file holds none for it.
    package static func removingKeys(of profile: String, from original: [UInt8], path: String) throws -> CredentialsFileEdit? {
        let lines = splitLines(original)
        var inTarget = false
        var removed = Set<Int>()
        var secretLines = Set<Int>()
        var headerIndex: Int?
        var otherOptions = false
        var values: [String: String] = [:]
        var lastKeyLine: Int?
        for (index, line) in lines.enumerated() {
            let text = String(decoding: line.content, as: UTF8.self)
            let trimmed = text.trimmingWhitespace()
            if let first = text.unicodeScalars.first, first == " " || first == "\t", !trimmed.isEmpty {
                // A continuation line belongs to the option above it.
                if let keyLine = lastKeyLine, removed.contains(keyLine) { removed.insert(index) }
                continue
            }
            lastKeyLine = nil
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("["), let close = trimmed.lastIndex(of: "]") {
                let name = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close]).trimmingWhitespace()
                inTarget = name == profile
                if inTarget { headerIndex = headerIndex ?? index }
                continue
            }
            guard inTarget else { continue }
            lastKeyLine = index
            let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) ?? trimmed.endIndex
            let key = String(trimmed[..<separator]).trimmingWhitespace().lowercased()
            let value = separator == trimmed.endIndex ? "" : String(trimmed[trimmed.index(after: separator)...]).trimmingWhitespace()
            if keyNames.contains(key) {
                values[key] = value
                removed.insert(index)
                if key == "aws_secret_access_key" { secretLines.insert(index) }
            } else if tokenNames.contains(key) {
                throw KeysError(.noPlaintext,
                                "[\(profile)] in \(path) holds temporary keys (\(key)); only long-term keys can be stored")
            } else {
                otherOptions = true
            }
        }
        guard let accessKeyId = values["aws_access_key_id"], let secret = values["aws_secret_access_key"],
              !accessKeyId.isEmpty, !secret.isEmpty else { return nil }
        if !otherOptions, let headerIndex { removed.insert(headerIndex) }
        var edited: [UInt8] = []
        var backup: [UInt8] = []
        for (index, line) in lines.enumerated() {
            if !removed.contains(index) { edited += line.content + line.ending }
            if secretLines.contains(index) {
                backup += Array("# aws_secret_access_key: moved into stscache's key store ('stscache keys import \(profile)')".utf8)
                    + (line.ending.isEmpty ? [UInt8(ascii: "\n")] : line.ending)
            } else if removed.contains(index), index != headerIndex, !line.content.isEmpty,
                      line.content.first == UInt8(ascii: " ") || line.content.first == UInt8(ascii: "\t") {
                // A continuation of a removed option: it may hold part of the secret.
                continue
            } else {
                backup += line.content + line.ending
            }
        }
        return CredentialsFileEdit(accessKeyId: accessKeyId, secretAccessKey: secret, edited: edited, backup: backup)
    }

    /// Writes the backup (`<path>.stscache-backup`, 0600), then replaces the file with the
    /// edited one atomically, unless it changed since `original` was read. Returns the
    /// backup's path.
    package static func replace(_ path: String, original: [UInt8], with edit: CredentialsFileEdit) throws -> String {
        let slash = path.lastIndex(of: "/")
        let directoryPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
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

    struct Line {
        var content: [UInt8]
        /// `\n`, `\r\n`, or empty for a last line without one.
        var ending: [UInt8]
    }

    static func splitLines(_ bytes: [UInt8]) -> [Line] {
        var lines: [Line] = []
        var start = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            var end = index
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            lines.append(Line(content: Array(bytes[start..<end]), ending: Array(bytes[end...index])))
            start = index + 1
        }
        if start < bytes.count { lines.append(Line(content: Array(bytes[start...]), ending: [])) }
        return lines
    }
}
