import StscacheSupport

/// An IAM Identity Center (SSO) profile, resolved as botocore's `SSOProvider` resolves it:
/// `sso_account_id` and `sso_role_name` on the profile, `sso_start_url` and `sso_region` from
/// its `[sso-session NAME]` (`sso_session = NAME`) or, for legacy profiles, from the profile.
public struct IdentityCenterSettings: Sendable, Equatable {
    /// The profile holding the `sso_*` settings (named in messages and the legacy login command).
    public var profile: String
    public var startURL: String
    /// `sso_region`: where the portal and OIDC endpoints live (not the profile's `region`).
    public var region: String
    public var accountId: String
    public var roleName: String
    /// `sso_session`; nil for a legacy profile. Only sso-session profiles refresh their token
    /// (botocore's `SSOTokenProvider`), and their token file is named after the session.
    public var sessionName: String?
    /// `sso_registration_scopes` of the session (comma-separated; only a login reads them).
    public var registrationScopes: [String]
    /// `AWS_ENDPOINT_URL_SSO`: the portal (GetRoleCredentials); nil for AWS's own.
    public var portalEndpoint: String?
    /// `AWS_ENDPOINT_URL_SSO_OIDC`: OIDC (CreateToken); nil for AWS's own.
    public var oidcEndpoint: String?

    public init(profile: String, startURL: String, region: String, accountId: String, roleName: String,
                sessionName: String? = nil, registrationScopes: [String] = [], portalEndpoint: String? = nil,
                oidcEndpoint: String? = nil) {
        self.profile = profile
        self.startURL = startURL
        self.region = region
        self.accountId = accountId
        self.roleName = roleName
        self.sessionName = sessionName
        self.registrationScopes = registrationScopes
        self.portalEndpoint = portalEndpoint
        self.oidcEndpoint = oidcEndpoint
    }

    /// What names the token file `~/.aws/sso/cache/<sha1 hex>.json`: the session name, or the
    /// start URL for a legacy profile (botocore `SSOTokenLoader._generate_cache_key`).
    public var tokenCacheKeyInput: String { sessionName ?? startURL }

    /// The commands that log in so that this profile's token exists again (either writes the
    /// file both read).
    public var loginCommand: String {
        let option = sessionName.map { "--sso-session \(ShellQuote.word($0))" } ?? "--profile \(ShellQuote.word(profile))"
        return "stscache login \(option) (or aws sso login \(option))"
    }

    /// What the portal's role credentials are cached as (and shown as by `list`): the account
    /// and permission set role, not a real role ARN (the portal does not say it).
    public var roleDescription: String { "arn:aws:iam::\(accountId):role/\(roleName)" }
}

extension ConfigFiles {
    /// The config file's `[sso-session NAME]` section (botocore's `build_profile_map`: the
    /// `sso-session` prefix, then exactly two shlex words; a later section replaces an earlier one).
    public func ssoSessionSection(named name: String) -> INISection? {
        (config?.sections ?? []).last { Self.ssoSessionName(ofConfigSection: $0.name) == name }
    }

    /// The names of the config file's `[sso-session NAME]` sections, each once, in file order.
    public var ssoSessionNames: [String] {
        var names: [String] = []
        for section in config?.sections ?? [] {
            if let name = Self.ssoSessionName(ofConfigSection: section.name), !names.contains(name) { names.append(name) }
        }
        return names
    }

    private static func ssoSessionName(ofConfigSection name: String) -> String? {
        guard name.hasPrefix("sso-session"), let words = shellWords(name), words.count == 2, words[0] == "sso-session"
        else { return nil }
        return words[1]
    }
}

