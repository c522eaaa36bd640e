/// What botocore's reading of the config files leaves to the program using them, passed in by
/// that program. The resolver reads no environment variable of its own and knows no program by
/// name: defaults and loop checks that only make sense for one program are that program's.
public struct ResolutionPolicy: Sendable {
    /// The program, as messages name it ("... is not a source X knows").
    public let programName: String
    /// `role_session_name` when neither the profile nor `AWS_ROLE_SESSION_NAME` names one.
    /// Called only then, so a costly default (a user lookup) is paid only when needed. (botocore
    /// makes up `botocore-session-<timestamp>`; a program that caches sessions needs a stable name.)
    public let defaultSessionName: @Sendable () -> String
    /// The MFA session duration when neither the source nor the role profile sets
    /// `mfa_session_duration`; nil leaves STS's default. Called only for a role that gets an MFA
    /// session, with that role's profile name (for errors) and the resolver's environment.
    public let defaultMFASessionDuration: @Sendable (_ roleProfile: String, _ environment: [String: String]) throws(ConfigError) -> Int?
    /// The profile a `credential_process` command asks this program for when the command runs the
    /// program itself, else nil. The resolver uses it to refuse a source that would start the
    /// program again for a profile on the way to it, and to point a profile without a role at the
    /// profile it hands over to.
    public let delegatedProfile: @Sendable (_ credentialProcess: String) -> String?
    /// When true, a source profile that has no credentials in the files (or is not in them at
    /// all) resolves to `CredentialSource.storedKeys`: the program keeps long-term keys of its
    /// own and decides, when it needs them, whether it has that profile's. botocore has no such
    /// store, so the default is its error.
    public var sourcesMayHaveStoredKeys = false

    public init(programName: String,
                defaultSessionName: @escaping @Sendable () -> String,
                defaultMFASessionDuration: @escaping @Sendable (_ roleProfile: String, _ environment: [String: String]) throws(ConfigError) -> Int?,
                delegatedProfile: @escaping @Sendable (_ credentialProcess: String) -> String?) {
        self.programName = programName
        self.defaultSessionName = defaultSessionName
        self.defaultMFASessionDuration = defaultMFASessionDuration
        self.delegatedProfile = delegatedProfile
    }
}
