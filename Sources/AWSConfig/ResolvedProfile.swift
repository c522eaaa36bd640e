import StscacheSupport

/// What it takes to assume one role, resolved from the config files and the environment the way
/// botocore resolves them. Built by `ProfileResolver`.
public struct RoleProfile: Sendable, Equatable {
    /// The profile this role was read from (`prod-role`).
    public var name: String
    public var roleArn: String
    /// `role_session_name`, else `ResolutionPolicy.defaultSessionName`.
    public var roleSessionName: String
    public var externalId: String?
    /// `duration_seconds` as configured, within STS's range for AssumeRole. What STS allows a
    /// chained role is not checked here: botocore sends the value as it is.
    public var durationSeconds: Int?
    /// `mfa_serial` of this profile, as configured.
    public var mfaSerial: String?
    /// `mfa_process` of this profile: a command whose stdout is the current MFA code.
    public var mfaProcess: String?
    /// When set, the source's long-term keys first get an MFA-authenticated GetSessionToken
    /// session (cached on its own), and AssumeRole is called with that session. See
    /// `MFASessionSettings` for when the resolver chooses this.
    public var mfaSession: MFASessionSettings?
    /// Region for the STS call: profile `region` > `AWS_REGION` > `AWS_DEFAULT_REGION` > `us-east-1`.
    public var region: String
    /// An explicit STS endpoint, by the brief's precedence: `AWS_ENDPOINT_URL_STS` >
    /// `services` sts `endpoint_url` > `AWS_ENDPOINT_URL` > profile `endpoint_url`; nil = default.
    public var endpointURL: String?
    /// `sts_regional_endpoints` (`regional` or `legacy`), nil when unset.
    public var stsRegionalEndpoints: String?
    /// `AWS_CA_BUNDLE`, else the profile's `ca_bundle` (botocore: the environment variable wins).
    public var caBundle: String?
    /// Where the credentials that call AssumeRole come from.
    public var source: CredentialSource

    public init(name: String, roleArn: String, roleSessionName: String, externalId: String? = nil,
                durationSeconds: Int? = nil, mfaSerial: String? = nil, mfaProcess: String? = nil,
                mfaSession: MFASessionSettings? = nil, region: String,
                endpointURL: String? = nil, stsRegionalEndpoints: String? = nil, caBundle: String? = nil,
                source: CredentialSource) {
        self.name = name
        self.roleArn = roleArn
        self.roleSessionName = roleSessionName
        self.externalId = externalId
        self.durationSeconds = durationSeconds
        self.mfaSerial = mfaSerial
        self.mfaProcess = mfaProcess
        self.mfaSession = mfaSession
        self.region = region
        self.endpointURL = endpointURL
        self.stsRegionalEndpoints = stsRegionalEndpoints
        self.caBundle = caBundle
        self.source = source
    }

    /// The MFA serial to send on AssumeRole itself: the role's `mfa_serial`, unless the MFA
    /// session already carries that device's authentication into the call.
    public var assumeRoleMFASerial: String? {
        guard let mfaSerial else { return nil }
        if let mfaSession, mfaSession.serialNumber == mfaSerial { return nil }
        return mfaSerial
    }
}

/// An MFA-authenticated `GetSessionToken` session for a role's source keys, as aws-vault
/// makes one: the code is asked for once per source session, however many roles use it.
///
/// The resolver chooses it when the role's source is long-term keys (a profile's keys or
/// `credential_source = Environment` without a session token: STS refuses GetSessionToken
/// with temporary credentials) and an `mfa_serial` applies: the source profile's own, else
/// the role profile's. Any other source with `mfa_serial` on the role (another role, instance
/// or container credentials, credential_process, temporary keys) sends the code on AssumeRole
/// itself, as botocore does.
public struct MFASessionSettings: Sendable, Equatable {
    /// The MFA device ARN (or hardware serial) sent as `SerialNumber`.
    public var serialNumber: String
    /// `mfa_process` from the profile that supplied `serialNumber`, else from the other one.
    public var mfaProcess: String?
    /// `mfa_session_duration` (source profile, then role profile), else
    /// `ResolutionPolicy.defaultMFASessionDuration`; nil leaves STS's default (12 hours).
    public var durationSeconds: Int?
    /// The profile whose `mfa_serial` is used (for messages).
    public var serialProfile: String

    public init(serialNumber: String, mfaProcess: String? = nil, durationSeconds: Int? = nil, serialProfile: String) {
        self.serialNumber = serialNumber
        self.mfaProcess = mfaProcess
        self.durationSeconds = durationSeconds
        self.serialProfile = serialProfile
    }

    /// GetSessionToken's `DurationSeconds` bounds for IAM users (36 hours at most).
    public static let durationRange = 900...129_600

    /// `durationRange` in words, for messages.
    public static var durationLimits: String {
        "from \(durationRange.lowerBound) seconds (15m) to \(durationRange.upperBound) seconds (36h)"
    }

    /// `900`, `900s`, `15m`, `12h` as whole seconds when inside `durationRange`; nil otherwise.
    public static func duration(_ text: String) -> Int? {
        guard let seconds = parseDuration(text, wholeSeconds: true).map(Int.init), durationRange.contains(seconds)
        else { return nil }
        return seconds
    }
}

public struct StaticKeys: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "StaticKeys(accessKeyId: \(accessKeyId), <redacted>)" }
}

public indirect enum CredentialSource: Sendable, Equatable {
    /// Long-term or temporary keys held by a profile (`source_profile = base`).
    case staticKeys(profile: String, StaticKeys)
    /// `credential_source = Environment`: `AWS_ACCESS_KEY_ID` etc., read at resolution time.
    case environment(StaticKeys)
    /// Role chaining: the source profile is itself a role.
    case role(RoleProfile)
    /// `credential_source = Ec2InstanceMetadata`: the instance role's credentials from IMDSv2.
    case ec2InstanceMetadata
    /// `credential_source = EcsContainer`: the task role's credentials from the container
    /// credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`).
    case ecsContainer
    /// `credential_process` on the source profile.
    case credentialProcess(profile: String, command: String)
    /// Not a source of keys: the role itself is assumed with `AssumeRoleWithWebIdentity`
    /// (unsigned) using the token in this file, read afresh on every call
    /// (`web_identity_token_file`, or `AWS_WEB_IDENTITY_TOKEN_FILE`).
    case webIdentity(tokenFile: String)
    /// A source profile with no credentials in the config files, whose long-term keys the
    /// program may keep in its own encrypted store (`ResolutionPolicy.sourcesMayHaveStoredKeys`).
    /// Nothing is read here: the program looks the keys up only when it needs them to sign.
    case storedKeys(profile: String)
    /// Not a source of keys: an IAM Identity Center profile, whose role credentials come from
    /// the portal's GetRoleCredentials with the token `aws sso login` (or a refresh) left in
    /// `~/.aws/sso/cache`. Its `RoleProfile` is the SSO profile itself.
    case identityCenter(IdentityCenterSettings)
    /// Not a source of keys: an `aws login` session (`login_session`), whose credentials are the
    /// session file's own, refreshed through AWS Sign-In. Its `RoleProfile` is the login profile
    /// itself; a role with it as `source_profile` has it as its `.role` source.
    case loginSession(LoginSessionSettings)
}
