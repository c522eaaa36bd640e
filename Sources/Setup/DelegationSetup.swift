import AWSConfig
import StscacheSupport
import Credentials

/// Failures of `setup` (turning role profiles into delegating pairs, and undoing that).
/// Nothing is written when one is thrown, unless the message says otherwise.
package typealias SetupError = CodedError<SetupErrorCode>

/// The codes of `SetupError`: `setup.<code>`.
package enum SetupErrorCode: String, ErrorCode {
    package static let domain = "setup"

    case unknownProfile = "unknown-profile"
    /// The profile has no `role_arn`.
    case notARole = "not-a-role"
    /// The profile already runs stscache through `credential_process`.
    case alreadyDelegating = "already-delegating"
    /// The profile has `role_arn` but no source to assume it with.
    case noSource = "no-source"
    /// `source_profile` names the profile itself.
    case selfSourced = "self-sourced"
    /// `<profile>-role` already exists.
    case nameTaken = "name-taken"
    /// Something about the profile's layout setup will not edit (credentials-file keys,
    /// differently written duplicate headers, a name that needs quoting).
    case unsupportedLayout = "unsupported-layout"
    /// The edited file would not mean what it should (a bug; nothing is written).
    case verificationFailed = "verification-failed"
    /// The file changed between setup reading it and replacing it.
    case changedUnderneath = "changed-underneath"
    /// `--undo`: the file is not what setup wrote.
    case changedSinceSetup = "changed-since-setup"
    /// `--undo`: there is no backup to restore.
    case noBackup = "no-backup"
    /// `--undo --profile P`: P is not a delegating pair setup could have made, or putting it
    /// back would change what another profile means.
    case cannotUndo = "cannot-undo"
    /// Reading or writing a file failed.
    case fileError = "file-error"
}

