import StscacheSupport

/// Turns a profile name into a `RoleProfile`, following botocore's `AssumeRoleProvider` rules
/// (role chaining, self-sourcing, cycle detection) and the settings precedence in the product
/// brief. Pure: files and environment are passed in, and so is what botocore leaves to the
/// program (`ResolutionPolicy`).
public struct ProfileResolver: Sendable {
    public let files: ConfigFiles
    public let environment: [String: String]
    private let policy: ResolutionPolicy

    /// `duration_seconds` bounds STS accepts for AssumeRole.
    public static let durationRange = 900...43200
    public static let credentialSources = ["Environment", "Ec2InstanceMetadata", "EcsContainer"]

    public init(files: ConfigFiles, environment: [String: String], policy: ResolutionPolicy) {
        self.files = files
        self.environment = environment
        self.policy = policy
    }

    /// The role profile `name` selects. A profile without a role whose `credential_process` runs
    /// the program for another profile (the delegating pattern, `ResolutionPolicy.delegatedProfile`)
    /// stands for that profile's role, as it does for the AWS CLI, which runs the command.
    public func resolve(profile name: String) throws(ConfigError) -> RoleProfile {
        guard let profile = files.profile(named: name) else {
            throw ConfigError(.unknownProfile, unknownProfileMessage(name), profile: name)
        }
        return try resolveRole(profile, visited: [name], selected: true)
    }

    // MARK: - Role and source

    /// `selected`: the profile asked for, or one it delegates to (the environment's web identity
    /// settings apply to it, and its delegation is followed); false for a source profile.
    private func resolveRole(_ profile: Profile, visited: [String], selected: Bool = false) throws(ConfigError) -> RoleProfile {
        // First, so that the environment's web identity settings do not claim a profile whose
        // role is elsewhere (botocore, running the command, would never call it then).
        if selected, profile.string("role_arn") == nil,
           let target = profile.string("credential_process").flatMap(policy.delegatedProfile) {
            return try delegatedRole(profile, to: target, visited: visited)
        }
        if let webIdentity = try webIdentityRole(profile, topLevel: selected) {
            return webIdentity
        }
        guard let roleArn = profile.string("role_arn") else {
            // botocore's AssumeRoleProvider comes before its SSOProvider: role_arn wins.
            if let identityCenter = try identityCenterRole(profile) {
                try refuseCallerScope(in: profile, kind: "an Identity Center profile (its credentials come from the portal")
                return identityCenter
            }
            if let login = try loginSessionRole(profile) {
                try refuseCallerScope(in: profile, kind: "an aws login session (its credentials are the sign-in's own")
                return login
            }
            throw ConfigError(.missingRoleArn, at: profile.location, of: profile,
                "\(describe(profile)) has no role_arn, so there is no role to assume; "
                    + "add role_arn = arn:aws:iam::ACCOUNT:role/NAME to \(profile.header).")
        }

        let source: CredentialSource
        switch (profile["source_profile"], profile["credential_source"]) {
        case let (sourceProfile?, credentialSource?):
            throw ConfigError(
                .sourceConflict,
                "\(profile.location): \(describe(profile)) sets both source_profile (\(sourceProfile.location)) and credential_source "
                    + "(\(credentialSource.location)); keep exactly one of them.",
                profile: profile.name, location: sourceProfile.location)
        case (nil, nil):
            throw ConfigError(.noSource, at: profile.location, of: profile,
                "\(describe(profile)) has role_arn but neither source_profile nor credential_source, so nothing "
                    + "can call AssumeRole; add source_profile = <profile with keys> or credential_source = "
                    + "Environment | Ec2InstanceMetadata | EcsContainer to \(profile.header) "
                    + "(or web_identity_token_file to assume it with a web identity token).")
        case let (nil, credentialSource?):
            source = try self.credentialSource(credentialSource, of: profile)
        case let (sourceProfile?, nil):
            source = try resolveSourceProfile(sourceProfile, of: profile, visited: visited)
        }

        try checkRoleArn(roleArn, of: profile)
        var role = RoleProfile(
            name: profile.name,
            roleArn: roleArn,
            roleSessionName: try checked("role_session_name", STSParameterRules.roleSessionName, of: profile)
                ?? policy.defaultSessionName(),
            externalId: try checked("external_id", STSParameterRules.externalId, of: profile),
            durationSeconds: try duration(of: profile),
            mfaSerial: try checked("mfa_serial", STSParameterRules.serialNumber, of: profile),
            mfaProcess: profile.string("mfa_process"),
            mfaSession: try mfaSession(for: profile, source: source),
            region: Self.region(of: profile, environment: environment),
            endpointURL: try endpoint(of: profile),
            stsRegionalEndpoints: try Self.stsRegionalEndpoints(of: profile, environment: environment),
            caBundle: Self.caBundle(of: profile, environment: environment),
            source: source)
        role.sessionParameters = try sessionParameters(of: profile, webIdentity: false)
        role.callerScope = try callerScope(of: profile, parameters: role.sessionParameters)
        return role
    }

