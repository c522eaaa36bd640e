import AWSConfig
import STS
import StscacheSupport
import Credentials

/// What `stscache login --profile P` signs in to, and whether it is an `aws login` profile.
package struct LoginSessionTarget: Equatable {
    package var profile: String
    /// The region Sign-In is called in: `--region`, else the profile's, else `AWS_REGION` /
    /// `AWS_DEFAULT_REGION` (the CLI's `--region`, then its `region` setting).
    package var region: String
    /// Written to the profile with `login_session`: the CLI saves the region only when it had to
    /// ask for one, and `--region` is stscache's answer to that question.
    package var regionToSave: String?
    /// The profile's `login_session` before this login, if it has one.
    package var existingSession: String?
    /// `https://<region>.signin.aws.amazon.com` (by partition), or the configured endpoint's
    /// `scheme://authority`, as the CLI takes the authorize URL's base from the token call's URL.
    package var base: String
    /// `AWS_ENDPOINT_URL_SIGNIN`, the profile's `[services]` `signin` `endpoint_url`,
    /// `AWS_ENDPOINT_URL` or `endpoint_url`: where the token call goes, when set.
    package var configuredEndpoint: String?
    /// `AWS_CA_BUNDLE`, else the profile's `ca_bundle`, for the token call.
    package var caBundle: String?

    /// What a profile is to `stscache login`.
    package enum Kind: Equatable {
        /// IAM Identity Center (`sso_session` or `sso_start_url`): the Identity Center login.
        case identityCenter
        /// `login_session`, or no credentials of any kind (or no such profile): `aws login`'s flow,
        /// which writes `login_session` into it as the CLI does.
        case loginSession
        /// Credentials of another kind that botocore would use before `login_session`; the
        /// CLI refuses such a profile, naming the kind.
        case other(String)
    }

    /// The CLI's `ensure_profile_does_not_have_existing_credentials`, with Identity Center
    /// profiles sent to their own login; a profile with `login_session` is an `aws login` one
    /// whatever else it holds.
    package static func kind(of profile: Profile?) -> Kind {
        guard let profile else { return .loginSession }
        if profile.string("login_session") != nil { return .loginSession }
        if profile.string("sso_session") != nil || profile.string("sso_start_url") != nil { return .identityCenter }
        if profile.string("web_identity_token_file") != nil { return .other("Web Identity") }
        if profile.string("sso_role_name") != nil || profile.string("sso_account_id") != nil { return .other("SSO") }
        if profile.string("aws_access_key_id") != nil { return .other("Access Key") }
        if profile.string("role_arn") != nil { return .other("Assume Role") }
        if profile.string("credential_process") != nil { return .other("Credential Process") }
        return .loginSession
    }

    /// The target of `--profile name` (with `--region`, if given).
    package static func resolve(files: ConfigFiles, environment: [String: String], profile name: String, region flag: String?)
        throws(LoginFlowError) -> LoginSessionTarget
    {
        let profile = files.profile(named: name)
        if case .other(let kind) = kind(of: profile) {
            throw LoginFlowError(.profileUnusable, "profile \"\(name)\" already has \(kind) credentials, which would be used "
                + "before a login_session; sign in with another profile name (stscache login --profile NEW), or remove them "
                + "from \"\(name)\" first.")
        }
        func env(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        let configuredRegion = profile?.string("region") ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION")
        guard let region = flag.flatMap({ $0.isEmpty ? nil : $0 }) ?? configuredRegion else {
            throw LoginFlowError(.profileUnusable, "profile \"\(name)\" has no region; give --region REGION (it is saved in the "
                + "profile, as aws login saves the region it asks for).")
        }
        guard STSEndpoint.isValidRegionName(region) else {
            throw LoginFlowError(.profileUnusable, "region \"\(TerminalText.escaped(region))\" is not a region name (like "
                + "eu-west-1); fix --region or the profile's region.")
        }
        let existing = profile?.string("login_session")
        if let existing, LoginSessionSignIn.parseIdentityARN(existing) == nil {
            throw LoginFlowError(.profileUnusable, "login_session in profile \"\(name)\" is not the ARN of an IAM identity; "
                + "fix or remove it, then run stscache login --profile \(name) again.")
        }
        let configured = configuredEndpoint(files: files, profile: profile, environment: environment)
        return LoginSessionTarget(
            profile: name, region: region, regionToSave: profile?.string("region") == nil && flag != nil ? region : nil,
            existingSession: existing, base: try signInBase(region: region, configured: configured),
            configuredEndpoint: configured, caBundle: env("AWS_CA_BUNDLE") ?? profile?.string("ca_bundle"))
    }

    /// `AWS_ENDPOINT_URL_SIGNIN` > the profile's `[services x]` `signin` `endpoint_url` >
    /// `AWS_ENDPOINT_URL` > the profile's `endpoint_url`, none of them when configured endpoints
    /// are ignored (botocore's order, as for STS).
    static func configuredEndpoint(files: ConfigFiles, profile: Profile?, environment: [String: String]) -> String? {
        if ProfileResolver.ignoresConfiguredEndpoints(environment: environment, profile: profile) { return nil }
        func env(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        if let url = env("AWS_ENDPOINT_URL_SIGNIN") { return url }
        if let services = profile?.string("services"), let section = files.servicesSection(named: services),
           let url = section["signin"]?.subValues?["endpoint_url"]?.text, !url.isEmpty {
            return url
        }
        return env("AWS_ENDPOINT_URL") ?? profile?.string("endpoint_url")
    }

    /// The base of the authorize URL: the token call's endpoint (`SignInTokenClient.endpoint`,
    /// the service's rules, a configured endpoint checked there) as `scheme://authority`, as the
    /// CLI takes it from the token call's URL (`get_base_sign_in_uri`).
    static func signInBase(region: String, configured: String?) throws(LoginFlowError) -> String {
        let endpoint: String
        do {
            endpoint = try SignInTokenClient.endpoint(region: region, configured: configured)
        } catch {
            throw LoginFlowError(.profileUnusable, error.message)
        }
        let scheme = endpoint.lowercased().hasPrefix("https://") ? "https://" : "http://"
        guard !endpoint.contains("@") else {
            throw LoginFlowError(.profileUnusable, "the AWS Sign-In endpoint must not hold user information; fix "
                + "AWS_ENDPOINT_URL_SIGNIN or the profile's endpoint_url.")
        }
        return scheme + endpoint.dropFirst(scheme.count).prefix { $0 != "/" }
    }
}
