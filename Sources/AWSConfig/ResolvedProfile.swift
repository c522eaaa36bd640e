/// What stscache needs to assume one role, resolved from the config files and the environment
/// the way botocore resolves them. Built by `ProfileResolver`.
public struct RoleProfile: Sendable, Equatable {
    /// The profile this role was read from (`prod-role`).
    public var name: String
    public var roleArn: String
    /// `role_session_name`, else the per-user default (`stscache-<user>`), so the cache key is stable.
    public var roleSessionName: String
    public var externalId: String?
    public var durationSeconds: Int?
    public var mfaSerial: String?
    /// Region for the STS call: profile `region` > `AWS_REGION` > `AWS_DEFAULT_REGION` > `us-east-1`.
    public var region: String
    /// An explicit STS endpoint, by the brief's precedence: `AWS_ENDPOINT_URL_STS` >
    /// `services` sts `endpoint_url` > `AWS_ENDPOINT_URL` > profile `endpoint_url`; nil = default.
    public var endpointURL: String?
    /// `sts_regional_endpoints` (`regional` or `legacy`), nil when unset.
    public var stsRegionalEndpoints: String?
    /// `ca_bundle` from the profile, else `AWS_CA_BUNDLE`.
    public var caBundle: String?
    /// Where the credentials that call AssumeRole come from.
    public var source: CredentialSource

    public init(name: String, roleArn: String, roleSessionName: String, externalId: String? = nil,
                durationSeconds: Int? = nil, mfaSerial: String? = nil, region: String,
                endpointURL: String? = nil, stsRegionalEndpoints: String? = nil, caBundle: String? = nil,
                source: CredentialSource) {
        self.name = name
        self.roleArn = roleArn
        self.roleSessionName = roleSessionName
        self.externalId = externalId
        self.durationSeconds = durationSeconds
        self.mfaSerial = mfaSerial
        self.region = region
        self.endpointURL = endpointURL
        self.stsRegionalEndpoints = stsRegionalEndpoints
        self.caBundle = caBundle
        self.source = source
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
    /// `credential_source = Ec2InstanceMetadata` (issue 7).
    case ec2InstanceMetadata
    /// `credential_source = EcsContainer` (issue 7).
    case ecsContainer
    /// `credential_process` on the source profile (issue 7).
    case credentialProcess(profile: String, command: String)
}
