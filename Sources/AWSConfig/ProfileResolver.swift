/// Turns a profile name into the `RoleProfile` stscache assumes, following botocore's
/// `AssumeRoleProvider` rules (role chaining, self-sourcing, cycle detection) and the settings
/// precedence in the product brief. Pure: files, environment and user name are passed in.
public struct ProfileResolver: Sendable {
    public let files: ConfigFiles
    public let environment: [String: String]
    public let userName: String

    /// `duration_seconds` bounds STS accepts for AssumeRole.
    public static let durationRange = 900...43200
    /// STS caps a session assumed with another role's credentials at one hour.
    public static let chainedDurationLimit = 3600
    public static let credentialSources = ["Environment", "Ec2InstanceMetadata", "EcsContainer"]

    public init(files: ConfigFiles, environment: [String: String], userName: String) {
        self.files = files
        self.environment = environment
        self.userName = userName
    }

    /// Resolves `profile` to the role to assume and the credentials that assume it.
    public static func resolve(profile: String, files: ConfigFiles, environment: [String: String],
                               userName: String) throws(ConfigError) -> RoleProfile {
        try ProfileResolver(files: files, environment: environment, userName: userName).resolve(profile: profile)
    }

    public func resolve(profile name: String) throws(ConfigError) -> RoleProfile {
        guard let profile = files.profile(named: name) else {
            throw ConfigError(.unknownProfile, unknownProfileMessage(name), profile: name)
        }
        return try resolveRole(profile, visited: [name])
    }

    /// Every profile that reaches the role `roleArn` with session name `sessionName`: profiles
    /// that resolve to it directly, and profiles whose `credential_process` delegates to stscache
    /// with such a profile. Profiles that fail to resolve are skipped. Sorted by name.
    public func profiles(resolvingToRoleArn roleArn: String, sessionName: String) -> [String] {
        var resolved: [String: RoleProfile?] = [:]
        func role(_ name: String) -> RoleProfile? {
            if let known = resolved[name] { return known }
            let profile = files.profile(named: name)?.string("role_arn") == nil ? nil : try? resolve(profile: name)
            resolved[name] = profile
            return profile
        }
        func matches(_ profile: RoleProfile?) -> Bool {
            profile.map { $0.roleArn == roleArn && $0.roleSessionName == sessionName } ?? false
        }
        var names: [String] = []
        for name in files.profileNames {
            if matches(role(name)) {
                names.append(name)
            } else if let target = files.delegatedProfile(forProfile: name), target != name, matches(role(target)) {
                names.append(name)
            }
        }
        return names.sorted()
    }

    /// `stscache-<user>` with every character STS does not allow in a session name
    /// (`[\w+=,.@-]`) replaced by `-`, cut to STS's 64-character limit. Stable per user, so
    /// every process of one user shares one cache entry per role.
    public static func defaultSessionName(userName: String) -> String {
        var name = "stscache-"
        for character in userName {
            guard name.utf8.count < 64 else { break }
            if let ascii = character.asciiValue, character.isASCII, isSessionNameByte(ascii) {
                name.append(character)
            } else {
                name.append("-")
            }
        }
        return name
    }

    // MARK: - Role and source

