#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AWSConfig
import CredentialCache
import StscacheSupport
import Credentials

/// One thing `doctor` found: what is wrong (or, for `info`, what is so) and how to fix it.
package struct DoctorFinding: Equatable, Sendable {
    package enum Severity: String, Sendable {
        /// Calls fail, or stscache is bypassed, until it is fixed.
        case error
        /// Works now, but is unsafe or will fail elsewhere.
        case warning
        /// For the record (which key store is used); needs nothing.
        case info
    }

    package var severity: Severity
    package var profile: String?
    /// `doctor.<kebab-case>`, stable for scripts.
    package var code: String
    package var message: String
    package var fix: String

    package init(_ severity: Severity, _ code: String, profile: String? = nil, _ message: String, fix: String) {
        self.severity = severity
        self.profile = profile
        self.code = "doctor." + code
        self.message = message
        self.fix = fix
    }

    package var needsFixing: Bool { severity != .info }
}

/// The checks behind `stscache doctor`. The config checks are pure (files and environment in,
/// findings out); the directory and key-store checks look at the disk but create nothing.
package enum Doctor {
    // MARK: - Config

    /// Findings about the profiles (all of them, or `only` and the profile it delegates to).
    ///
    /// `storedProfiles`: the profiles with keys in stscache's long-term store (`stscache keys`),
    /// read by the caller; a source with no keys in the files is fine when it is among them.
    package static func configFindings(files: ConfigFiles, environment: [String: String], policy: ResolutionPolicy,
                                       only: String? = nil, storedProfiles: Set<String> = []) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let resolver = ProfileResolver(files: files, environment: environment, policy: policy)
        let delegations: [String: String] = Dictionary(uniqueKeysWithValues: files.profileNames.compactMap { name in
            files.delegatedProfile(forProfile: name).map { (name, $0) }
        })
        let delegationTargets = Set(delegations.values)
        let sourceNames = Set(files.profileNames.compactMap { files.profile(named: $0)?.string("source_profile") })

        var selected = files.profileNames
        if let only {
            guard files.profile(named: only) != nil else {
                let fix = files.profileSuggestion(for: only).map { "did you mean \"\($0)\"? stscache doctor --profile \($0)" }
                    ?? "check the name; stscache doctor without --profile checks every profile."
                return [DoctorFinding(.error, "unknown-profile", profile: only,
                                      "profile \"\(only)\" is in neither \(files.configPath) nor \(files.credentialsPath).",
                                      fix: fix)]
            }
            // Its delegation target is checked through it (the role findings below).
            selected = [only]
        }

        var resolvedRoles: Set<String> = []
        for name in selected {
            guard let profile = files.profile(named: name) else { continue }
            if let target = delegations[name] {
                findings += delegationFindings(name, target: target, profile: profile, files: files,
                                               delegations: delegations, environment: environment)
                if files.profile(named: target)?.string("role_arn") != nil, !resolvedRoles.contains(target) {
                    resolvedRoles.insert(target)
                    findings += roleFindings(target, resolver: resolver, files: files, storedProfiles: storedProfiles)
                } else if let targetProfile = files.profile(named: target), !resolvedRoles.contains(target) {
                    resolvedRoles.insert(target)
                    findings += identityCenterFindings(targetProfile, resolver: resolver)
                }
            } else if profile["sso_account_id"] != nil || profile["sso_role_name"] != nil {
                if !resolvedRoles.contains(name) {
                    resolvedRoles.insert(name)
                    findings += identityCenterFindings(profile, resolver: resolver)
                }
            } else if profile.string("role_arn") != nil {
                if !delegationTargets.contains(name) && !sourceNames.contains(name) {
                    findings.append(DoctorFinding(
                        .warning, "cli-resolves-role", profile: name,
                        "\(profile.location): profile \"\(name)\" has role_arn, and no profile hands it to stscache: "
                            + "aws --profile \(name) (and every SDK) assumes the role itself, so stscache's cache is not used "
                            + "for it.",
                        fix: "stscache setup --profile \(name) (moves the role to \(name)-role and makes \(name) delegate to "
                            + "stscache); if \(name) is only ever used through stscache, ignore this."))
                }
                if !resolvedRoles.contains(name) {
                    resolvedRoles.insert(name)
                    findings += roleFindings(name, resolver: resolver, files: files, storedProfiles: storedProfiles)
                }
            }
        }
        if only == nil { findings += plaintextKeyFindings(files: files, storedProfiles: storedProfiles) }
        return findings
    }

    /// A delegating profile: the program it runs, what would shadow it, loops, a missing target.
    private static func delegationFindings(_ name: String, target: String, profile: Profile, files: ConfigFiles,
                                           delegations: [String: String], environment: [String: String]) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        let at = profile["credential_process"]?.location.description ?? profile.location.description
        if let command = profile.string("credential_process"), let program = shellWords(command)?.first {
            switch ExecutableSearch.locate(program, environment: environment) {
            case .found: break
            case .notFound, .notExecutable:
                findings.append(DoctorFinding(
                    .error, "missing-program", profile: name,
                    "\(at): profile \"\(name)\" runs \(program), which is not an executable file"
                        + (program.contains("/") ? "" : " in PATH") + ", so every call with this profile fails.",
                    fix: "point credential_process at the installed stscache (command -v stscache), e.g. by running "
                        + "stscache setup again on a fresh copy, or by editing the path."))
            }
        }
        // botocore tries role_arn, then the credentials file's keys, before credential_process.
        if profile.string("role_arn") != nil {
            findings.append(DoctorFinding(
                .error, "shadowed-delegation", profile: name,
                "\(profile.location): profile \"\(name)\" delegates to stscache but also has role_arn, which the AWS CLI "
                    + "uses first: stscache is bypassed.",
                fix: "move role_arn and the other role settings to [profile \(target)] (or run stscache setup on a copy "
                    + "without the credential_process line)."))
        }
        if let section = files.credentials?.section(named: name),
           section["aws_access_key_id"] != nil || section["aws_secret_access_key"] != nil {
            findings.append(DoctorFinding(
                .error, "shadowed-delegation", profile: name,
                "\(section.location): [\(name)] in \(files.credentialsPath) has keys, which the AWS CLI uses before "
                    + "credential_process: stscache is bypassed.",
                fix: "remove the keys from [\(name)] in \(files.credentialsPath) (keep them under a source profile's "
                    + "name, or import them with stscache keys import \(name))."))
        }
        // prod -> prod-role -> ... : a target that hands back to stscache instead of being a role.
        var chain = [name]
        var current = target
        while true {
            if chain.contains(current) {
                findings.append(DoctorFinding(
                    .error, "delegation-loop", profile: name,
                    "profile \"\(name)\" delegates in a loop: \((chain + [current]).joined(separator: " -> ")); "
                        + "credential_process would start stscache again and again.",
                    fix: "give the last profile of the chain the role itself (role_arn and source_profile) instead of a "
                        + "credential_process that calls stscache."))
                break
            }
            chain.append(current)
            guard let next = files.profile(named: current) else {
                let fix = files.profileSuggestion(for: current)
                    .map { "did you mean \"\($0)\"? Correct --profile \(current) in \(chain[chain.count - 2])'s credential_process." }
                    ?? "add [profile \(current)] with role_arn and source_profile, or correct --profile in "
                        + "\(chain[chain.count - 2])'s credential_process."
                findings.append(DoctorFinding(
                    .error, "missing-target", profile: name,
                    "profile \"\(name)\" delegates to stscache with --profile \(current), which is not in "
                        + "\(files.configPath) or \(files.credentialsPath).",
                    fix: fix))
                break
            }
            // An IAM Identity Center profile is a target too (its session comes from the portal).
            if next.string("role_arn") != nil || next["sso_account_id"] != nil || next["sso_role_name"] != nil { break }
            guard let further = delegations[current] else {
                findings.append(DoctorFinding(
                    .error, "target-not-a-role", profile: name,
                    "\(next.location): profile \"\(current)\", which \"\(name)\" hands to stscache, has no role_arn.",
                    fix: "put role_arn and source_profile (or credential_source) in [profile \(current)]."))
                break
            }
            current = further
        }
        return findings
    }

    /// A role profile: does it resolve (sources, keys, loops), and will STS accept its duration.
    private static func roleFindings(_ name: String, resolver: ProfileResolver, files: ConfigFiles,
                                     storedProfiles: Set<String>) -> [DoctorFinding] {
        do {
            let role = try resolver.resolve(profile: name)
            if let stored = storedSource(role.source), !storedProfiles.contains(stored) {
                // Resolution allows a keyless source (its keys may be stored); they are not.
                let inFiles = files.profile(named: stored) != nil
                if !inFiles, let near = NameSuggestion.closest(to: stored, among: files.profileNames + storedProfiles.sorted()) {
                    // A typo: keys stored under it would make it stick. The fix is the name.
                    let user = sourceUser(of: stored, from: name, files: files)
                    let at = files.profile(named: user)?["source_profile"]?.location.description
                    return [DoctorFinding(
                        .error, "missing-source", profile: user,
                        (at.map { "\($0): " } ?? "") + "profile \"\(user)\" has source_profile = \(stored), which is in neither "
                            + "\(files.configPath) nor \(files.credentialsPath) nor stscache's key store.",
                        fix: "did you mean \"\(near)\"? Correct source_profile in [profile \(user)].")]
                }
                return [DoctorFinding(
                    .error, inFiles ? "keyless-source" : "missing-source", profile: stored,
                    "profile \"\(stored)\", the source of \"\(name)\", has no keys: "
                        + (inFiles ? "none in the config files" : "it is in neither \(files.configPath) nor \(files.credentialsPath)")
                        + ", and none in stscache's key store.",
                    fix: inFiles
                        ? "stscache keys add \(stored) (stores them encrypted), or give it aws_access_key_id/aws_secret_access_key "
                            + "in the credentials file or a credential_process."
                        : "stscache keys add \(stored), or add the source profile (with its keys) or correct source_profile.")]
            }
            if role.isChained, let duration = role.durationSeconds, duration > RoleProfile.chainedDurationLimit {
                let at = files.profile(named: name)?["duration_seconds"]?.location.description ?? name
                return [DoctorFinding(
                    .warning, "duration-chained", profile: name,
                    "\(at): profile \"\(name)\" asks for duration_seconds = \(duration), but it is assumed with another "
                        + "role's session (role chaining), for which STS allows at most 3600: the AWS CLI would fail, and "
                        + "stscache asks for 3600.",
                    fix: "set duration_seconds = 3600 (or less) in [profile \(name)].")]
            }
            return []
        } catch {
            return [configErrorFinding(error, profile: name)]
        }
    }

    /// An IAM Identity Center profile: do its settings and its sso-session resolve (the same
    /// check `credential-process` makes before it reads a token).
    private static func identityCenterFindings(_ profile: Profile, resolver: ProfileResolver) -> [DoctorFinding] {
        do {
            _ = try resolver.identityCenterSettings(of: profile)
            return []
        } catch {
            return [configErrorFinding(error, profile: profile.name)]
        }
    }

    /// A resolution error as a finding. A message that ends in its own "did you mean" fix is
    /// split there, so the line says it once, after "Fix:".
    private static func configErrorFinding(_ error: ConfigError, profile: String) -> DoctorFinding {
        var (code, fix) = configErrorFinding(error.code, profile: profile)
        var message = oneLine(error.message)
        if let range = message.firstRange(of: "; did you mean ") {
            fix = String(message[message.index(range.lowerBound, offsetBy: 2)...])
            message = String(message[..<range.lowerBound]) + "."
        }
        return DoctorFinding(.error, code, profile: error.profile ?? profile, message, fix: fix)
    }

    private static func configErrorFinding(_ code: ConfigError.Code, profile: String) -> (String, String) {
        switch code {
        case .unknownProfile: return ("missing-source", "add the source profile (with its keys) or correct source_profile.")
        case .sourceWithoutKeys: return ("keyless-source", "give the source profile keys (stscache keys import, or "
            + "aws_access_key_id/aws_secret_access_key in the credentials file) or a credential_process.")
        case .partialKeys: return ("partial-keys", "add the missing half of the key pair to the source profile.")
        case .sourceCycle: return ("source-loop", "point one source_profile in the loop at a profile holding keys.")
        case .noSource: return ("no-source", "add source_profile or credential_source to [profile \(profile)].")
        case .invalidDuration: return ("duration-refused", "set duration_seconds between 900 and 43200 (3600 is an hour).")
        case .sourceConflict: return ("source-conflict", "keep only one of source_profile and credential_source.")
        default: return (code.rawValue, "fix the line the message names.")
        }
    }

    /// The profile in `role`'s chain whose `source_profile` names `source`.
    private static func sourceUser(of source: String, from role: String, files: ConfigFiles) -> String {
        var current = role
        var seen: Set<String> = []
        while seen.insert(current).inserted, let next = files.profile(named: current)?.string("source_profile") {
            if next == source { return current }
            current = next
        }
        return role
    }

    /// The profile at the root of a chain whose keys are to come from stscache's store.
    private static func storedSource(_ source: CredentialSource) -> String? {
        switch source {
        case .storedKeys(let profile): return profile
        case .role(let role): return storedSource(role.source)
        default: return nil
        }
    }

    /// Long-term keys (an access key id without a session token) written in plain text; an
    /// error when stscache's store holds keys for the same profile (stscache refuses to pick).
    private static func plaintextKeyFindings(files: ConfigFiles, storedProfiles: Set<String>) -> [DoctorFinding] {
        var findings: [DoctorFinding] = []
        for (document, path, isConfig) in [(files.credentials, files.credentialsPath, false), (files.config, files.configPath, true)] {
            for section in document?.sections ?? [] {
                guard let keyId = section["aws_access_key_id"], section["aws_secret_access_key"] != nil,
                      section["aws_session_token"] == nil, section["aws_security_token"] == nil else { continue }
                let name = isConfig ? ConfigFiles.profileName(ofConfigSection: section.name) ?? section.name : section.name
                let longTerm = keyId.text.hasPrefix("AKIA")
                if storedProfiles.contains(name) {
                    findings.append(DoctorFinding(
                        .error, "stored-and-plaintext", profile: name,
                        "\(keyId.location): profile \"\(name)\" has keys both here and in stscache's key store; stscache "
                            + "refuses to choose between them, so its sessions fail at their next refresh.",
                        fix: "stscache keys import \(name) (keeps these keys, in the store), or stscache keys remove \(name)."))
                    continue
                }
                findings.append(DoctorFinding(
                    .warning, "plaintext-keys", profile: name,
                    "\(keyId.location): [\(section.name)] holds \(longTerm ? "long-term " : "")access keys in plain text; "
                        + "anything that can read \(path) can use them.",
                    fix: isConfig
                        ? "stscache keys add \(name) (stores them encrypted), then delete the two key lines from \(path)."
                        : "stscache keys import \(name) (moves them into stscache's encrypted store; the key lines leave \(path))."))
            }
        }
        return findings
    }

    // MARK: - Disk

    /// The cache directory, and the key file's directory when the file key store is the one in
    /// use: owner and mode (nothing is created).
    package static func directoryFindings(environment: [String: String], home: String) -> [DoctorFinding] {
        let cache = CacheDirectory.resolvePath(environment: environment, home: home)
        var findings = directoryFinding(cache, what: "cache directory", code: "cache-dir", refused: 0o077)
        let store = try? KeyStoreSelection.make(environment: environment, home: home, verbose: false).store
        guard store?.name == "file" else { return findings }
        let keyFile = FileKeyStore.defaultPath(environment: environment, home: home)
        let keyDirectory = splitPath(keyFile).directory
        findings += directoryFinding(keyDirectory, what: "key directory", code: "key-dir", refused: 0o022)
        return findings
    }

    /// `refused`: the mode bits with which stscache itself refuses the directory (the cache:
    /// any access by others, as `CacheDirectory`; the key directory: write by others, as
    /// `FileKeyStore`). Other bits beyond 0700 are a warning: stscache creates both 0700.
    private static func directoryFinding(_ path: String, what: String, code: String, refused: mode_t) -> [DoctorFinding] {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            return errno == ENOENT ? [] : [DoctorFinding(.error, code + "-unreadable",
                "the \(what) \(path) cannot be examined: \(String(cString: strerror(errno))).",
                fix: "check the permissions of its parent directories.")]
        }
        if info.isSymlink {
            return [DoctorFinding(.error, code + "-symlink", "the \(what) \(path) is a symbolic link, which stscache refuses.",
                                  fix: "replace it with a real directory (mkdir -m 700 \(path)).")]
        }
        guard info.isDirectory else {
            return [DoctorFinding(.error, code + "-not-directory", "the \(what) \(path) is not a directory.",
                                  fix: "move it away; stscache creates the directory itself.")]
        }
        if info.st_uid != geteuid() {
            return [DoctorFinding(.error, code + "-owner", "the \(what) \(path) belongs to uid \(info.st_uid), not you "
                + "(uid \(geteuid())); stscache refuses it.", fix: "remove it (stscache recreates it) or chown it to yourself.")]
        }
        let mode = String(info.permissionBits, radix: 8)
        if info.permissionBits & refused != 0 {
            return [DoctorFinding(.error, code + "-mode", "the \(what) \(path) has mode \(mode): other users can reach "
                + "it, and stscache refuses it.", fix: "chmod 700 \(path)")]
        }
        if info.permissionBits & 0o077 != 0 {
            return [DoctorFinding(.warning, code + "-mode", "the \(what) \(path) has mode \(mode): other users can list "
                + "it (stscache creates it 0700; the files in it stay 0600).", fix: "chmod 700 \(path)")]
        }
        return []
    }

    /// Which key store is used, and whether its key loads. Never creates a key.
    package static func keyStoreFindings(environment: [String: String], home: String) -> [DoctorFinding] {
        let selection: KeyStoreSelection
        do {
            selection = try KeyStoreSelection.make(environment: environment, home: home, verbose: true)
        } catch {
            return [DoctorFinding(.error, "key-store", oneLine(error.message),
                                  fix: "set STSCACHE_KEY_STORE to keyring, file or env (env needs STSCACHE_CACHE_KEY).")]
        }
        let store = selection.store
        do {
            if try store.loadKey() == nil {
                return [DoctorFinding(.info, "key-store", "key store: \(store.name) (\(store.location)); no key yet, "
                    + "created on first use.", fix: "nothing to do.")]
            }
            return [DoctorFinding(.info, "key-store", "key store: \(store.name) (\(store.location)); the key loads.",
                                  fix: "nothing to do.")]
        } catch {
            return [DoctorFinding(.error, "key-store-broken", "key store \(store.name) (\(store.location)) does not "
                + "work: \(describe(error))", fix: "fix what the message names, or stscache purge --all to start over "
                + "with a new key (cached sessions are then fetched again).")]
        }
    }

    // MARK: - Output

    /// One line per finding: `severity: [profile] message Fix: fix`.
    package static func text(_ findings: [DoctorFinding]) -> String {
        var out = ""
        for finding in findings {
            let profile = finding.profile.map { "[\($0)] " } ?? ""
            out += "\(finding.severity.rawValue): \(profile)\(TerminalText.escaped(finding.message, backslashes: false))"
                + (finding.needsFixing ? " Fix: \(TerminalText.escaped(finding.fix, backslashes: false))" : "") + "\n"
        }
        if !findings.contains(where: \.needsFixing) { out += "No problems found.\n" }
        return out
    }

    /// A JSON array of {severity, profile, code, message, fix}.
    package static func json(_ findings: [DoctorFinding]) -> String {
        let items = findings.map { finding in
            "{\"severity\":\(JSONText.quoted(finding.severity.rawValue)),"
                + "\"profile\":\(finding.profile.map(JSONText.quoted) ?? "null"),"
                + "\"code\":\(JSONText.quoted(finding.code)),"
                + "\"message\":\(JSONText.quoted(finding.message)),"
                + "\"fix\":\(JSONText.quoted(finding.fix))}"
        }
        return "[" + items.joined(separator: ",") + "]\n"
    }
}