    /// The delegating pattern, followed here rather than by running the command: `profile`
    /// (selected, without a role) hands the program `target`. One that comes back to a profile
    /// on the way is refused, since each run of the command would start the next.
    private func delegatedRole(_ profile: Profile, to target: String, visited: [String]) throws(ConfigError) -> RoleProfile {
        let at = profile["credential_process"]?.location ?? profile.location
        if target == profile.name {
            throw ConfigError(.sourceCycle, at: at, of: profile,
                "the credential_process of \(describe(profile)) runs \(policy.programName) for \(describe(profile)) "
                    + "itself, so each run would start the next; point its --profile at the profile that holds the role "
                    + "(role_arn and a source; setup names it \(profile.name)-role).")
        }
        if visited.contains(target) {
            throw ConfigError(.sourceCycle, at: at, of: profile,
                "\(describe(profile)) hands \(policy.programName) back to profile \"\(target)\" "
                    + "(\((visited + [target]).joined(separator: " -> "))), so each run would start the next; give the "
                    + "last profile of the chain the role (role_arn and a source) instead of a credential_process "
                    + "that calls \(policy.programName).")
        }
        guard let next = files.profile(named: target) else {
            let fix = files.profileSuggestion(for: target).map { "did you mean \"\($0)\"? Correct --profile in the line." }
                ?? "add [profile \(target)] with role_arn and a source, or correct --profile in the line."
            throw ConfigError(.unknownProfile, at: at, of: profile,
                "the credential_process of \(describe(profile)) runs \(policy.programName) for profile \"\(target)\", "
                    + "which is not in \(files.searchedFilesDescription()); " + fix)
        }
        return try resolveRole(next, visited: visited + [target], selected: true)
    }

    /// botocore's `AssumeRoleWithWebIdentityProvider`: a profile with `web_identity_token_file`
    /// (its `source_profile`/`credential_source`, if any, are then ignored), or the profile asked
    /// for, naming no other source, when `AWS_WEB_IDENTITY_TOKEN_FILE` is set. For the profile
    /// asked for, `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN` and `AWS_ROLE_SESSION_NAME` win
    /// over the profile's keys, as in botocore; a source profile reads its own keys only
    /// (botocore resolves source profiles with environment variables disabled).
    private func webIdentityRole(_ profile: Profile, topLevel: Bool) throws(ConfigError) -> RoleProfile? {
        let fromProfile = profile.string("web_identity_token_file")
        let fromEnvironment = topLevel ? env("AWS_WEB_IDENTITY_TOKEN_FILE") : nil
        let namesOtherSource = profile["source_profile"] != nil || profile["credential_source"] != nil
        guard fromProfile != nil || (fromEnvironment != nil && !namesOtherSource) else { return nil }
        let tokenFile = fromEnvironment ?? fromProfile!
        guard let roleArn = (topLevel ? env("AWS_ROLE_ARN") : nil) ?? profile.string("role_arn") else {
            let at = profile["web_identity_token_file"]?.location ?? profile.location
            throw ConfigError(
                .missingRoleArn,
                "\(at): \(describe(profile)) assumes a role with a web identity token (\(tokenFile)) but names no "
                    + "role: add role_arn = arn:aws:iam::ACCOUNT:role/NAME to \(profile.header)"
                    + (topLevel ? " or export AWS_ROLE_ARN." : "."),
                profile: profile.name, location: at)
        }
        if topLevel, let fromEnvironment = env("AWS_ROLE_ARN") {
            try checkEnvironment("AWS_ROLE_ARN", fromEnvironment, of: profile,
                                 problem: STSParameterRules.roleArnProblem, form: STSParameterRules.roleArnForm)
        } else {
            try checkRoleArn(roleArn, of: profile)
        }
        let sessionName: String
        if topLevel, let fromEnvironment = env("AWS_ROLE_SESSION_NAME") {
            let rule = STSParameterRules.roleSessionName
            try checkEnvironment("AWS_ROLE_SESSION_NAME", fromEnvironment, of: profile, problem: rule.problem, form: rule.form)
            sessionName = fromEnvironment
        } else {
            sessionName = try checked("role_session_name", STSParameterRules.roleSessionName, of: profile)
                ?? policy.defaultSessionName()
        }
        var role = RoleProfile(
            name: profile.name,
            roleArn: roleArn,
            roleSessionName: sessionName,
            durationSeconds: try duration(of: profile),
            region: Self.region(of: profile, environment: environment),
            endpointURL: try endpoint(of: profile),
            stsRegionalEndpoints: try Self.stsRegionalEndpoints(of: profile, environment: environment),
            caBundle: Self.caBundle(of: profile, environment: environment),
            source: .webIdentity(tokenFile: tokenFile))
        role.sessionParameters = try sessionParameters(of: profile, webIdentity: true)
        role.callerScope = try callerScope(of: profile, parameters: role.sessionParameters)
        return role
    }