    private func resolveRole(_ profile: Profile, visited: [String]) throws(ConfigError) -> RoleProfile {
        guard let roleArn = profile.string("role_arn") else {
            var message = "\(profile.location): \(describe(profile)) has no role_arn, so there is no role to assume; "
                + "add role_arn = arn:aws:iam::ACCOUNT:role/NAME to \(profile.header)."
            if let target = files.delegatedProfile(forProfile: profile.name) {
                message += " (It delegates to stscache with --profile \(target): use that profile instead.)"
            }
            throw ConfigError(.missingRoleArn, message, profile: profile.name, location: profile.location)
        }
        if let tokenFile = profile["web_identity_token_file"] {
            throw ConfigError(
                .unsupportedSource,
                "\(tokenFile.location): \(describe(profile)) uses web_identity_token_file "
                    + "(AssumeRoleWithWebIdentity), which stscache does not support; "
                    + "use source_profile or credential_source instead.",
                profile: profile.name, location: tokenFile.location)
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
            throw ConfigError(
                .noSource,
                "\(profile.location): \(describe(profile)) has role_arn but neither source_profile nor credential_source, so nothing "
                    + "can call AssumeRole; add source_profile = <profile with keys> or credential_source = "
                    + "Environment | Ec2InstanceMetadata | EcsContainer to \(profile.header).",
                profile: profile.name, location: profile.location)
        case let (nil, credentialSource?):
            source = try self.credentialSource(credentialSource, of: profile)
        case let (sourceProfile?, nil):
            source = try resolveSourceProfile(sourceProfile, of: profile, visited: visited)
        }

        let chained: Bool
        if case .role = source { chained = true } else { chained = false }
        return RoleProfile(
            name: profile.name,
            roleArn: roleArn,
            roleSessionName: profile.string("role_session_name") ?? Self.defaultSessionName(userName: userName),
            externalId: profile.string("external_id"),
            durationSeconds: try duration(of: profile, chained: chained),
            mfaSerial: profile.string("mfa_serial"),
            region: profile.string("region") ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1",
            endpointURL: try endpoint(of: profile),
            stsRegionalEndpoints: try stsRegionalEndpoints(of: profile),
            caBundle: profile.string("ca_bundle") ?? env("AWS_CA_BUNDLE"),
            source: source)
    }

    private func resolveSourceProfile(_ reference: INIValue, of profile: Profile,
                                      visited: [String]) throws(ConfigError) -> CredentialSource {
        let sourceName = reference.text
        guard let source = files.profile(named: sourceName) else {
            throw ConfigError(
                .unknownProfile,
                "\(reference.location): \(describe(profile)) has source_profile = \(sourceName), but profile "
                    + "\"\(sourceName)\" is not in \(files.searchedFilesDescription()); add it (with its keys, "
                    + "usually as [\(sourceName)] in \(files.credentialsPath)) or correct source_profile.",
                profile: profile.name, location: reference.location)
        }
        if visited.contains(sourceName) {
            // botocore lets a profile name itself only to use its own keys for its own role.
            let selfSourcedWithKeys = sourceName == profile.name && hasStaticKeyMarker(source)
            if !selfSourcedWithKeys {
                let cycle = (visited + [sourceName]).joined(separator: " -> ")
                throw ConfigError(
                    .sourceCycle,
                    "\(reference.location): source_profile links form a cycle: \(cycle). Point one of these "
                        + "profiles' source_profile at a profile holding keys (aws_access_key_id and "
                        + "aws_secret_access_key), or use credential_source.",
                    profile: profile.name, location: reference.location)
            }
        }
        return try sourceCredentials(source, for: profile, visited: visited + [sourceName])
    }