extension ProfileResolver {
    /// The profile's Identity Center settings, or nil when it has neither `sso_account_id` nor
    /// `sso_role_name` (botocore: those two say the SSO provider applies). Errors as botocore's:
    /// an unknown sso-session, a key the profile and its session set differently, a missing
    /// setting; plus an account ID that is not 12 digits (it goes into a URL).
    public func identityCenterSettings(of profile: Profile) throws(ConfigError) -> IdentityCenterSettings? {
        guard profile["sso_account_id"] != nil || profile["sso_role_name"] != nil else { return nil }
        var values: [String: INIValue] = profile.values
        var sessionName: String?
        if let reference = profile["sso_session"] {
            sessionName = reference.text
            guard let section = files.ssoSessionSection(named: reference.text) else {
                let fix = NameSuggestion.closest(to: reference.text, among: files.ssoSessionNames)
                    .map { "did you mean \"\($0)\"? Correct sso_session." }
                    ?? "add it (with sso_start_url and sso_region) or correct sso_session."
                throw ConfigError(.unknownSSOSession, at: reference.location, of: profile,
                    "profile \"\(profile.name)\" has sso_session = \(reference.text), but "
                        + "\(files.configPath) has no [sso-session \(reference.text)] section; " + fix)
            }
            for (key, value) in section.values {
                if let own = profile[key], own.text != value.text {
                    throw ConfigError(.ssoSessionConflict, at: own.location, of: profile,
                        "profile \"\(profile.name)\" sets \(SettingText.shown(key, own)), but its "
                            + "sso-session \"\(reference.text)\" (\(value.location)) sets \(SettingText.shown(key, value)); "
                            + "remove \(key) from the profile (or make the two agree).")
                }
                values[key] = value
            }
        }
        let required = ["sso_start_url", "sso_region", "sso_account_id", "sso_role_name"]
        let missing = required.filter { (values[$0]?.text ?? "").isEmpty }
        guard missing.isEmpty else {
            let whereToAdd = sessionName.map { "[sso-session \($0)] (start URL, region) or " } ?? ""
            throw ConfigError(.incompleteSSOProfile, at: profile.location, of: profile,
                "profile \"\(profile.name)\" is configured to use IAM Identity Center but is missing "
                    + "\(missing.joined(separator: ", ")); add \(missing.count == 1 ? "it" : "them") to \(whereToAdd)"
                    + "\(profile.header) in \(files.configPath) (`aws configure sso` writes them).")
        }
        let account = values["sso_account_id"]!
        guard account.text.utf8.count == 12, account.text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw ConfigError(.invalidSetting, at: account.location, of: profile,
                "sso_account_id = \(account.text) in profile \"\(profile.name)\" is not a 12-digit "
                    + "AWS account ID; correct it.")
        }
        let role = values["sso_role_name"]!
        guard !role.text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw ConfigError(.invalidSetting, at: role.location, of: profile,
                "sso_role_name in profile \"\(profile.name)\" contains a control character; correct it.")
        }
        let scopes = (values["sso_registration_scopes"]?.text ?? "")
            .split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        let ignoreEndpoints = Self.ignoresConfiguredEndpoints(environment: environment, profile: profile)
        func endpoint(_ name: String) -> String? {
            guard !ignoreEndpoints, let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        return IdentityCenterSettings(
            profile: profile.name, startURL: values["sso_start_url"]!.text, region: values["sso_region"]!.text,
            accountId: account.text, roleName: role.text, sessionName: sessionName, registrationScopes: scopes,
            portalEndpoint: endpoint("AWS_ENDPOINT_URL_SSO"), oidcEndpoint: endpoint("AWS_ENDPOINT_URL_SSO_OIDC"))
    }

    /// An Identity Center profile as the "role" whose session the pipeline caches: the portal's
    /// role credentials (GetRoleCredentials) play the part of AssumeRole's answer.
    func identityCenterRole(_ profile: Profile) throws(ConfigError) -> RoleProfile? {
        guard let settings = try identityCenterSettings(of: profile) else { return nil }
        return RoleProfile(
            name: profile.name, roleArn: settings.roleDescription, roleSessionName: "identity-center",
            region: settings.region, source: .identityCenter(settings))
    }
}
