import StscacheSupport

/// A place in a config file, so a message can point at the line to fix.
public struct FileLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// 1-based line number.
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `path:line`, the form editors and terminals turn into a jump target.
    public var description: String { "\(file):\(line)" }
}

/// Everything that can be wrong with the shared config files or a profile in them.
///
/// `code` is stable (tests and callers compare it); `message` is for people: it names the
/// profile and the `file:line` involved and says what to change. Messages never quote a
/// value that could be a secret (keys, tokens, or a malformed line's text).
public struct ConfigError: UserFacingError, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// The profile (or a `source_profile` it names) is in neither file.
        case unknownProfile = "unknown-profile"
        /// The profile has no `role_arn`, so there is no role to assume.
        case missingRoleArn = "missing-role-arn"
        /// Both `source_profile` and `credential_source` are set.
        case sourceConflict = "source-conflict"
        /// Neither `source_profile` nor `credential_source` is set.
        case noSource = "no-source"
        /// `source_profile` links form a loop, or a `credential_process` (a source's, or the
        /// delegating pattern's, `ResolutionPolicy.delegatedProfile`) runs the calling program
        /// again for a profile on the way to it.
        case sourceCycle = "source-cycle"
        /// The source profile has no keys, no role and no `credential_process`.
        case sourceWithoutKeys = "source-without-keys"
        /// The source profile has one of `aws_access_key_id` / `aws_secret_access_key` but not the other.
        case partialKeys = "partial-keys"
        /// A line the INI reader cannot make sense of.
        case malformedLine = "malformed-line"
        /// The file is not UTF-8 text.
        case invalidEncoding = "invalid-encoding"
        /// `duration_seconds` is not a whole number in 900...43200.
        case invalidDuration = "invalid-duration"
        /// `credential_source` is not `Environment`, `Ec2InstanceMetadata` or `EcsContainer`.
        case unknownCredentialSource = "unknown-credential-source"
        /// `credential_source = Environment` but `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` are unset.
        case missingEnvironmentCredentials = "missing-environment-credentials"
        /// `services = name` points at a `[services name]` section that does not exist.
        case unknownServicesSection = "unknown-services-section"
        /// `sso_session = NAME` without an `[sso-session NAME]` section.
        case unknownSSOSession = "unknown-sso-session"
        /// A key set differently in an Identity Center profile and its sso-session.
        case ssoSessionConflict = "sso-session-conflict"
        /// `sso_account_id`/`sso_role_name` without the rest of the Identity Center settings.
        case incompleteSSOProfile = "incomplete-sso-profile"
        /// A setting has a value outside its allowed set (`sts_regional_endpoints`,
        /// `mfa_session_duration`, or a default the program passes in through `ResolutionPolicy`).
        case invalidSetting = "invalid-setting"
        /// A config file exists but cannot be read (permissions, not a regular file, too large).
        case unreadableFile = "unreadable-file"
    }

    public let code: Code
    public let message: String
    public var errorCode: String { "config." + code.rawValue }
    /// The profile the problem is in, when there is one.
    public let profile: String?
    /// The line to fix, when there is one.
    public let location: FileLocation?

    public init(_ code: Code, _ message: String, profile: String? = nil, location: FileLocation? = nil) {
        self.code = code
        self.message = message
        self.profile = profile
        self.location = location
    }

    public var description: String { message }
}

extension ConfigError {
    /// An error at `location` (a setting's line, or the profile's header) in `profile`: the
    /// message starts with that `file:line`, and the error carries both for callers (doctor)
    /// that point at them.
    init(_ code: Code, at location: FileLocation, of profile: Profile, _ message: String) {
        self.init(code, "\(location): " + message, profile: profile.name, location: location)
    }
}