    /// What a source profile provides, in botocore's order: static keys win over a role (the
    /// source's own role settings are then ignored), a role means chaining, then `credential_process`.
    private func sourceCredentials(_ source: Profile, for profile: Profile,
                                   visited: [String]) throws(ConfigError) -> CredentialSource {
        if hasStaticKeyMarker(source) {
            // botocore tries the credentials file's keys, then credential_process, then the
            // config file's keys.
            if let command = source.string("credential_process"), !keysComeFromCredentialsFile(source) {
                return .credentialProcess(profile: source.name, command: command)
            }
            return .staticKeys(profile: source.name, try staticKeys(of: source, for: profile))
        }
        if source.string("role_arn") != nil {
            return .role(try resolveRole(source, visited: visited))
        }
        if let command = source.string("credential_process") {
            return .credentialProcess(profile: source.name, command: command)
        }
        if source["web_identity_token_file"] != nil || source["sso_session"] != nil || source["sso_start_url"] != nil {
            throw ConfigError(
                .unsupportedSource,
                "\(source.location): \(describe(source)), the source_profile of \"\(profile.name)\", uses SSO or web identity, which "
                    + "stscache does not support as a source; give it keys or a credential_process instead.",
                profile: source.name, location: source.location)
        }
        throw ConfigError(
            .sourceWithoutKeys,
            "\(source.location): \(describe(source)), the source_profile of \"\(profile.name)\", has no credentials: no "
                + "aws_access_key_id/aws_secret_access_key, no role_arn and no credential_process; add its keys "
                + "as [\(source.name)] in \(files.credentialsPath).",
            profile: source.name, location: source.location)
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
                throw ConfigError(
                    .missingEnvironmentCredentials,
                    "\(value.location): \(describe(profile)) has credential_source = Environment, but "
                        + "\(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") not set; export "
                        + "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys).",
                    profile: profile.name, location: value.location)
            }
            let token = env("AWS_SESSION_TOKEN") ?? env("AWS_SECURITY_TOKEN")
            return .environment(StaticKeys(accessKeyId: accessKeyId, secretAccessKey: secret, sessionToken: token))
        case "Ec2InstanceMetadata":
            return .ec2InstanceMetadata
        case "EcsContainer":
            return .ecsContainer
        default:
            throw ConfigError(
                .unknownCredentialSource,
                "\(value.location): credential_source = \(value.text) in \(describe(profile)) is not a source "
                    + "stscache knows; use one of \(Self.credentialSources.joined(separator: ", ")) (spelled exactly so).",
                profile: profile.name, location: value.location)
        }
    }

    // MARK: - Settings

    private func duration(of profile: Profile, chained: Bool) throws(ConfigError) -> Int? {
        guard let value = profile["duration_seconds"], !value.text.isEmpty else { return nil }
        let range = Self.durationRange
        guard value.text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let seconds = Int(value.text), range.contains(seconds) else {
            throw ConfigError(
                .invalidDuration,
                "\(value.location): duration_seconds = \(value.text) in \(describe(profile)) is not a whole number "
                    + "of seconds from \(range.lowerBound) to \(range.upperBound); set it in that range "
                    + "(3600 is one hour).",
                profile: profile.name, location: value.location)
        }
        if chained && seconds > Self.chainedDurationLimit {
            throw ConfigError(
                .invalidDuration,
                "\(value.location): duration_seconds = \(seconds) in \(describe(profile)), but its source is "
                    + "another role, and STS allows at most \(Self.chainedDurationLimit) seconds for a chained "
                    + "role; set duration_seconds = \(Self.chainedDurationLimit) or less.",
                profile: profile.name, location: value.location)
        }
        return seconds
    }

    /// `AWS_ENDPOINT_URL_STS` > the profile's `[services x]` sts `endpoint_url` >
    /// `AWS_ENDPOINT_URL` > the profile's `endpoint_url`, all skipped when
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` / `ignore_configured_endpoint_urls` is true (botocore).
    private func endpoint(of profile: Profile) throws(ConfigError) -> String? {
        let ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") ?? profile.string("ignore_configured_endpoint_urls")
        if ignore?.lowercased() == "true" { return nil }
        if let url = env("AWS_ENDPOINT_URL_STS") { return url }
        if let services = profile["services"], !services.text.isEmpty {
            guard let section = files.servicesSection(named: services.text) else {
                throw ConfigError(
                    .unknownServicesSection,
                    "\(services.location): \(describe(profile)) has services = \(services.text), but "
                        + "\(files.configPath) has no [services \(services.text)] section; add it or remove the "
                        + "services line.",
                    profile: profile.name, location: services.location)
            }
            if let url = section["sts"]?.subValues?["endpoint_url"]?.text, !url.isEmpty { return url }
        }
        return env("AWS_ENDPOINT_URL") ?? profile.string("endpoint_url")
    }

    private func stsRegionalEndpoints(of profile: Profile) throws(ConfigError) -> String? {
        let allowed = ["regional", "legacy"]
        if let value = profile["sts_regional_endpoints"], !value.text.isEmpty {
            guard allowed.contains(value.text) else {
                throw ConfigError(
                    .invalidSetting,
                    "\(value.location): sts_regional_endpoints = \(value.text) in \(describe(profile)) must be "
                        + "regional or legacy.",
                    profile: profile.name, location: value.location)
            }
            return value.text
        }
        guard let value = env("AWS_STS_REGIONAL_ENDPOINTS") else { return nil }
        guard allowed.contains(value) else {
            throw ConfigError(
                .invalidSetting,
                "AWS_STS_REGIONAL_ENDPOINTS = \(value) must be regional or legacy; fix or unset it.",
                profile: profile.name)
        }
        return value
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

@inline(__always)
private func isSessionNameByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
         UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    case UInt8(ascii: "_"), UInt8(ascii: "+"), UInt8(ascii: "="), UInt8(ascii: ","), UInt8(ascii: "."),
         UInt8(ascii: "@"), UInt8(ascii: "-"):
        return true
    default:
        return false
    }
}
