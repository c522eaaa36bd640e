#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import StscacheSupport

/// `login_session` (and a region the user gave) written into the profile after a sign-in, as
/// `aws login` does (`_update_profile_with_login_session`): the profile's section is made if it
/// is missing, a key it already holds with that value is left alone, every other byte of the
/// file is kept. Through the one writer of the user's AWS files (links, owner, modes, a change
/// underneath refused).
package enum LoginSessionProfileEdit {
    static let fileLimit = 64 << 20

    /// The new bytes of `bytes` (the config file, nil when it does not exist) with `values` set
    /// in `profile`'s section; nil when nothing changes.
    package static func edited(_ bytes: [UInt8]?, profile: String, values: [(key: String, value: String)]) -> [UInt8]? {
        let text = ConfigText(bytes ?? [])
        let header = text.lines.indices.last { index in
            if case .header(let name) = text.lines[index].kind { return ConfigFiles.profileName(ofConfigSection: name) == profile }
            return false
        }
        var edit = ConfigTextEdit()
        guard let header else {
            var lines = text.lines.isEmpty ? [] : [""]
            lines.append(profile == "default" ? "[default]" : "[profile \(profile)]")
            lines += values.map { "\($0.key) = \($0.value)" }
            edit.insert(lines, before: text.lines.count)
            return edit.apply(to: text)
        }
        let entries = text.entries(inSectionAt: header)
        var added: [String] = []
        for (key, value) in values {
            if let entry = entries.last(where: { $0.key == key }) {
                if text.content(of: entry.first).split(separator: "=", maxSplits: 1).last?.trimmingWhitespace() == value,
                   entry.first == entry.last {
                    continue
                }
                edit.remove(entry.first...entry.last)
                edit.insert(["\(key) = \(value)"], before: entry.first)
            } else {
                added.append("\(key) = \(value)")
            }
        }
        if !added.isEmpty { edit.insert(added, before: text.lastSettingLine(inSectionAt: header) + 1) }
        return edit.isEmpty ? nil : edit.apply(to: text)
    }

    /// Sets `values` in `profile` in the config file at `path`, creating the file (0600, and its
    /// directory 0700) when there is none.
    package static func update(configPath path: String, profile: String, values: [(key: String, value: String)])
        throws(LoginFlowError)
    {
        func failed(_ failure: AWSFileWriter.Failure) -> LoginFlowError {
            LoginFlowError(.profileUnusable, "signed in, but login_session could not be written to profile \"\(profile)\": "
                + failure.message + " Add login_session = \(values.first?.value ?? "") to the profile yourself.")
        }
        let snapshot: AWSFileWriter.Snapshot?
        do {
            snapshot = try AWSFileWriter.read(path, limit: fileLimit)
        } catch where error.kind == .missing {
            snapshot = nil
        } catch {
            throw failed(error)
        }
        guard let bytes = edited(snapshot?.bytes, profile: profile, values: values) else { return }
        do {
            if let snapshot {
                _ = try AWSFileWriter.replace(snapshot, with: bytes)
            } else {
                let (directory, _) = splitPath(path)
                if !directory.isEmpty, access(directory, F_OK) != 0 { mkdir(directory, 0o700) }
                try AWSFileWriter.write(bytes, to: path)
            }
        } catch {
            throw failed(error)
        }
    }
}