    /// Chooses an MFA-authenticated GetSessionToken session (see `MFASessionSettings`).
    private func mfaSession(for profile: Profile, source: CredentialSource) throws(ConfigError) -> MFASessionSettings? {
        let sourceProfile: Profile?
        switch source {
        case .staticKeys(let name, let keys) where keys.sessionToken == nil:
            sourceProfile = files.profile(named: name)
        case .storedKeys(let name):
            // Stored keys are long-term keys (the store holds no session tokens).
            sourceProfile = files.profile(named: name)
        case .environment(let keys) where keys.sessionToken == nil:
            sourceProfile = nil
        default:
            return nil
        }
        let settings: MFASessionSettings
        if let sourceProfile, let serial = try checked("mfa_serial", STSParameterRules.serialNumber, of: sourceProfile) {
            settings = MFASessionSettings(
                serialNumber: serial,
                mfaProcess: sourceProfile.string("mfa_process") ?? profile.string("mfa_process"),
                serialProfile: sourceProfile.name)
        } else if let serial = try checked("mfa_serial", STSParameterRules.serialNumber, of: profile) {
            settings = MFASessionSettings(
                serialNumber: serial,
                mfaProcess: profile.string("mfa_process") ?? sourceProfile?.string("mfa_process"),
                serialProfile: profile.name)
        } else {
            return nil
        }
        var result = settings
        result.durationSeconds = try mfaSessionDuration(sourceProfile: sourceProfile, roleProfile: profile)
        return result
    }

    /// `mfa_session_duration` on the source profile, then the role profile, then the policy's
    /// default: seconds, or a number with `s`, `m` or `h`.
    private func mfaSessionDuration(sourceProfile: Profile?, roleProfile: Profile) throws(ConfigError) -> Int? {
        for profile in [sourceProfile, roleProfile].compactMap({ $0 }) {
            guard let value = profile["mfa_session_duration"], !value.text.isEmpty else { continue }
            guard let seconds = MFASessionSettings.duration(value.text) else {
                throw ConfigError(.invalidSetting, at: value.location, of: profile,
                    "mfa_session_duration = \(value.text) in \(describe(profile)) must be a duration "
                        + "\(MFASessionSettings.durationLimits), e.g. 43200 or 12h.")
            }
            return seconds
        }
        return try policy.defaultMFASessionDuration(roleProfile.name, environment)
    }

    private func resolveSourceProfile(_ reference: INIValue, of profile: Profile,
                                      visited: [String]) throws(ConfigError) -> CredentialSource {
        let sourceName = reference.text
        guard let source = files.profile(named: sourceName) else {
            if policy.sourcesMayHaveStoredKeys {
                // Its keys may be in the program's store; whether they are is known only when read.
                return .storedKeys(profile: sourceName)
            }
            let fix = files.profileSuggestion(for: sourceName).map { "did you mean \"\($0)\"? Correct source_profile." }
                ?? "add it (with its keys, usually as [\(sourceName)] in \(files.credentialsPath)) or correct source_profile."
            throw ConfigError(.unknownProfile, at: reference.location, of: profile,
                "\(describe(profile)) has source_profile = \(sourceName), but profile "
                    + "\"\(sourceName)\" is not in \(files.searchedFilesDescription()); " + fix)
        }
        if visited.contains(sourceName) {
            // botocore lets a profile name itself only to use its own keys for its own role.
            let selfSourcedWithKeys = sourceName == profile.name && hasStaticKeyMarker(source)
            if !selfSourcedWithKeys {
                let cycle = (visited + [sourceName]).joined(separator: " -> ")
                throw ConfigError(.sourceCycle, at: reference.location, of: profile,
                    "source_profile links form a cycle: \(cycle). Point one of these "
                        + "profiles' source_profile at a profile holding keys (aws_access_key_id and "
                        + "aws_secret_access_key), or use credential_source.")
            }
        }
        return try sourceCredentials(source, for: profile, visited: visited + [sourceName])
    }