/// Turns role profiles (and IAM Identity Center profiles, the same way) into stscache's
/// delegating pair by editing the config file's text:
///
///     [profile prod]                      [profile prod]
///     region = eu-west-1                  region = eu-west-1
///     role_arn = arn:...:role/Admin  ==>  credential_process = /usr/bin/stscache credential-process --profile prod-role
///     source_profile = base
///                                         [profile prod-role]
///                                         role_arn = arn:...:role/Admin
///                                         source_profile = base
///                                         region = eu-west-1
///
/// Pure: the file's bytes and both parsed files in, the new bytes out. Every line the edit does
/// not remove is kept byte for byte; the result is parsed again and compared with the original,
/// profile by profile, before anyone may write it (`verify`).
package enum DelegationSetup {
    /// Keys only the role needs: they move to `<profile>-role`. With `role_arn` gone from the
    /// profile, the CLI no longer assumes the role itself; with `mfa_serial` gone it no longer
    /// asks for a code (stscache does, through `mfa_process` or its prompt).
    /// An Identity Center profile's `sso_*` keys move too: botocore resolves them before
    /// `credential_process`, so left in the profile they would bypass stscache. So does a
    /// `login_session` beside `role_arn` (unused while `role_arn` is there, but botocore's
    /// `LoginProvider` comes before its `ProcessProvider`: left behind, it would take over).
    package static let roleKeys: [String] = [
        "role_arn", "source_profile", "credential_source", "role_session_name", "external_id",
        "duration_seconds", "mfa_serial", "mfa_process", "mfa_session_duration", "web_identity_token_file",
        "sso_session", "sso_account_id", "sso_role_name", "sso_start_url", "sso_region", "sso_registration_scopes",
        "login_session",
    ]

    /// Keys both sides read: the CLI for its own calls, stscache for the STS call. Copied, so
    /// the profile keeps them and the role profile reaches the same STS endpoint as before.
    /// Everything else (output, cli_pager, s3 = ..., ...) stays with the profile only.
    package static let sharedKeys: [String] = [
        "region", "sts_regional_endpoints", "endpoint_url", "services", "ignore_configured_endpoint_urls", "ca_bundle",
    ]

    /// Keys whose values `--dry-run` never prints.
    package static let secretKeys: Set<String> = ["aws_secret_access_key", "aws_session_token", "aws_security_token"]

    package static func roleProfileName(for profile: String) -> String { profile + "-role" }

    /// The `credential_process` line's value, quoted for botocore's shlex split when needed.
    package static func credentialProcessCommand(programPath: String, roleProfile: String) -> String {
        ShellQuote.word(programPath) + " credential-process --profile " + ShellQuote.word(roleProfile)
    }

    package struct Plan {
        package var text: ConfigText
        package var edit: ConfigTextEdit
        /// The edited file.
        package var bytes: [UInt8]
        /// (profile, role profile) pairs, in the order asked.
        package var pairs: [(profile: String, roleProfile: String)]
    }

    /// Plans the edit for `profiles` in the config file `configBytes` (which `files.config` was
    /// parsed from), checks it, and returns it. Refuses, naming the profile and the fix, a
    /// profile that is missing, not a role, already delegating, sourced from itself, whose
    /// role name is taken, or whose layout the edit cannot keep.
    package static func plan(configBytes: [UInt8], files: ConfigFiles, profiles: [String],
                             programPath: String) throws(SetupError) -> Plan {
        let text = ConfigText(configBytes)
        var edit = ConfigTextEdit()
        var pairs: [(profile: String, roleProfile: String)] = []
        var seen: Set<String> = []
        for name in profiles where seen.insert(name).inserted {
            let roleName = roleProfileName(for: name)
            let headerNames = profileHeaderNames(name, in: text)
            if headerNames.count > 1 {
                throw SetupError(.unsupportedLayout, "profile \"\(name)\" has headers written in \(headerNames.count) different "
                    + "ways (\(headerNames.map { "[\($0)]" }.joined(separator: ", "))), and only the last one counts; "
                    + "merge them into one [profile \(name)] section, then run setup again.")
            }
            try check(name, roleName: roleName, files: files)
            guard let headerName = headerNames.first else {
                throw SetupError(.unsupportedLayout, "profile \"\(name)\" has no [profile \(name)] section in "
                    + "\(files.configPath); its role settings must be there for setup to move them.")
            }
            try planOne(name, roleName: roleName, headerName: headerName, text: text, programPath: programPath, edit: &edit)
            pairs.append((name, roleName))
        }
        let bytes = edit.apply(to: text)
        try verify(original: files, editedBytes: bytes, pairs: pairs, programPath: programPath)
        return Plan(text: text, edit: edit, bytes: bytes, pairs: pairs)
    }

    private static func check(_ name: String, roleName: String, files: ConfigFiles) throws(SetupError) {
        let config = files.configPath
        guard let profile = files.profile(named: name) else {
            throw SetupError(.unknownProfile, "profile \"\(name)\" is not in \(config) or \(files.credentialsPath); "
                + unknownProfileFix(name, files: files))
        }
        guard !name.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "'" || $0 == "[" || $0 == "]" }) else {
            throw SetupError(.unsupportedLayout, "profile \"\(name)\" has a name with spaces, quotes or brackets, which "
                + "setup does not rewrite; set it up by hand (see stscache --help).")
        }
        if let command = profile.string("credential_process") {
            if let target = delegatedProfile(fromCredentialProcess: command) {
                throw SetupError(.alreadyDelegating, "profile \"\(name)\" already delegates to stscache (--profile \(target)); "
                    + "nothing to do. stscache doctor checks the pair.")
            }
            if profile.string("role_arn") != nil {
                throw SetupError(.unsupportedLayout, "\(profile.location): profile \"\(name)\" has both role_arn and "
                    + "credential_process; the CLI uses role_arn, so remove the credential_process line first, then run setup again.")
            }
        }
        // An Identity Center profile: its account and role, and a session or start URL to sign in with.
        let isIdentityCenter = profile.string("role_arn") == nil && profile.string("sso_account_id") != nil
            && profile.string("sso_role_name") != nil
            && (profile.string("sso_session") != nil || profile.string("sso_start_url") != nil)
        if isIdentityCenter {
            if profile.string("credential_process") != nil {
                throw SetupError(.unsupportedLayout, "\(profile.location): profile \"\(name)\" has both sso_* settings and "
                    + "credential_process; the CLI uses the sso_* settings, so remove the credential_process line first, "
                    + "then run setup again.")
            }
            try checkNames(name, roleName: roleName, profile: profile, files: files)
            return
        }
        if profile.string("role_arn") == nil, profile.string("login_session") != nil {
            throw SetupError(.notARole, "\(profile.location): profile \"\(name)\" is an aws login profile (login_session), "
                + "which needs no delegating pair: its session file is its cache, which the AWS CLI, the SDKs and stscache "
                + "all read and refresh; leave it as it is. To cache a role assumed with it, set up a role profile whose "
                + "source_profile is \"\(name)\".")
        }
        guard profile.string("role_arn") != nil else {
            throw SetupError(.notARole, "\(profile.location): profile \"\(name)\" has no role_arn, so it is not a role "
                + "stscache can cache; setup turns role profiles (role_arn plus source_profile or credential_source) and "
                + "IAM Identity Center profiles (sso_account_id, sso_role_name) into delegating pairs.")
        }
        let hasSource = profile.string("source_profile") != nil || profile.string("credential_source") != nil
            || profile.string("web_identity_token_file") != nil
        guard hasSource else {
            throw SetupError(.noSource, "\(profile.location): profile \"\(name)\" has role_arn but no source_profile or "
                + "credential_source, so nothing can assume the role; add one, then run setup again.")
        }
        if profile.string("source_profile") == name {
            throw SetupError(.selfSourced, "\(profile.location): profile \"\(name)\" is its own source_profile (its keys "
                + "assume its role); move the keys to a profile of their own (stscache keys import, or a [base] section in "
                + "\(files.credentialsPath)), point source_profile at it, then run setup again.")
        }
        try checkNames(name, roleName: roleName, profile: profile, files: files)
    }

    /// A near name (a typo's fix), else the profiles setup could take (roles nobody hands to
    /// stscache or uses as a source, as doctor's cli-resolves-role), else what it needs.
    private static func unknownProfileFix(_ name: String, files: ConfigFiles) -> String {
        if let near = files.profileSuggestion(for: name) { return "did you mean \"\(near)\"?" }
        let used = Set(files.profileNames.flatMap { other in
            [files.delegatedProfile(forProfile: other), files.profile(named: other)?.string("source_profile")].compactMap { $0 }
        })
        let candidates = files.profileNames.filter { candidate in
            guard !used.contains(candidate), let profile = files.profile(named: candidate),
                  profile.string("credential_process") == nil else { return false }
            return profile.string("role_arn") != nil || profile.string("sso_account_id") != nil
        }
        if candidates.isEmpty {
            return "\(files.configPath) has no profile setup can take (one with role_arn, or an IAM Identity Center profile)."
        }
        let shown = candidates.prefix(10).joined(separator: ", ") + (candidates.count > 10 ? ", ..." : "")
        return "the profiles setup can take: \(shown)."
    }

    /// What every profile set up needs: a free name for its role half, no settings of its own
    /// in the credentials file, and a config file to edit.
    private static func checkNames(_ name: String, roleName: String, profile: Profile, files: ConfigFiles) throws(SetupError) {
        if files.profile(named: roleName) != nil {
            throw SetupError(.nameTaken, "profile \"\(roleName)\", the name setup gives the role half of \"\(name)\", "
                + "already exists; rename or remove it, then run setup again.")
        }
        if let section = files.credentials?.section(named: name) {
            let inCredentials = (roleKeys + ["aws_access_key_id", "aws_secret_access_key", "credential_process"])
                .filter { section[$0] != nil }
            if !inCredentials.isEmpty {
                throw SetupError(.unsupportedLayout, "\(section.location): [\(name)] in \(files.credentialsPath) sets "
                    + "\(inCredentials.joined(separator: ", ")); setup edits only \(files.configPath), and keys there would "
                    + "win over credential_process. Move these settings to [profile \(name)] in \(files.configPath) "
                    + "(keys: to a source profile of their own), then run setup again.")
            }
        }
        guard files.config != nil else {
            throw SetupError(.unsupportedLayout, "profile \"\(name)\" is only in \(files.credentialsPath); setup edits "
                + "\(files.configPath): move the role settings there as [profile \(name)], then run setup again.")
        }
    }

    /// The different spellings of the config-file headers that define `name`, in file order.
    static func profileHeaderNames(_ name: String, in text: ConfigText) -> [String] {
        var names: [String] = []
        for line in text.lines {
            guard case .header(let header) = line.kind, ConfigFiles.profileName(ofConfigSection: header) == name,
                  !names.contains(header) else { continue }
            names.append(header)
        }
        return names
    }

    private static func planOne(_ name: String, roleName: String, headerName: String, text: ConfigText, programPath: String,
                                edit: inout ConfigTextEdit) throws(SetupError) {
        let headers = text.headerLines(named: headerName)
        // Every occurrence of a role key goes (a later duplicate wins, so all must); the winning
        // one of each moves, in file order.
        var winning: [String: ConfigText.Entry] = [:]
        var firstRemoved: Int?
        for header in headers {
            for entry in text.entries(inSectionAt: header) {
                let isRole = roleKeys.contains(entry.key)
                if isRole || entry.key == "credential_process" {
                    edit.remove(entry.first...entry.last)
                    firstRemoved = min(firstRemoved ?? entry.first, entry.first)
                }
                if isRole || sharedKeys.contains(entry.key) { winning[entry.key] = entry }
            }
        }
        guard let firstRemoved else {
            throw SetupError(.notARole, "profile \"\(name)\" has no role settings in [\(headerName)]; setup moves them from there.")
        }
        let indent = String(text.content(of: firstRemoved).prefix { $0 == " " || $0 == "\t" })
        edit.insert([indent + "credential_process = " + credentialProcessCommand(programPath: programPath, roleProfile: roleName)],
                    before: firstRemoved)

        var moved: [String] = []
        for entry in winning.values.sorted(by: { $0.first < $1.first }) {
            for index in entry.first...entry.last {
                let content = text.content(of: index)
                // Key lines start unindented in the new section; continuation lines keep their
                // indentation, which is deeper than zero and so still continues the key.
                moved.append(index == entry.first ? String(content.drop { $0 == " " || $0 == "\t" }) : content)
            }
        }
        let after = text.lastSettingLine(inSectionAt: headers.last!)
        edit.insert(["", "[profile \(roleName)]"] + moved, before: after + 1)
    }

    /// The config as `editedBytes` would make it (the credentials file unchanged): what
    /// setup's and undo's checks read back before anything is written.
    static func reparsed(_ original: ConfigFiles, _ editedBytes: [UInt8],
                         failed: (String) -> SetupError) throws(SetupError) -> ConfigFiles {
        do {
            let document = try INIDocument.parse(editedBytes, path: original.configPath)
            return ConfigFiles(config: document, credentials: original.credentials,
                               configPath: original.configPath, credentialsPath: original.credentialsPath)
        } catch {
            throw failed("it does not parse: \(error.message)")
        }
    }

    /// Parses the edited file and compares it with the original: every section other than the
    /// profiles set up means exactly what it meant; each profile lost its role keys and gained
    /// `credential_process`, nothing else; each role profile holds exactly the profile's role
    /// and shared keys. Any difference means the edit is wrong, and nothing is written.
    static func verify(original: ConfigFiles, editedBytes: [UInt8], pairs: [(profile: String, roleProfile: String)],
                       programPath: String) throws(SetupError) {
        func failed(_ what: String) -> SetupError {
            SetupError(.verificationFailed, "setup's edit of \(original.configPath) would not mean what it should (\(what)); "
                + "nothing was written. Please report this with the layout of the profile (not its keys).")
        }
        let edited = try DelegationSetup.reparsed(original, editedBytes, failed: failed)
        let changed = Set(pairs.map(\.profile))
        let added = Set(pairs.map(\.roleProfile))
        guard Set(edited.profileNames) == Set(original.profileNames).union(added) else {
            throw failed("the set of profiles differs")
        }
        for name in original.profileNames where !changed.contains(name) {
            guard meaning(edited.profile(named: name)?.values) == meaning(original.profile(named: name)?.values) else {
                throw failed("profile \"\(name)\" changed")
            }
        }
        for section in original.config?.sections ?? [] where ConfigFiles.profileName(ofConfigSection: section.name) == nil {
            guard meaning(edited.config?.section(named: section.name)?.values) == meaning(section.values) else {
                throw failed("section [\(section.name)] changed")
            }
        }
        for (name, roleName) in pairs {
            let before = meaning(original.profile(named: name)?.values)
            var expectedProfile = before.filter { !isRoleKey($0.key) && !$0.key.hasPrefix("credential_process") }
            expectedProfile["credential_process"] = credentialProcessCommand(programPath: programPath, roleProfile: roleName)
            guard meaning(edited.profile(named: name)?.values) == expectedProfile else {
                throw failed("profile \"\(name)\" would not be exactly the delegating half")
            }
            // What the config file's section says (the one botocore uses: the last): only those
            // lines are copied, so a region in the credentials file stays where it is.
            let section = original.config?.sections.last { ConfigFiles.profileName(ofConfigSection: $0.name) == name }
            let expectedRole = meaning(section?.values).filter { isRoleKey($0.key) || isSharedKey($0.key) }
            guard meaning(edited.profile(named: roleName)?.values) == expectedRole else {
                throw failed("profile \"\(roleName)\" would not hold exactly the role settings")
            }
        }
    }

    static func isRoleKey(_ flattened: String) -> Bool {
        roleKeys.contains(String(flattened.prefix { $0 != "." }))
    }

    static func isSharedKey(_ flattened: String) -> Bool {
        sharedKeys.contains(String(flattened.prefix { $0 != "." }))
    }

    /// What a set of values means, without where it was written: `key` → text, and
    /// `key.name` → text for a nested block.
    static func meaning(_ values: [String: INIValue]?) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in values ?? [:] {
            out[key] = value.text
            for (name, sub) in value.subValues ?? [:] { out[key + "." + name] = sub.text }
        }
        return out
    }
}
