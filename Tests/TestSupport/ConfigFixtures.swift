import Foundation
import Testing
import AWSConfig
import Credentials

/// A real temporary directory, removed when released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "stscache-tests") throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(.EIO)
        }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func sub(_ name: String) -> String { path + "/" + name }
}

/// A temporary directory holding `config` and `credentials`, removed when released.
public final class TempAWSDirectory {
    private let directory: TemporaryDirectory
    public var configPath: String { directory.sub("config") }
    public var credentialsPath: String { directory.sub("credentials") }

    public init() throws { directory = try TemporaryDirectory(prefix: "awsconfig-tests") }

    public func write(config: String? = nil, credentials: String? = nil) throws {
        if let config { try Data(config.utf8).write(to: URL(fileURLWithPath: configPath)) }
        if let credentials { try Data(credentials.utf8).write(to: URL(fileURLWithPath: credentialsPath)) }
    }

    public func writeConfig(bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: configPath))
    }

    public func load() throws -> ConfigFiles {
        try ConfigFiles.load(configPath: configPath, credentialsPath: credentialsPath)
    }
}

/// Writes the two files into a fresh directory and loads them (the directory goes away after).
public func loadFiles(config: String? = nil, credentials: String? = nil) throws -> ConfigFiles {
    let directory = try TempAWSDirectory()
    try directory.write(config: config, credentials: credentials)
    return try directory.load()
}

/// Runs `body`, requires it to throw a `ConfigError` with `code`, and returns the error.
@discardableResult
public func expectConfigError(
    _ code: ConfigError.Code, sourceLocation: Testing.SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ConfigError? {
    do {
        try body()
        Issue.record("expected ConfigError \(code.rawValue), but nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as ConfigError {
        #expect(error.code == code, "message: \(error.message)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected ConfigError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

public let noEnvironment: [String: String] = [:]

extension ProfileResolver {
    /// A resolver with stscache's policy and a fixed user name.
    package init(files: ConfigFiles, environment: [String: String],
                 userName: @autoclosure @escaping @Sendable () -> String) {
        self.init(files: files, environment: environment, policy: .stscache(userName: userName))
    }

    /// Resolves `profile` with stscache's policy.
    package static func resolve(profile: String, files: ConfigFiles, environment: [String: String],
                                userName: @autoclosure @escaping @Sendable () -> String) throws(ConfigError)
        -> RoleProfile
    {
        try ProfileResolver(files: files, environment: environment, userName: userName()).resolve(profile: profile)
    }
}

// MARK: Files several targets read

/// `[base]` in the credentials file: the long-term keys of a source profile.
public let baseKeysCredentials = "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret-value\n"

/// The keys `baseKeysCredentials` holds, as a resolved source carries them.
public let baseKeys = StaticKeys(accessKeyId: "AKIDBASE", secretAccessKey: "base-secret-value")

/// `prod` delegating to the role profile `prod-role` through stscache, `other` running another
/// helper: the credential_process lines a delegation is read from.
public let delegatingConfig = """
    [profile prod]
    credential_process = stscache credential-process --profile prod-role
    [profile other]
    credential_process = /opt/bin/helper --json
    [profile prod-role]
    role_arn = arn:aws:iam::123456789012:role/Admin
    """

/// IAM Identity Center in the config file, in pieces the tests join as they need.
public enum IdentityCenterConfig {
    /// `[sso-session corp]`: the start URL and Identity Center's region.
    public static let corpSession = """
        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1
        """

    /// `corpSession` with the scopes its client registers for.
    public static let corpSessionWithScopes = corpSession + "\nsso_registration_scopes = sso:account:access, other:scope"

    /// `dev`: account 111122223333's Developer role, signed in to through `corp`.
    public static let devProfile = """
        [profile dev]
        sso_session = corp
        sso_account_id = 111122223333
        sso_role_name = Developer
        """

    /// `old`: the legacy form, with the start URL and region in the profile itself.
    public static let legacyProfile = """
        [profile old]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1
        """
}