    /// What a source profile provides, in botocore's order: static keys win over a role (the
    /// source's own role settings are then ignored), a role means chaining, then `credential_process`.
    private func sourceCredentials(_ source: Profile, for profile: Profile,
                                   visited: [String]) throws(ConfigError) -> CredentialSource {
        if hasStaticKeyMarker(source) {
            // botocore tries the credentials file's keys, then an `aws login` session, then
            // credential_process, then the config file's keys.
            if !keysComeFromCredentialsFile(source), let login = try loginSessionRole(source) {
                return .role(login)
            }
            if let command = source.string("credential_process"), !keysComeFromCredentialsFile(source) {
                return try processSource(source, command: command, visited: visited)
            }
            return .staticKeys(profile: source.name, try staticKeys(of: source, for: profile))
        }
        // A role, or a web identity (role_arn + web_identity_token_file): either way a role session.
        if source.string("role_arn") != nil {
            return .role(try resolveRole(source, visited: visited))
        }
        // botocore's profile chain for a source profile tries SSO before credential_process.
        if let identityCenter = try identityCenterRole(source) {
            return .role(identityCenter)
        }
        if let login = try loginSessionRole(source) {
            return .role(login)
        }
        if let command = source.string("credential_process") {
            return try processSource(source, command: command, visited: visited)
        }
        if let tokenFile = source["web_identity_token_file"] {
            throw ConfigError(
                .missingRoleArn,
                "\(tokenFile.location): \(describe(source)), the source_profile of \"\(profile.name)\", has "
                    + "web_identity_token_file but no role_arn; add the role to assume with that token as role_arn.",
                profile: source.name, location: tokenFile.location)
        }
        let isPartialIdentityCenter = source["sso_session"] != nil || source["sso_start_url"] != nil
        // An unfinished Identity Center profile is a mistake to name, not a profile whose keys
        // might be in the store.
        if policy.sourcesMayHaveStoredKeys && !isPartialIdentityCenter { return .storedKeys(profile: source.name) }
        let ssoHint = isPartialIdentityCenter
            ? " (For IAM Identity Center it also needs sso_account_id and sso_role_name.)" : ""
        throw ConfigError(
            .sourceWithoutKeys,
            "\(source.location): \(describe(source)), the source_profile of \"\(profile.name)\", has no credentials: no "
                + "aws_access_key_id/aws_secret_access_key, no role_arn and no credential_process; add its keys "
                + "as [\(source.name)] in \(files.credentialsPath).\(ssoHint)",
            profile: source.name, location: source.location)
    }

    /// A `credential_process` source. One that runs the program itself for a profile already on
    /// the way here would loop (each run starting the next); refuse it before anything runs.
    private func processSource(_ source: Profile, command: String, visited: [String]) throws(ConfigError) -> CredentialSource {
        // The run resolves `target` as `resolve` does: following its delegations.
        if let target = policy.delegatedProfile(command), case let chain = delegationChain(from: target),
           let reached = chain.firstIndex(where: visited.contains) {
            let at = source["credential_process"]?.location ?? source.location
            let cycle = (visited + chain.prefix(through: reached)).joined(separator: " -> ")
            throw ConfigError(
                .sourceCycle,
                "\(at): the credential_process of \(describe(source)) runs \(policy.programName) for profile \"\(target)\", which "
                    + "needs \(describe(source)) itself: \(cycle). Give \(describe(source)) its own credentials "
                    + "(keys, or a credential_process that does not call \(policy.programName) back).",
                profile: source.name, location: at)
        }
        return .credentialProcess(profile: source.name, command: command)
    }

    /// `name`, then each profile it hands the program to (the delegating pattern), up to one
    /// with a role or a repeat.
    private func delegationChain(from name: String) -> [String] {
        var chain = [name]
        while let profile = files.profile(named: chain[chain.count - 1]), profile.string("role_arn") == nil,
              let next = profile.string("credential_process").flatMap(policy.delegatedProfile), !chain.contains(next) {
            chain.append(next)
        }
        return chain
    }

    private func hasStaticKeyMarker(_ profile: Profile) -> Bool {
        profile["aws_access_key_id"] != nil || profile["aws_secret_access_key"] != nil
    }

    private func keysComeFromCredentialsFile(_ profile: Profile) -> Bool {
        guard let section = files.credentials?.section(named: profile.name) else { return false }
        return section["aws_access_key_id"] != nil && section["aws_secret_access_key"] != nil
    }

