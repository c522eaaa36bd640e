import AWSConfig
import StscacheSupport
import Credentials

/// `setup --undo` pair by pair: the inverse of `DelegationSetup`'s edit, planned on the file as
/// it is now, so it works after any later edit of other lines:
///
///     [profile prod]                                                  [profile prod]
///     region = eu-west-1                                              region = eu-west-1
///     credential_process = stscache credential-process --profile prod-role   ==>  role_arn = arn:...:role/Admin
///                                                                     source_profile = base
///     [profile prod-role]
///     role_arn = arn:...:role/Admin
///     source_profile = base
///     region = eu-west-1
///
/// The `credential_process` line is replaced by the role half's role settings (their lines as
/// written there), and the role half's section goes. Refused, with the fix, when putting the
/// pair back would change the meaning of anything else: the role half is used by another
/// profile, holds settings the pair's profile would not get back, or a shared setting (region,
/// endpoint) differs between the halves. The result is parsed again and compared, as setup's.
package enum DelegationUndo {
    package typealias Plan = DelegationSetup.Plan

    /// Plans putting back each pair `profiles` names (the profile a user selects, `prod`).
    package static func plan(configBytes: [UInt8], files: ConfigFiles, profiles: [String]) throws(SetupError) -> Plan {
        let text = ConfigText(configBytes)
        var edit = ConfigTextEdit()
        var pairs: [(profile: String, roleProfile: String)] = []
        var seen: Set<String> = []
        for name in profiles where seen.insert(name).inserted {
            let roleName = try check(name, files: files, text: text, others: profiles)
            try planOne(name, roleName: roleName, text: text, edit: &edit)
            pairs.append((name, roleName))
        }
        let bytes = edit.apply(to: text)
        try verify(original: files, editedBytes: bytes, pairs: pairs)
        return Plan(text: text, edit: edit, bytes: bytes, pairs: pairs)
    }

    /// The pairs one setup made: profiles that delegate to stscache in `written` (the file setup
    /// wrote) and whose role half `before` (the file before it) did not have.
    package static func pairsMade(before: [UInt8], written: [UInt8], configPath: String) -> [String] {
        guard let old = try? INIDocument.parse(before, path: configPath),
              let new = try? INIDocument.parse(written, path: configPath) else { return [] }
        let oldFiles = ConfigFiles(config: old, credentials: nil, configPath: configPath, credentialsPath: "")
        let newFiles = ConfigFiles(config: new, credentials: nil, configPath: configPath, credentialsPath: "")
        return newFiles.profileNames.filter { name in
            guard let target = newFiles.delegatedProfile(forProfile: name) else { return false }
            return oldFiles.profile(named: target) == nil && oldFiles.delegatedProfile(forProfile: name) == nil
        }
    }

    /// The pairs of `files` that `plan` can put back: profiles delegating to stscache whose
    /// role half is a config-file profile with role settings.
    package static func undoablePairs(in files: ConfigFiles) -> [String] {
        files.profileNames.filter { name in
            guard let target = files.delegatedProfile(forProfile: name), target != name,
                  let role = files.profile(named: target) else { return false }
            return role.values.keys.contains { DelegationSetup.roleKeys.contains($0) }
        }
    }

    /// Checks that `name` is a pair this edit can put back; returns its role half's name.
    private static func check(_ name: String, files: ConfigFiles, text: ConfigText,
                              others: [String]) throws(SetupError) -> String {
        let config = files.configPath
        guard let profile = files.profile(named: name) else {
            throw SetupError(.unknownProfile, "profile \"\(name)\" is not in \(config) or \(files.credentialsPath); "
                + "check the name (`stscache doctor` lists the delegating pairs).")
        }
        guard let roleName = files.delegatedProfile(forProfile: name), roleName != name else {
            throw SetupError(.cannotUndo, "\(profile.location): profile \"\(name)\" does not delegate to stscache "
                + "(no credential_process = stscache ... --profile X), so there is nothing to undo for it.")
        }
        if files.credentials?.section(named: name)?["credential_process"] != nil {
            throw SetupError(.cannotUndo, "profile \"\(name)\" sets credential_process in \(files.credentialsPath); "
                + "undo edits only \(config): move that line to [profile \(name)] there, then run undo again.")
        }
        guard DelegationSetup.profileHeaderNames(name, in: text).count == 1 else {
            throw SetupError(.cannotUndo, "profile \"\(name)\" has headers written in several ways in \(config); "
                + "merge them into one [profile \(name)] section, then run undo again.")
        }
        let roleHeaders = DelegationSetup.profileHeaderNames(roleName, in: text)
        guard roleHeaders.count == 1, let role = files.profile(named: roleName) else {
            throw SetupError(.cannotUndo, "profile \"\(name)\" delegates to \"\(roleName)\", which is not one "
                + "[profile \(roleName)] section in \(config); undo puts back only what setup made. Edit the pair by hand.")
        }
        if files.credentials?.section(named: roleName) != nil {
            throw SetupError(.cannotUndo, "profile \"\(roleName)\" also has a [\(roleName)] section in \(files.credentialsPath); "
                + "move or remove it, then run undo again.")
        }
        // Nothing else may lean on the role half, which goes.
        for other in files.profileNames where other != name && other != roleName {
            let usesIt = files.profile(named: other)?.string("source_profile") == roleName
                || (files.delegatedProfile(forProfile: other) == roleName && !others.contains(other))
            if usesIt {
                throw SetupError(.cannotUndo, "profile \"\(other)\" uses \"\(roleName)\" too, and undo removes "
                    + "[profile \(roleName)]; undo \"\(other)\" as well (--profile \(other)) or point it elsewhere, "
                    + "then run undo again.")
            }
        }
        let unknown = role.values.keys.filter { !DelegationSetup.roleKeys.contains($0) && !DelegationSetup.sharedKeys.contains($0) }
        if !unknown.isEmpty {
            throw SetupError(.cannotUndo, "\(role.location): [profile \(roleName)] sets \(unknown.sorted().joined(separator: ", ")), "
                + "which setup does not put there and undo would lose; move it to [profile \(name)] or remove it, "
                + "then run undo again.")
        }
        guard role.values.keys.contains(where: { DelegationSetup.roleKeys.contains($0) }) else {
            throw SetupError(.cannotUndo, "\(role.location): [profile \(roleName)] has no role settings to put back "
                + "into [profile \(name)]; edit the pair by hand.")
        }
        let own = DelegationSetup.meaning(profile.values)
        let roles = DelegationSetup.meaning(role.values)
        for (key, value) in roles.sorted(by: { $0.key < $1.key }) where DelegationSetup.isSharedKey(key) && own[key] != value {
            throw SetupError(.cannotUndo, "\(role.location): [profile \(roleName)] sets \(key) = \(TerminalText.escaped(value)), "
                + "but [profile \(name)] \(own[key].map { "sets \(TerminalText.escaped($0))" } ?? "does not set it"); "
                + "after undo the CLI would use [profile \(name)]'s for the role too. Make them the same, then run undo again.")
        }
        for key in own.keys.sorted() where DelegationSetup.isRoleKey(key) {
            throw SetupError(.cannotUndo, "\(profile.location): [profile \(name)] sets \(key) next to credential_process; "
                + "remove it (the role half's is the one stscache uses), then run undo again.")
        }
        return roleName
    }

    private static func planOne(_ name: String, roleName: String, text: ConfigText, edit: inout ConfigTextEdit) throws(SetupError) {
        let header = text.headerLines(named: DelegationSetup.profileHeaderNames(name, in: text)[0])
        let roleHeader = text.headerLines(named: DelegationSetup.profileHeaderNames(roleName, in: text)[0])
        // The credential_process lines go; the role half's winning role settings take the place
        // of the last one (the one that counts), with its indentation.
        var processEntries: [ConfigText.Entry] = []
        for line in header {
            processEntries += text.entries(inSectionAt: line).filter { $0.key == "credential_process" }
        }
        guard let place = processEntries.last else {
            throw SetupError(.cannotUndo, "profile \"\(name)\" has its credential_process outside [profile \(name)] in the "
                + "config file; edit the pair by hand.")
        }
        for entry in processEntries { edit.remove(entry.first...entry.last) }
        var winning: [String: ConfigText.Entry] = [:]
        for line in roleHeader {
            for entry in text.entries(inSectionAt: line) where DelegationSetup.roleKeys.contains(entry.key) {
                winning[entry.key] = entry
            }
        }
        let indent = String(text.content(of: place.first).prefix { $0 == " " || $0 == "\t" })
        var moved: [String] = []
        for entry in winning.values.sorted(by: { $0.first < $1.first }) {
            for index in entry.first...entry.last {
                let content = text.content(of: index)
                moved.append(index == entry.first ? indent + String(content.drop { $0 == " " || $0 == "\t" }) : content)
            }
        }
        edit.insert(moved, before: place.first)
        // The role half's section, its settings and what lies among them; and the blank line setup
        // put before it.
        for line in roleHeader {
            edit.remove(line...text.lastSettingLine(inSectionAt: line))
            if line > 0, text.lines[line - 1].kind == .blank { edit.remove((line - 1)...(line - 1)) }
        }
    }

    /// Parses the edited file and compares it with the original: every other section means what
    /// it meant, each profile lost `credential_process` and gained exactly its role half's role
    /// settings, and each role half is gone.
    static func verify(original: ConfigFiles, editedBytes: [UInt8],
                       pairs: [(profile: String, roleProfile: String)]) throws(SetupError) {
        func failed(_ what: String) -> SetupError {
            SetupError(.verificationFailed, "undo's edit of \(original.configPath) would not mean what it should (\(what)); "
                + "nothing was written. Please report this with the layout of the profile (not its keys).")
        }
        let edited = try DelegationSetup.reparsed(original, editedBytes, failed: failed)
        let changed = Set(pairs.map(\.profile))
        let removed = Set(pairs.map(\.roleProfile))
        guard Set(edited.profileNames) == Set(original.profileNames).subtracting(removed) else {
            throw failed("the set of profiles differs")
        }
        for name in original.profileNames where !changed.contains(name) && !removed.contains(name) {
            guard DelegationSetup.meaning(edited.profile(named: name)?.values)
                    == DelegationSetup.meaning(original.profile(named: name)?.values) else {
                throw failed("profile \"\(name)\" changed")
            }
        }
        for section in original.config?.sections ?? [] where ConfigFiles.profileName(ofConfigSection: section.name) == nil {
            guard DelegationSetup.meaning(edited.config?.section(named: section.name)?.values)
                    == DelegationSetup.meaning(section.values) else {
                throw failed("section [\(section.name)] changed")
            }
        }
        for (name, roleName) in pairs {
            var expected = DelegationSetup.meaning(original.profile(named: name)?.values)
                .filter { !$0.key.hasPrefix("credential_process") }
            for (key, value) in DelegationSetup.meaning(original.profile(named: roleName)?.values)
            where DelegationSetup.isRoleKey(key) {
                expected[key] = value
            }
            guard DelegationSetup.meaning(edited.profile(named: name)?.values) == expected else {
                throw failed("profile \"\(name)\" would not be exactly the role profile again")
            }
        }
    }
}
