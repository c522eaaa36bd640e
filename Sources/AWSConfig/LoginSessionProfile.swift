import StscacheSupport

/// A `login_session` profile (AWS CLI 2.32, botocore 1.41's `LoginProvider`): credentials from
/// the session `aws login` left in `~/.aws/login/cache/<sha256 hex of login_session>.json`,
/// refreshed through AWS Sign-In.
public struct LoginSessionSettings: Sendable, Equatable {
    /// The profile holding `login_session` (named in messages and the login command).
    public var profile: String
    /// `login_session`: the ARN of the signed-in identity (the id token's `sub`); names the file.
    public var session: String
    /// The profile's region (`region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, else us-east-1): where
    /// Sign-In is called for a refresh unless the session file names its `signInRegion`.
    public var region: String
    /// `AWS_ENDPOINT_URL_SIGNIN` > `[services]` `signin` `endpoint_url` > `AWS_ENDPOINT_URL` >
    /// the profile's `endpoint_url` (none when configured endpoints are ignored).
    public var endpointURL: String?
    /// `AWS_CA_BUNDLE`, else the profile's `ca_bundle`.
    public var caBundle: String?

    public init(profile: String, session: String, region: String, endpointURL: String? = nil, caBundle: String? = nil) {
        self.profile = profile
        self.session = session
        self.region = region
        self.endpointURL = endpointURL
        self.caBundle = caBundle
    }

    /// The commands that sign in again so that the session file exists and is current (either
    /// writes the file both read).
    public var loginCommand: String {
        "aws login --profile \(ShellQuote.word(profile)) (or stscache login --profile \(ShellQuote.word(profile)))"
    }
}

extension ProfileResolver {
    /// The profile's `aws login` session, or nil when it has no `login_session`.
    public func loginSessionSettings(of profile: Profile) throws(ConfigError) -> LoginSessionSettings? {
        guard let value = profile["login_session"] else { return nil }
        let session = value.text
        guard !session.isEmpty, session.utf8.count <= 2048,
              !session.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw ConfigError(.invalidSetting, at: value.location, of: profile,
                "login_session in profile \"\(profile.name)\" is empty or holds a control character; it should be the "
                    + "ARN `aws login` signed in as (run: aws login --profile \(ShellQuote.word(profile.name))).")
        }
        func env(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var endpoint: String?
        if !Self.ignoresConfiguredEndpoints(environment: environment, profile: profile) {
            var fromServices: String?
            if let services = profile["services"], !services.text.isEmpty,
               let url = files.servicesSection(named: services.text)?["signin"]?.subValues?["endpoint_url"]?.text,
               !url.isEmpty {
                fromServices = url
            }
            endpoint = env("AWS_ENDPOINT_URL_SIGNIN") ?? fromServices ?? env("AWS_ENDPOINT_URL")
                ?? profile.string("endpoint_url")
        }
        return LoginSessionSettings(
            profile: profile.name, session: session, region: Self.region(of: profile, environment: environment),
            endpointURL: endpoint, caBundle: env("AWS_CA_BUNDLE") ?? profile.string("ca_bundle"))
    }

    /// A `login_session` profile as the "role" the commands ask for: its credentials are the
    /// session's own (no AssumeRole), and a role naming it as `source_profile` is assumed with them.
    func loginSessionRole(_ profile: Profile) throws(ConfigError) -> RoleProfile? {
        guard let settings = try loginSessionSettings(of: profile) else { return nil }
        return RoleProfile(
            name: profile.name, roleArn: settings.session, roleSessionName: "login-session",
            region: settings.region, caBundle: settings.caBundle, source: .loginSession(settings))
    }
}