    private func staticKeys(of source: Profile, for profile: Profile) throws(ConfigError) -> StaticKeys {
        let accessKeyId = source.string("aws_access_key_id")
        let secret = source.string("aws_secret_access_key")
        guard let accessKeyId, let secret else {
            let missing = accessKeyId == nil ? "aws_access_key_id" : "aws_secret_access_key"
            let present = accessKeyId == nil ? "aws_secret_access_key" : "aws_access_key_id"
            let at = source[present]?.location ?? source.location
            throw ConfigError(
                .partialKeys,
                "\(at): \(describe(source)), the source of \"\(profile.name)\", has \(present) but no \(missing); "
                    + "add \(missing) to [\(source.name)] in \(files.credentialsPath).",
                profile: source.name, location: at)
        }
        // aws_security_token is the legacy name botocore still reads.
        let token = source.string("aws_session_token") ?? source.string("aws_security_token")
        return StaticKeys(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: token)
    }

    private func credentialSource(_ value: INIValue, of profile: Profile) throws(ConfigError) -> CredentialSource {
        switch value.text {
        case "Environment":
            guard let accessKeyId = env("AWS_ACCESS_KEY_ID"), let secret = env("AWS_SECRET_ACCESS_KEY") else {
                let missing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter { env($0) == nil }
                throw ConfigError(.missingEnvironmentCredentials, at: value.location, of: profile,
                    "\(describe(profile)) has credential_source = Environment, but "
                        + "\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") not set; export "
                        + "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys).")
            }
            let token = env("AWS_SESSION_TOKEN") ?? env("AWS_SECURITY_TOKEN")
            return .environment(StaticKeys(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: token))
        case "Ec2InstanceMetadata":
            return .ec2InstanceMetadata
        case "EcsContainer":
            return .ecsContainer
        default:
            throw ConfigError(.unknownCredentialSource, at: value.location, of: profile,
                "credential_source = \(value.text) in \(describe(profile)) is not a source "
                    + "\(policy.programName) knows; use one of \(Self.credentialSources.joined(separator: ", ")) (spelled exactly so).")
        }
    }

    // MARK: - Settings

    /// `duration_seconds` in STS's range. A chained role may ask for more than STS's one-hour
    /// chaining limit: the broker caps the request and says so, rather than failing here.
    private func duration(of profile: Profile) throws(ConfigError) -> Int? {
        guard let value = profile["duration_seconds"], !value.text.isEmpty else { return nil }
        let range = Self.durationRange
        guard value.text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let seconds = Int(value.text), range.contains(seconds) else {
            throw ConfigError(.invalidDuration, at: value.location, of: profile,
                "duration_seconds = \(value.text) in \(describe(profile)) is not a whole number "
                    + "of seconds from \(range.lowerBound) to \(range.upperBound); set it in that range "
                    + "(3600 is one hour).")
        }
        return seconds
    }

    /// The profile's `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION` (set-but-empty counts
    /// as unset), else us-east-1: for role sessions and `stscache keys` alike.
    public static func region(of profile: Profile?, environment: [String: String]) -> String {
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        return profile?.string("region") ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1"
    }

    /// The profile's STS endpoint by botocore's configured-endpoint rules (`ConfiguredEndpoints`).
    private func endpoint(of profile: Profile) throws(ConfigError) -> String? {
        try ConfiguredEndpoints.url(for: .sts, profile: profile, files: files, environment: environment)
    }

    /// `AWS_CA_BUNDLE` (set-but-empty counts as unset), else the profile's `ca_bundle`
    /// (botocore: the variable wins): the one reader, for every call a profile makes (STS, IAM,
    /// the Identity Center portal and OIDC, the console's federation endpoint).
    public static func caBundle(of profile: Profile?, environment: [String: String]) -> String? {
        if let profile { return caBundle(of: profile, environment: environment) }
        return environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The same for a profile at hand (no copy into an Optional on the cache-hit path).
    public static func caBundle(of profile: Profile, environment: [String: String]) -> String? {
        if let bundle = environment["AWS_CA_BUNDLE"], !bundle.isEmpty { return bundle }
        return profile.string("ca_bundle")
    }

    /// The profile's `sts_regional_endpoints`, else `AWS_STS_REGIONAL_ENDPOINTS` (set-but-empty
    /// counts as unset): `regional` or `legacy`, anything else refused. The one reader of both,
    /// for role sessions and `stscache keys` alike.
    public static func stsRegionalEndpoints(of profile: Profile?, environment: [String: String]) throws(ConfigError)
        -> String?
    {
        let allowed = ["regional", "legacy"]
        if let profile, let value = profile["sts_regional_endpoints"], !value.text.isEmpty {
            guard allowed.contains(value.text) else {
                throw ConfigError(.invalidSetting, at: value.location, of: profile,
                    "sts_regional_endpoints = \(value.text) in profile \"\(profile.name)\" must be regional or legacy.")
            }
            return value.text
        }
        guard let value = environment["AWS_STS_REGIONAL_ENDPOINTS"], !value.isEmpty else { return nil }
        guard allowed.contains(value) else {
            throw ConfigError(
                .invalidSetting,
                "AWS_STS_REGIONAL_ENDPOINTS = \(value) must be regional or legacy; fix or unset it.",
                profile: profile?.name)
        }
        return value
    }

    // MARK: - AssumeRole parameters (STS's patterns, checked before any call)

    /// `key`'s value when set, after checking it against `rule`: an error names the key, its
    /// line and the allowed form, so a value STS would refuse never reaches it.
    private func checked(_ key: String, _ rule: STSParameterRules.Rule, of profile: Profile) throws(ConfigError) -> String? {
        guard let value = profile[key], !value.text.isEmpty else { return nil }
        if let problem = rule.problem(value.text) {
            throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "\(shown(key, value)) in \(describe(profile)) is not what STS accepts: \(problem)\(commentHint(value.text)); "
                    + "use \(rule.form).")
        }
        return value.text
    }

    private func checkRoleArn(_ arn: String, of profile: Profile) throws(ConfigError) {
        guard let problem = STSParameterRules.roleArnProblem(arn) else { return }
        let value = profile["role_arn"]
        throw ConfigError(.invalidRoleParameter, at: value?.location ?? profile.location, of: profile,
            "\(value.map { shown("role_arn", $0) } ?? "role_arn") in \(describe(profile)) is not an IAM role ARN: "
                + "\(problem)\(commentHint(arn)); write it as \(STSParameterRules.roleArnForm).")
    }

    private func checkEnvironment(_ name: String, _ value: String, of profile: Profile,
                                  problem: (String) -> String?, form: String) throws(ConfigError) {
        guard let problem = problem(value) else { return }
        throw ConfigError(.invalidRoleParameter,
            "\(name) = \(TerminalText.escaped(oneLine(value))) (used for \(describe(profile))) is not what STS accepts: "
                + "\(problem); set it to \(form), or unset it.",
            profile: profile.name)
    }

    /// `key = value` for a message, escaped; the key alone for a key whose value is not shown.
    private func shown(_ key: String, _ value: INIValue) -> String {
        TerminalText.escaped(oneLine(SettingText.shown(key, value)))
    }

    /// botocore keeps an inline `;` or `#` comment in the value: say so when one may be there.
    private func commentHint(_ text: String) -> String {
        guard text.contains(" ;") || text.contains(" #") || text.contains("\t;") || text.contains("\t#") else { return "" }
        return " (a comment after the value stays part of it: the AWS CLI and SDKs do not strip inline ; or # "
            + "comments, so put the comment on a line of its own)"
    }

    /// `source_identity`, `session_tags`, `transitive_session_tags` (aws-vault's keys, read as
    /// aws-vault reads them: spaces around items, keys and values trimmed), `policy_arns` and
    /// `policy`, each checked against STS's limits. Per profile, as aws-vault does: each hop of
    /// a chain sends its own. AssumeRoleWithWebIdentity takes the policies but neither tags nor
    /// a source identity (those come from the token), so a web identity profile with them is refused.
    private func sessionParameters(of profile: Profile, webIdentity: Bool) throws(ConfigError) -> SessionParameters {
        var parameters = SessionParameters()
        if webIdentity {
            for key in ["source_identity", "session_tags", "transitive_session_tags"] {
                guard let value = profile[key], !value.text.isEmpty else { continue }
                throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                    "\(key) in \(describe(profile)) cannot be used with a web identity token: AssumeRoleWithWebIdentity "
                        + "takes its tags and source identity from the token's claims; remove \(key) from \(profile.header).")
            }
        }
        parameters.sourceIdentity = try checked("source_identity", STSParameterRules.sourceIdentity, of: profile)
        if let source = parameters.sourceIdentity, source.lowercased().hasPrefix("aws:") {
            let value = profile["source_identity"]!
            throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "\(shown("source_identity", value)) in \(describe(profile)) starts with aws:, which STS reserves; "
                    + "choose another name.")
        }
        if let value = profile["session_tags"], !value.text.isEmpty {
            parameters.tags = try sessionTags(value, of: profile)
        }
        if let value = profile["transitive_session_tags"], !value.text.isEmpty {
            parameters.transitiveTagKeys = try transitiveKeys(value, tags: parameters.tags, of: profile)
        }
        if let value = profile["policy_arns"], !value.text.isEmpty {
            parameters.policyArns = try policyArns(value, of: profile)
        }
        if let value = profile["policy"], !value.text.isEmpty {
            if let problem = STSParameterRules.policyProblem(value.text) {
                throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                    "policy in \(describe(profile)) is not a session policy STS accepts: \(problem)\(commentHint(value.text)); "
                        + "write one JSON policy document of at most \(STSParameterRules.policyLength.upperBound) characters "
                        + "(it may continue on indented lines), or use policy_arns.")
            }
            parameters.policy = value.text
        }
        return parameters
    }

    /// `stscache_scoped_callers` and `stscache_caller_policy_arns` (`CallerScope`): both or
    /// neither, program names (not paths), policy ARNs as `policy_arns` takes them, and not in a
    /// profile that sets its own session policies (`SessionScope.refusal` says why). Two plain
    /// lookups for a profile without them: this runs on every cache hit.
    private func callerScope(of profile: Profile, parameters: SessionParameters) throws(ConfigError) -> CallerScope? {
        let callersKey = CallerScope.callersKey, arnsKey = CallerScope.policyArnsKey
        let callersValue = profile[callersKey].flatMap { $0.text.isEmpty ? nil : $0 }
        let arnsValue = profile[arnsKey].flatMap { $0.text.isEmpty ? nil : $0 }
        if callersValue == nil && arnsValue == nil { return nil }
        guard let callersValue, let arnsValue else {
            let (present, missing) = callersValue == nil ? (arnsKey, callersKey) : (callersKey, arnsKey)
            let at = (callersValue ?? arnsValue)!.location
            throw ConfigError(.invalidRoleParameter, at: at, of: profile,
                "\(present) in \(describe(profile)) needs \(missing) too: \(callersKey) lists the programs (e.g. codex, "
                    + "claude) and \(arnsKey) the policies their sessions are scoped by; add \(missing), or remove \(present).")
        }
        if !parameters.policyArns.isEmpty || parameters.policy != nil {
            throw ConfigError(.invalidRoleParameter, at: callersValue.location, of: profile,
                "\(callersKey) in \(describe(profile)) cannot be combined with its policy_arns or policy: STS grants the "
                    + "union of a session's policies, so the callers' policies would widen the profile's scope, not narrow "
                    + "it; keep the caller scope in a profile without session policies.")
        }
        let callers = callersValue.text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        for name in callers {
            if let problem = CallerScope.nameProblem(name) {
                throw ConfigError(.invalidRoleParameter, at: callersValue.location, of: profile,
                    "\(callersKey) in \(describe(profile)) lists \(TerminalText.escaped(oneLine(name))), which is not a "
                        + "program name: \(problem)\(commentHint(name)); list program file names (e.g. codex, my-agent.py), "
                        + "separated by commas.")
            }
        }
        guard callers.count <= CallerScope.maximumCallers else {
            throw ConfigError(.invalidRoleParameter, at: callersValue.location, of: profile,
                "\(callersKey) in \(describe(profile)) lists \(callers.count) programs; at most "
                    + "\(CallerScope.maximumCallers): give the others a profile of their own.")
        }
        let arns = try policyArnList(arnsValue, key: arnsKey, of: profile)
        guard (1...STSParameterRules.maximumPolicyArns).contains(arns.count) else {
            throw ConfigError(.invalidRoleParameter, at: arnsValue.location, of: profile,
                "\(arnsKey) in \(describe(profile)) lists \(arns.count) policies; STS takes 1 to "
                    + "\(STSParameterRules.maximumPolicyArns) managed session policies.")
        }
        return CallerScope(callers: callers, scope: SessionScope(policyArns: arns))
    }

    /// A caller scope where no AssumeRole can carry it.
    private func refuseCallerScope(in profile: Profile, kind: String) throws(ConfigError) {
        for key in [CallerScope.callersKey, CallerScope.policyArnsKey] {
            guard let value = profile[key], !value.text.isEmpty else { continue }
            throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "\(key) in \(describe(profile)) cannot scope \(kind), with no AssumeRole to take a session policy); "
                    + "put it in a role profile with source_profile = \(profile.name) and a role_arn, or remove it.")
        }
    }

    private func sessionTags(_ value: INIValue, of profile: Profile) throws(ConfigError) -> [SessionTag] {
        func fail(_ problem: String) -> ConfigError {
            ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "session_tags in \(describe(profile)) \(problem); write key=value,key=value: up to "
                    + "\(STSParameterRules.maximumTags) tags, keys of 1 to \(STSParameterRules.tagKeyLength.upperBound) and "
                    + "values of up to \(STSParameterRules.tagValueLength.upperBound) \(STSParameterRules.tagForm).")
        }
        var tags: [SessionTag] = []
        var seen = Set<String>()
        for (index, item) in value.text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            guard let equals = item.firstIndex(of: "=") else {
                throw fail("has item \(number) without =")
            }
            let key = String(item[..<equals]).trimmingWhitespace()
            let tagValue = String(item[item.index(after: equals)...]).trimmingWhitespace()
            if let problem = STSParameterRules.tagKeyProblem(key) {
                throw fail("has a tag key (item \(number)) that STS refuses: \(problem)")
            }
            if let problem = STSParameterRules.tagValueProblem(tagValue) {
                throw fail("has a value (of tag \(TerminalText.escaped(key))) that STS refuses: \(problem)\(commentHint(tagValue))")
            }
            // STS compares tag keys without regard to case.
            guard seen.insert(key.lowercased()).inserted else {
                throw fail("names the tag \(TerminalText.escaped(key)) twice (STS ignores case in tag keys)")
            }
            tags.append(SessionTag(key: key, value: tagValue))
        }
        guard tags.count <= STSParameterRules.maximumTags else { throw fail("has \(tags.count) tags") }
        return tags
    }

    private func transitiveKeys(_ value: INIValue, tags: [SessionTag], of profile: Profile) throws(ConfigError) -> [String] {
        // aws-vault skips empty items here (`a,` is `a`).
        let keys = value.text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        let tagKeys = Set(tags.map { $0.key.lowercased() })
        for key in keys where !tagKeys.contains(key.lowercased()) {
            throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "transitive_session_tags in \(describe(profile)) names \(TerminalText.escaped(oneLine(key))), which is not "
                    + "among its session_tags; a transitive key must be one of the session's tags: add it to session_tags "
                    + "or remove it here.")
        }
        return keys
    }

    /// A comma list of managed policy ARNs under `key`, each checked (empty items skipped).
    private func policyArnList(_ value: INIValue, key: String, of profile: Profile) throws(ConfigError) -> [String] {
        let arns = value.text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        for arn in arns {
            if let problem = STSParameterRules.policyArnProblem(arn) {
                throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                    "\(key) in \(describe(profile)) holds \(TerminalText.escaped(oneLine(arn))), which is not an IAM "
                        + "policy ARN: \(problem)\(commentHint(arn)); list them as \(STSParameterRules.policyArnForm), "
                        + "separated by commas.")
            }
        }
        return arns
    }

    private func policyArns(_ value: INIValue, of profile: Profile) throws(ConfigError) -> [String] {
        let arns = try policyArnList(value, key: "policy_arns", of: profile)
        guard arns.count <= STSParameterRules.maximumPolicyArns else {
            throw ConfigError(.invalidRoleParameter, at: value.location, of: profile,
                "policy_arns in \(describe(profile)) lists \(arns.count) policies; STS takes at most "
                    + "\(STSParameterRules.maximumPolicyArns) managed session policies: combine some into policy.")
        }
        return arns
    }

    /// botocore's `aws_account_id` profile key, checked to be an account id (12 digits): the
    /// account of credentials whose source names none itself (static keys, a sign-in session
    /// without one). A role's account is its ARN's: botocore ignores this key for an assumed
    /// role, and so does `RoleProfile.accountId`.
    public static func configuredAccountId(of profile: Profile) throws(ConfigError) -> String? {
        guard let value = profile["aws_account_id"], !value.text.isEmpty else { return nil }
        guard AccountID.isValid(value.text) else {
            throw ConfigError(.invalidSetting, at: value.location, of: profile,
                "aws_account_id in profile \"\(profile.name)\" is not an AWS account id; write the account's 12 digits "
                    + "(e.g. aws_account_id = 123456789012), or remove it.")
        }
        return value.text
    }

    // MARK: - Helpers

    /// An environment variable; set-but-empty counts as unset.
    private func env(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    private func describe(_ profile: Profile) -> String {
        "profile \"\(profile.name)\""
    }

    private func unknownProfileMessage(_ name: String) -> String {
        var message = "profile \"\(name)\" was not found in \(files.searchedFilesDescription()); "
        // A near name is a typo's fix; adding the typo as a profile is not.
        if let near = files.profileSuggestion(for: name) { return message + "did you mean \"\(near)\"?" }
        message += "add a [profile \(name)] section to \(files.configPath)"
        let known = files.profileNames
        if known.isEmpty {
            message += " (no profiles are defined yet)."
        } else {
            let shown = known.prefix(10).joined(separator: ", ")
            message += ", or use one of: \(shown)\(known.count > 10 ? ", ..." : "")."
        }
        return message
    }
}
