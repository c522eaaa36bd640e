import Foundation
import Testing

import AWSConfig
@testable import Credentials
import TestSupport

private let adminArn = "arn:aws:iam::123456789012:role/Admin"

/// A temp directory with both files written, resolving profiles with a given environment.
private struct Fixture {
    let directory: TempAWSDirectory
    let files: ConfigFiles
    var environment: [String: String] = [:]
    var userName = "alice"

    init(config: String, credentials: String? = nil, environment: [String: String] = [:]) throws {
        directory = try TempAWSDirectory()
        try directory.write(config: config, credentials: credentials)
        files = try directory.load()
        self.environment = environment
    }

    var configPath: String { directory.configPath }
    var credentialsPath: String { directory.credentialsPath }

    func resolve(_ profile: String) throws -> RoleProfile {
        let userName = self.userName  // the resolver reads it lazily, from a Sendable closure
        return try ProfileResolver.resolve(profile: profile, files: files, environment: environment, userName: userName)
    }

    func expectError(_ code: ConfigError.Code, resolving profile: String,
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
        expectConfigError(code, sourceLocation: sourceLocation) { _ = try resolve(profile) }
    }

    /// Resolves with stscache's policy minus its key store: botocore's rules for sources.
    func resolveWithoutStore(_ profile: String) throws -> RoleProfile {
        var policy = ResolutionPolicy.stscache(userName: { "alice" })
        policy.sourcesMayHaveStoredKeys = false
        return try ProfileResolver(files: files, environment: environment, policy: policy).resolve(profile: profile)
    }
}

/// One row of a table: the files and environment a profile is resolved with, named by what the
/// row shows (the name is what a test report prints for it).
private struct Resolution: Sendable, CustomTestStringConvertible {
    let testDescription: String
    var config: String
    var credentials: String?
    var environment: [String: String]
    var profile: String
    var userName: String

    init(_ shows: String, config: String, credentials: String? = nil, environment: [String: String] = [:],
         profile: String = "x", userName: String = "alice") {
        testDescription = shows
        self.config = config
        self.credentials = credentials
        self.environment = environment
        self.profile = profile
        self.userName = userName
    }

    func fixture() throws -> Fixture {
        var fixture = try Fixture(config: config, credentials: credentials, environment: environment)
        fixture.userName = userName
        return fixture
    }

    func resolve() throws -> RoleProfile { try fixture().resolve(profile) }
}

/// One row of a table of errors: a profile that must not resolve, and what the error must say.
/// In `mentions`, `omits` and `prefix`, `{config}` and `{credentials}` stand for the files' paths.
private struct Failure: Sendable, CustomTestStringConvertible {
    enum Location: Sendable {
        /// The error's location is on this line.
        case line(Int)
        /// The error's location is this line of the config file.
        case config(line: Int)
    }

    var resolution: Resolution
    var code: ConfigError.Code
    /// Resolve with botocore's rules for sources, without stscache's key store.
    var withoutStore = false
    var location: Location?
    /// The profile the error is about.
    var profile: String?
    var mentions: [String] = []
    var omits: [String] = []
    var prefix: String?

    init(_ resolution: Resolution, _ code: ConfigError.Code, withoutStore: Bool = false, at location: Location? = nil,
         profile: String? = nil, mentions: [String] = [], omits: [String] = [], prefix: String? = nil) {
        self.resolution = resolution
        self.code = code
        self.withoutStore = withoutStore
        self.location = location
        self.profile = profile
        self.mentions = mentions
        self.omits = omits
        self.prefix = prefix
    }

    var testDescription: String { resolution.testDescription }

    func check(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fixture = try resolution.fixture()
        let error = expectConfigError(code, sourceLocation: sourceLocation) {
            _ = try withoutStore ? fixture.resolveWithoutStore(resolution.profile) : fixture.resolve(resolution.profile)
        }
        func paths(_ text: String) -> String {
            text.replacingOccurrences(of: "{config}", with: fixture.configPath)
                .replacingOccurrences(of: "{credentials}", with: fixture.credentialsPath)
        }
        switch location {
        case .line(let line)?: #expect(error?.location?.line == line, sourceLocation: sourceLocation)
        case .config(let line)?:
            #expect(error?.location == FileLocation(file: fixture.configPath, line: line), sourceLocation: sourceLocation)
        case nil: break
        }
        if let profile { #expect(error?.profile == profile, sourceLocation: sourceLocation) }
        for text in mentions.map(paths) {
            #expect(error?.message.contains(text) == true, "\(text)", sourceLocation: sourceLocation)
        }
        for text in omits.map(paths) {
            #expect(error?.message.contains(text) == false, "\(text)", sourceLocation: sourceLocation)
        }
        if let prefix = prefix.map(paths) {
            #expect(error?.message.hasPrefix(prefix) == true, sourceLocation: sourceLocation)
        }
    }
}

@Suite("Profile resolution")
struct ProfileResolverTests {}

// MARK: Sources

/// `base` holds credential_process; where its keys are decides.
private let keysOrCredentialProcess = """
    [profile top]
    role_arn = \(adminArn)
    source_profile = base
    [profile base]
    credential_process = helper
    """

/// `prod-role`'s source runs stscache for `prod-role` itself; `other`'s runs it for a profile
/// off its path.
private let stscacheLoop = """
    [profile prod-role]
    role_arn = \(adminArn)
    source_profile = prod
    [profile prod]
    credential_process = /usr/local/bin/stscache credential-process --profile prod-role
    [profile other]
    role_arn = \(adminArn)
    source_profile = helper
    [profile helper]
    credential_process = stscache credential-process --profile unrelated
    """

private let environmentSource = "[profile env]\nrole_arn = \(adminArn)\ncredential_source = Environment\n"

private let sources: [(Resolution, CredentialSource)] = [
    (Resolution("a source with both keys and a role uses its keys, as botocore does", config: """
        [profile top]
        role_arn = \(adminArn)
        source_profile = base
        [profile base]
        role_arn = arn:aws:iam::222222222222:role/Ignored
        source_profile = nowhere
        """, credentials: baseKeysCredentials, profile: "top"),
     .staticKeys(profile: "base", baseKeys)),
    (Resolution("a profile may be its own source when it holds static keys", config: """
        [profile self]
        role_arn = \(adminArn)
        source_profile = self
        """, credentials: "[self]\naws_access_key_id = AKIDSELF\naws_secret_access_key = self-secret\n", profile: "self"),
     .staticKeys(profile: "self", StaticKeys(accessKeyId: "AKIDSELF", secretAccessKey: "self-secret"))),
    (Resolution("a source with no keys, no role and no credential_process may have stored keys", config: """
        [profile top]
        role_arn = \(adminArn)
        source_profile = base
        [profile base]
        region = eu-west-1
        """, profile: "top"),
     .storedKeys(profile: "base")),
    (Resolution("a source_profile in no file may have stored keys",
                config: "[profile top]\nrole_arn = \(adminArn)\nsource_profile = nope\n", profile: "top"),
     .storedKeys(profile: "nope")),
    (Resolution("credential_process on the source profile gives .credentialProcess", config: """
        [profile top]
        role_arn = \(adminArn)
        source_profile = sso
        [profile sso]
        credential_process = /usr/bin/helper --account "dev account"
        """, profile: "top"),
     .credentialProcess(profile: "sso", command: "/usr/bin/helper --account \"dev account\"")),
    (Resolution("keys in the credentials file beat credential_process", config: keysOrCredentialProcess,
                credentials: baseKeysCredentials, profile: "top"),
     .staticKeys(profile: "base", baseKeys)),
    (Resolution("keys only in the config file lose to credential_process",
                config: keysOrCredentialProcess + "\naws_access_key_id = AKIDC\naws_secret_access_key = s\n", profile: "top"),
     .credentialProcess(profile: "base", command: "helper")),
    (Resolution("running stscache for a profile off the path is not a loop by itself", config: stscacheLoop, profile: "other"),
     .credentialProcess(profile: "helper", command: "stscache credential-process --profile unrelated")),
    (Resolution("credential_source = Environment takes keys from the passed environment", config: environmentSource,
                environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token"],
                profile: "env"),
     .environment(StaticKeys(accessKeyId: "AKIDENV", secretAccessKey: "env-secret", sessionToken: "env-token"))),
    (Resolution("credential_source = Environment with an empty AWS_SESSION_TOKEN takes no token", config: environmentSource,
                environment: ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": ""],
                profile: "env"),
     .environment(StaticKeys(accessKeyId: "AKIDENV", secretAccessKey: "env-secret"))),
    (Resolution("credential_source Ec2InstanceMetadata maps to its case",
                config: "[profile ec2]\nrole_arn = \(adminArn)\ncredential_source = Ec2InstanceMetadata\n", profile: "ec2"),
     .ec2InstanceMetadata),
    (Resolution("credential_source EcsContainer maps to its case",
                config: "[profile ecs]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n", profile: "ecs"),
     .ecsContainer),
]

/// Roles a -> b -> c, and c's source `last`: a cycle through all three when it is a (which one
/// is resolved decides where the message enters it), a cycle a only leads into when it is b.
private func roleChain(endingAt last: String) -> String {
    """
    [profile a]
    role_arn = arn:aws:iam::1:role/A
    source_profile = b
    [profile b]
    role_arn = arn:aws:iam::1:role/B
    source_profile = c
    [profile c]
    role_arn = arn:aws:iam::1:role/C
    source_profile = \(last)
    """
}

private let sourceFailures: [Failure] = [
    Failure(Resolution("a profile that is its own source without keys is a cycle",
                       config: "[profile self]\nrole_arn = \(adminArn)\nsource_profile = self\n", profile: "self"),
            .sourceCycle, at: .config(line: 3), mentions: ["self -> self"]),
    Failure(Resolution("a source_profile cycle is an error naming the whole cycle and the line that closes it",
                       config: roleChain(endingAt: "a"), profile: "a"),
            .sourceCycle, at: .line(9), mentions: ["a -> b -> c -> a", "{config}:9"]),
    Failure(Resolution("entering a source_profile cycle elsewhere names the loop from there",
                       config: roleChain(endingAt: "a"), profile: "b"),
            .sourceCycle, mentions: ["b -> c -> a -> b"]),
    Failure(Resolution("a cycle that does not return to the first profile still names its path",
                       config: roleChain(endingAt: "b"), profile: "a"),
            .sourceCycle, mentions: ["a -> b -> c -> b"]),
    Failure(Resolution("without a store, a source with no keys, no role and no credential_process is source-without-keys",
                       config: """
        [profile top]
        role_arn = \(adminArn)
        source_profile = base
        [profile base]
        region = eu-west-1
        """, profile: "top"),
            .sourceWithoutKeys, withoutStore: true, profile: "base", mentions: ["\"top\"", "{config}:4", "aws_access_key_id"]),
    Failure(Resolution("a source with only one of the two keys is partial-keys, and the message holds no key value",
                       config: "[profile top]\nrole_arn = \(adminArn)\nsource_profile = base\n",
                       credentials: "[base]\naws_secret_access_key = only-the-secret-value\n", profile: "top"),
            .partialKeys, mentions: ["aws_access_key_id", "{credentials}:2"], omits: ["only-the-secret-value"]),
    Failure(Resolution("without a store, a source_profile in no file is unknown-profile at the source_profile line",
                       config: "[profile top]\nrole_arn = \(adminArn)\nsource_profile = nope\n", profile: "top"),
            .unknownProfile, withoutStore: true, at: .config(line: 3), mentions: ["\"nope\"", "\"top\""]),
    Failure(Resolution("an Identity Center source naming a missing sso-session is an error naming it", config: """
        [profile top]
        role_arn = \(adminArn)
        source_profile = sso
        [profile sso]
        sso_session = corp
        sso_account_id = 123456789012
        """, profile: "top"),
            .unknownSSOSession, mentions: ["\"sso\"", "[sso-session corp]"]),
    Failure(Resolution("a source whose credential_process runs stscache for a profile on the way is a source-cycle",
                       config: stscacheLoop, profile: "prod-role"),
            .sourceCycle, at: .line(5), mentions: ["prod-role -> prod -> prod-role"]),
    Failure(Resolution("credential_source = Environment without the variables names what is missing, never a value",
                       config: environmentSource, environment: ["AWS_SECRET_ACCESS_KEY": "env-secret-value"], profile: "env"),
            .missingEnvironmentCredentials, at: .config(line: 3), profile: "env",
            mentions: ["AWS_ACCESS_KEY_ID is not set"], omits: ["env-secret-value"]),
    Failure(Resolution("an unknown credential_source (names are case-sensitive) is an error listing the valid ones",
                       config: "[profile x]\nrole_arn = \(adminArn)\ncredential_source = environment\n"),
            .unknownCredentialSource, mentions: ["Environment, Ec2InstanceMetadata, EcsContainer", "{config}:3"]),
]

extension ProfileResolverTests {
    @Test("source_profile with static keys in the credentials file gives .staticKeys")
    func staticKeysSource() throws {
        let fixture = try Fixture(
            config: """
                [profile prod-role]
                role_arn = \(adminArn)
                source_profile = base
                role_session_name = alice
                duration_seconds = 3600
                external_id = ext-123
                mfa_serial = arn:aws:iam::123456789012:mfa/alice
                [profile base]
                region = eu-west-1
                """,
            credentials: baseKeysCredentials + "aws_session_token = base-token\n")
        let role = try fixture.resolve("prod-role")
        #expect(role == RoleProfile(
            name: "prod-role", roleArn: adminArn, roleSessionName: "alice", externalId: "ext-123",
            durationSeconds: 3600, mfaSerial: "arn:aws:iam::123456789012:mfa/alice", region: "us-east-1",
            source: .staticKeys(profile: "base", StaticKeys(
                accessKeyId: "AKIDBASE", secretAccessKey: "base-secret-value", sessionToken: "base-token"))))
    }

    @Test("a source that is itself a role chains, each hop with its own settings")
    func roleChaining() throws {
        let fixture = try Fixture(
            config: """
                [profile top]
                role_arn = arn:aws:iam::111111111111:role/Top
                source_profile = middle
                region = eu-west-1
                endpoint_url = https://top.example
                [profile middle]
                role_arn = arn:aws:iam::222222222222:role/Middle
                source_profile = base
                region = ap-southeast-2
                role_session_name = mid
                duration_seconds = 900
                """,
            credentials: baseKeysCredentials)
        let role = try fixture.resolve("top")
        #expect(role.roleArn == "arn:aws:iam::111111111111:role/Top")
        #expect(role.region == "eu-west-1")
        #expect(role.endpointURL == "https://top.example")
        #expect(role.roleSessionName == "stscache-alice")
        guard case .role(let middle) = role.source else {
            Issue.record("expected a chained role, got \(role.source)")
            return
        }
        #expect(middle.name == "middle")
        #expect(middle.roleArn == "arn:aws:iam::222222222222:role/Middle")
        #expect(middle.region == "ap-southeast-2")
        #expect(middle.endpointURL == nil)
        #expect(middle.roleSessionName == "mid")
        #expect(middle.durationSeconds == 900)
        #expect(middle.source == .staticKeys(profile: "base", baseKeys))
    }

    @Test("a role's source resolves to the kind of source it is", arguments: sources)
    fileprivate func source(_ resolution: Resolution, expected: CredentialSource) throws {
        #expect(try resolution.resolve().source == expected)
    }

    @Test("a source with a role beats its credential_process (botocore resolves role_arn first)")
    func roleBeatsCredentialProcess() throws {
        let fixture = try Fixture(
            config: """
                [profile top]
                role_arn = \(adminArn)
                source_profile = mid
                [profile mid]
                role_arn = arn:aws:iam::1:role/Mid
                source_profile = base
                credential_process = helper
                """,
            credentials: baseKeysCredentials)
        guard case .role(let mid) = try fixture.resolve("top").source else {
            Issue.record("expected role chaining")
            return
        }
        #expect(mid.roleArn == "arn:aws:iam::1:role/Mid")
    }

    @Test("a source that cannot give credentials is an error saying why, and where", arguments: sourceFailures)
    fileprivate func sourceFailure(_ failure: Failure) throws {
        try failure.check()
    }
}

// MARK: Web identity

private let webIdentityFailures: [Failure] = [
    Failure(Resolution("a web identity token in the environment and no role ARN anywhere is missing-role-arn mentioning AWS_ROLE_ARN",
                       config: "[profile pod]\n", environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/env/token"], profile: "pod"),
            .missingRoleArn, mentions: ["AWS_ROLE_ARN"]),
    Failure(Resolution("a web identity source profile without role_arn is missing-role-arn", config: """
        [profile top]
        role_arn = arn:aws:iam::1:role/Top
        source_profile = web
        [profile web]
        web_identity_token_file = /cfg/token
        """, profile: "top"),
            .missingRoleArn, at: .line(5)),
]

extension ProfileResolverTests {
    @Test("role_arn + web_identity_token_file assumes the role with the token, not a source")
    func webIdentityProfile() throws {
        let fixture = try Fixture(config: """
            [profile web]
            role_arn = \(adminArn)
            web_identity_token_file = /var/run/token
            role_session_name = pod
            duration_seconds = 7200
            region = eu-west-1
            """)
        let role = try fixture.resolve("web")
        #expect(role.source == .webIdentity(tokenFile: "/var/run/token"))
        #expect(role.roleArn == adminArn)
        #expect(role.roleSessionName == "pod")
        #expect(role.durationSeconds == 7200)
        #expect(role.region == "eu-west-1")
        #expect(role.isChained == false)
    }

    @Test("AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME win for the profile asked for")
    func webIdentityEnvironment() throws {
        let environment = [
            "AWS_WEB_IDENTITY_TOKEN_FILE": "/env/token", "AWS_ROLE_ARN": "arn:aws:iam::1:role/FromEnv",
            "AWS_ROLE_SESSION_NAME": "env-session",
        ]
        // A profile naming no source at all becomes a web identity profile from the environment.
        let bare = try Fixture(config: "[profile pod]\nregion = eu-west-1\n", environment: environment)
        let role = try bare.resolve("pod")
        #expect(role.source == .webIdentity(tokenFile: "/env/token"))
        #expect(role.roleArn == "arn:aws:iam::1:role/FromEnv")
        #expect(role.roleSessionName == "env-session")

        // The profile's own settings lose to the environment, as in botocore.
        let configured = try Fixture(
            config: "[profile web]\nrole_arn = \(adminArn)\nweb_identity_token_file = /cfg/token\n",
            environment: environment)
        #expect(try configured.resolve("web").source == .webIdentity(tokenFile: "/env/token"))
        #expect(try configured.resolve("web").roleArn == "arn:aws:iam::1:role/FromEnv")

        // A profile with its own source ignores the environment's web identity.
        let withSource = try Fixture(
            config: "[profile prod]\nrole_arn = \(adminArn)\nsource_profile = base\n", credentials: baseKeysCredentials,
            environment: environment)
        #expect(try withSource.resolve("prod").roleArn == adminArn)
        #expect(try withSource.resolve("prod").source == .staticKeys(profile: "base", baseKeys))
    }

    @Test("a web identity source profile is a role session: the role on top is chained")
    func webIdentitySource() throws {
        let fixture = try Fixture(
            config: """
                [profile top]
                role_arn = arn:aws:iam::1:role/Top
                source_profile = web
                duration_seconds = 7200
                [profile web]
                role_arn = arn:aws:iam::1:role/Web
                web_identity_token_file = /cfg/token
                """,
            environment: ["AWS_ROLE_ARN": "arn:aws:iam::1:role/EnvIgnoredForSources"])
        let top = try fixture.resolve("top")
        #expect(top.durationSeconds == 7200)
        #expect(top.isChained)
        guard case .role(let web) = top.source else {
            Issue.record("expected a web identity role as the source, got \(top.source)")
            return
        }
        #expect(web.roleArn == "arn:aws:iam::1:role/Web")
        #expect(web.source == .webIdentity(tokenFile: "/cfg/token"))
    }

    @Test("web identity without a role ARN is an error", arguments: webIdentityFailures)
    fileprivate func webIdentityFailure(_ failure: Failure) throws {
        try failure.check()
    }
}

// MARK: MFA

/// A role with an MFA device whose source holds long-term keys.
private let mfaRole = "[profile prod]\nrole_arn = \(adminArn)\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/a\n"

extension ProfileResolverTests {
    @Test("mfa_serial with long-term source keys gives an MFA session; the role then sends no code itself")
    func mfaSessionFromRoleSerial() throws {
        let fixture = try Fixture(
            config: """
                [profile prod]
                role_arn = \(adminArn)
                source_profile = base
                mfa_serial = arn:aws:iam::123456789012:mfa/alice
                mfa_process = ykman oath accounts code -s aws
                """,
            credentials: baseKeysCredentials)
        let role = try fixture.resolve("prod")
        #expect(role.mfaSession == MFASessionSettings(
            serialNumber: "arn:aws:iam::123456789012:mfa/alice", mfaProcess: "ykman oath accounts code -s aws",
            durationSeconds: nil, serialProfile: "prod"))
        #expect(role.mfaSerial == "arn:aws:iam::123456789012:mfa/alice")
        #expect(role.assumeRoleMFASerial == nil)
    }

    @Test("the source profile's mfa_serial and mfa_session_duration come first")
    func mfaSessionFromSourceSerial() throws {
        let fixture = try Fixture(
            config: """
                [profile prod]
                role_arn = \(adminArn)
                source_profile = base
                mfa_session_duration = 1h
                [profile base]
                mfa_serial = arn:aws:iam::123456789012:mfa/base
                mfa_session_duration = 36h
                """,
            credentials: baseKeysCredentials,
            environment: ["STSCACHE_MFA_SESSION_DURATION": "900"])
        let role = try fixture.resolve("prod")
        #expect(role.mfaSession?.serialNumber == "arn:aws:iam::123456789012:mfa/base")
        #expect(role.mfaSession?.serialProfile == "base")
        #expect(role.mfaSession?.durationSeconds == 129_600)
        #expect(role.assumeRoleMFASerial == nil)
    }

    @Test("a role whose mfa_serial differs from its source's still sends its own code on AssumeRole")
    func mfaDifferentDevices() throws {
        let fixture = try Fixture(
            config: """
                [profile prod]
                role_arn = \(adminArn)
                source_profile = base
                mfa_serial = arn:aws:iam::123456789012:mfa/role-device
                [profile base]
                mfa_serial = arn:aws:iam::123456789012:mfa/base
                """,
            credentials: baseKeysCredentials)
        let role = try fixture.resolve("prod")
        #expect(role.mfaSession?.serialNumber == "arn:aws:iam::123456789012:mfa/base")
        #expect(role.assumeRoleMFASerial == "arn:aws:iam::123456789012:mfa/role-device")
    }

    @Test("STSCACHE_MFA_SESSION_DURATION applies when no profile sets it")
    func mfaSessionDurationEnvironment() throws {
        let fromEnvironment = try Fixture(config: mfaRole, credentials: baseKeysCredentials,
                                          environment: ["STSCACHE_MFA_SESSION_DURATION": "90m"])
        #expect(try fromEnvironment.resolve("prod").mfaSession?.durationSeconds == 5400)
    }

    @Test("STSCACHE_MFA_SESSION_DURATION is validated", arguments: ["37h", "10m", "soon", "-1"])
    func invalidMFASessionDurationEnvironment(_ bad: String) throws {
        let fixture = try Fixture(config: mfaRole, credentials: baseKeysCredentials,
                                  environment: ["STSCACHE_MFA_SESSION_DURATION": bad])
        let error = fixture.expectError(.invalidSetting, resolving: "prod")
        #expect(error?.message.contains("STSCACHE_MFA_SESSION_DURATION") == true)
    }

    @Test("temporary source keys, a role source or Environment with a token send the code on AssumeRole")
    func mfaWithoutSession() throws {
        let fixture = try Fixture(
            config: """
                [profile temp]
                role_arn = \(adminArn)
                source_profile = base
                mfa_serial = arn:aws:iam::1:mfa/a
                [profile chained]
                role_arn = arn:aws:iam::1:role/Second
                source_profile = temp
                mfa_serial = arn:aws:iam::1:mfa/b
                [profile env]
                role_arn = \(adminArn)
                credential_source = Environment
                mfa_serial = arn:aws:iam::1:mfa/c
                """,
            credentials: baseKeysCredentials + "aws_session_token = base-token\n",
            environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"])
        #expect(try fixture.resolve("temp").mfaSession == nil)
        #expect(try fixture.resolve("temp").assumeRoleMFASerial == "arn:aws:iam::1:mfa/a")
        #expect(try fixture.resolve("chained").mfaSession == nil)
        #expect(try fixture.resolve("chained").assumeRoleMFASerial == "arn:aws:iam::1:mfa/b")
        #expect(try fixture.resolve("env").mfaSession == nil)

        let longTermEnvironment = try Fixture(
            config: "[profile env]\nrole_arn = \(adminArn)\ncredential_source = Environment\nmfa_serial = arn:aws:iam::1:mfa/c\n",
            environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s"])
        #expect(try longTermEnvironment.resolve("env").mfaSession?.serialNumber == "arn:aws:iam::1:mfa/c")
    }
}

// MARK: Required keys

private let profileFailures: [Failure] = [
    Failure(Resolution("an unknown profile error lists the profiles that exist",
                       config: "[profile dev]\nregion = x\n", credentials: "[base]\n", profile: "prod", userName: "u"),
            .unknownProfile, mentions: ["dev, base"], omits: ["does not exist"]),
    Failure(Resolution("a profile without role_arn is missing-role-arn naming the profile and its header line",
                       config: "[default]\nregion = x\n\n[profile plain]\nsource_profile = base\n", profile: "plain"),
            .missingRoleArn, at: .config(line: 4), mentions: ["\"plain\"", "[profile plain]", "role_arn ="],
            prefix: "{config}:4: profile \"plain\""),
    Failure(Resolution("a delegating profile stands for its target: a missing target is named, with the line", config: """
        [profile prod]
        credential_process = stscache credential-process --profile prod-role
        """, profile: "prod"),
            .unknownProfile, at: .config(line: 2), mentions: ["for profile \"prod-role\"", "add [profile prod-role]"]),
    Failure(Resolution("both source_profile and credential_source is source-conflict naming both lines", config: """
        [profile x]
        role_arn = \(adminArn)
        source_profile = base
        credential_source = Environment
        """),
            .sourceConflict, profile: "x", mentions: ["{config}:3", "{config}:4"]),
    Failure(Resolution("neither source_profile nor credential_source is no-source", config: "\n[profile x]\nrole_arn = \(adminArn)\n"),
            .noSource, at: .line(2), mentions: ["source_profile", "credential_source"]),
]

extension ProfileResolverTests {
    @Test("an unknown profile with no files says which files were read and that they do not exist")
    func unknownProfileNoFiles() throws {
        let directory = try TempAWSDirectory()
        let files = try directory.load()
        let error = expectConfigError(.unknownProfile) {
            _ = try ProfileResolver.resolve(profile: "prod", files: files, environment: noEnvironment, userName: "u")
        }
        #expect(error?.message.contains("\(directory.configPath) (does not exist)") == true)
        #expect(error?.message.contains(directory.credentialsPath) == true)
        #expect(error?.message.contains("\"prod\"") == true)
        #expect(error?.profile == "prod")
    }

    @Test("a profile that is missing or lacks what a role needs is an error saying what to add", arguments: profileFailures)
    fileprivate func profileFailure(_ failure: Failure) throws {
        try failure.check()
    }
}

// MARK: Settings

/// A role profile with a source and nothing else; rows add the settings they are about.
private let plainRole = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n"

private let regions: [(Resolution, String)] = {
    let both = ["AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ca-central-1"]
    return [
        (Resolution("the profile's region beats both variables", config: plainRole + "region = eu-west-1\n", environment: both),
         "eu-west-1"),
        (Resolution("AWS_REGION beats AWS_DEFAULT_REGION", config: plainRole, environment: both), "ap-south-1"),
        (Resolution("AWS_DEFAULT_REGION alone", config: plainRole, environment: ["AWS_DEFAULT_REGION": "ca-central-1"]),
         "ca-central-1"),
        (Resolution("an empty AWS_REGION is no region", config: plainRole, environment: ["AWS_REGION": ""]), "us-east-1"),
    ]
}()

/// `x` with a services section, `plain` with its own endpoint_url only, `bare` with none.
private let endpointProfiles = """
    [profile x]
    role_arn = \(adminArn)
    credential_source = EcsContainer
    services = local
    endpoint_url = https://profile.example
    [profile plain]
    role_arn = \(adminArn)
    credential_source = EcsContainer
    endpoint_url = https://profile.example
    [profile bare]
    role_arn = \(adminArn)
    credential_source = EcsContainer
    [services local]
    s3 =
      endpoint_url = https://s3.example
    sts =
      endpoint_url = https://services.example
    """

private let endpointsIgnored = plainRole + "endpoint_url = https://profile.example\nignore_configured_endpoint_urls = true\n"

private let endpoints: [(Resolution, String?)] = {
    let global = ["AWS_ENDPOINT_URL": "https://env-global.example"]
    return [
        (Resolution("AWS_ENDPOINT_URL_STS beats every other", config: endpointProfiles,
                    environment: ["AWS_ENDPOINT_URL_STS": "https://env-sts.example", "AWS_ENDPOINT_URL": "https://env-global.example"]),
         "https://env-sts.example"),
        (Resolution("the services section's sts endpoint_url beats AWS_ENDPOINT_URL", config: endpointProfiles,
                    environment: global),
         "https://services.example"),
        (Resolution("AWS_ENDPOINT_URL beats the profile's endpoint_url", config: endpointProfiles, environment: global,
                    profile: "plain"),
         "https://env-global.example"),
        (Resolution("the profile's endpoint_url", config: endpointProfiles, profile: "plain"), "https://profile.example"),
        (Resolution("no endpoint anywhere is nil", config: endpointProfiles, profile: "bare"), nil),
        (Resolution("ignore_configured_endpoint_urls turns every configured endpoint off", config: endpointsIgnored,
                    environment: ["AWS_ENDPOINT_URL_STS": "https://e.example"]),
         nil),
        (Resolution("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = false beats the profile's ignore_configured_endpoint_urls",
                    config: endpointsIgnored, environment: ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"]),
         "https://profile.example"),
    ]
}()

private let regionalEndpoints: [(Resolution, String?)] = [
    (Resolution("the profile's sts_regional_endpoints beats the variable",
                config: plainRole + "sts_regional_endpoints = legacy\n", environment: ["AWS_STS_REGIONAL_ENDPOINTS": "regional"]),
     "legacy"),
    (Resolution("AWS_STS_REGIONAL_ENDPOINTS when the profile sets none", config: plainRole,
                environment: ["AWS_STS_REGIONAL_ENDPOINTS": "regional"]),
     "regional"),
    (Resolution("neither is nil", config: plainRole), nil),
]

private let caBundles: [(Resolution, String?)] = [
    (Resolution("AWS_CA_BUNDLE beats the profile's ca_bundle", config: plainRole + "ca_bundle = /profile/ca.pem\n",
                environment: ["AWS_CA_BUNDLE": "/env/ca.pem"]),
     "/env/ca.pem"),
    (Resolution("the profile's ca_bundle", config: plainRole + "ca_bundle = /profile/ca.pem\n"), "/profile/ca.pem"),
    (Resolution("AWS_CA_BUNDLE alone", config: plainRole, environment: ["AWS_CA_BUNDLE": "/env/ca.pem"]), "/env/ca.pem"),
    (Resolution("neither is nil", config: plainRole), nil),
]

private let settingFailures: [Failure] = [
    Failure(Resolution("services = name without a [services name] section is unknown-services-section at that line",
                       config: plainRole + "services = missing\n"),
            .unknownServicesSection, at: .line(4), mentions: ["[services missing]"]),
    Failure(Resolution("sts_regional_endpoints other than legacy or regional is invalid-setting at its line",
                       config: plainRole + "sts_regional_endpoints = global\n"),
            .invalidSetting, at: .line(4)),
    Failure(Resolution("AWS_STS_REGIONAL_ENDPOINTS other than legacy or regional is invalid-setting naming it",
                       config: plainRole, environment: ["AWS_STS_REGIONAL_ENDPOINTS": "nope"]),
            .invalidSetting, mentions: ["AWS_STS_REGIONAL_ENDPOINTS"]),
    Failure(Resolution("an invalid mfa_session_duration is invalid-setting at its line",
                       config: mfaRole + "mfa_session_duration = 2d\n", credentials: baseKeysCredentials, profile: "prod"),
            .invalidSetting, at: .line(5)),
]

extension ProfileResolverTests {
    @Test("duration_seconds that is not a number, or is outside 900...43200, is invalid-duration at its line",
          arguments: ["abc", "3600s", "+3600", "-900", "899", "43201", "1e4", "99999999999999999999999"])
    func invalidDuration(_ bad: String) throws {
        let fixture = try Fixture(config: plainRole + "duration_seconds = \(bad)\n")
        let error = fixture.expectError(.invalidDuration, resolving: "x")
        #expect(error?.location == FileLocation(file: fixture.configPath, line: 4), "value \(bad)")
        #expect(error?.message.contains("\(fixture.configPath):4") == true)
        #expect(error?.message.contains("900") == true)
    }

    @Test("duration_seconds at either end of 900...43200 is kept", arguments: [900, 43200])
    func validDuration(_ good: Int) throws {
        let fixture = try Fixture(config: plainRole + "duration_seconds = \(good)\n")
        #expect(try fixture.resolve("x").durationSeconds == good)
    }

    @Test("a chained role may ask for more than an hour: resolution keeps it, the broker caps it")
    func chainedDurationKept() throws {
        let config = """
            [profile top]
            role_arn = \(adminArn)
            source_profile = mid
            duration_seconds = DURATION
            [profile mid]
            role_arn = arn:aws:iam::1:role/Mid
            credential_source = EcsContainer
            """
        let long = try Fixture(config: config.replacingOccurrences(of: "DURATION", with: "7200"))
        let top = try long.resolve("top")
        #expect(top.durationSeconds == 7200)
        #expect(top.isChained)
        #expect(try long.resolve("mid").isChained)
        let tooLong = try Fixture(config: config.replacingOccurrences(of: "DURATION", with: "50000"))
        _ = tooLong.expectError(.invalidDuration, resolving: "top")
    }

    @Test("region: profile region > AWS_REGION > AWS_DEFAULT_REGION > us-east-1", arguments: regions)
    fileprivate func region(_ resolution: Resolution, expected: String) throws {
        #expect(try resolution.resolve().region == expected)
    }

    @Test("endpoint: AWS_ENDPOINT_URL_STS > services sts endpoint_url > AWS_ENDPOINT_URL > profile endpoint_url > nil, unless ignored",
          arguments: endpoints)
    fileprivate func endpoint(_ resolution: Resolution, expected: String?) throws {
        #expect(try resolution.resolve().endpointURL == expected)
    }

    @Test("sts_regional_endpoints from the profile, else AWS_STS_REGIONAL_ENDPOINTS", arguments: regionalEndpoints)
    fileprivate func stsRegionalEndpoints(_ resolution: Resolution, expected: String?) throws {
        #expect(try resolution.resolve().stsRegionalEndpoints == expected)
    }

    @Test("AWS_CA_BUNDLE, else the profile's ca_bundle (botocore reads the environment first)", arguments: caBundles)
    fileprivate func caBundle(_ resolution: Resolution, expected: String?) throws {
        #expect(try resolution.resolve().caBundle == expected)
    }

    @Test("a setting with a value it cannot have is an error saying where", arguments: settingFailures)
    fileprivate func settingFailure(_ failure: Failure) throws {
        try failure.check()
    }

    @Test("settings in the credentials file override the config file's for the role profile too")
    func credentialsFileOverridesRoleSettings() throws {
        let fixture = try Fixture(
            config: "[profile x]\nrole_arn = arn:aws:iam::1:role/FromConfig\ncredential_source = EcsContainer\nregion = eu-west-1\n",
            credentials: "[x]\nrole_arn = arn:aws:iam::1:role/FromCredentials\n")
        let role = try fixture.resolve("x")
        #expect(role.roleArn == "arn:aws:iam::1:role/FromCredentials")
        #expect(role.region == "eu-west-1")
    }
}

// MARK: Session names

private let sessionNames: [(Resolution, String)] = [
    (Resolution("without role_session_name: stscache-<user>", config: plainRole, userName: "bob"), "stscache-bob"),
    (Resolution("the profile's role_session_name", config: plainRole + "role_session_name = ci-job\n"), "ci-job"),
]

extension ProfileResolverTests {
    @Test("role_session_name from the profile, else stscache-<user>", arguments: sessionNames)
    fileprivate func sessionName(_ resolution: Resolution, expected: String) throws {
        #expect(try resolution.resolve().roleSessionName == expected)
    }

    @Test("the default session name keeps only STS's characters", arguments: [
        ("Jöhn Doe/x", "stscache-J-hn-Doe-x"), ("a_b+c=d,e.f@g-h", "stscache-a_b+c=d,e.f@g-h"),
        ("tab\there\r\n", "stscache-tab-here-"),
    ])
    func sessionNameSanitising(userName: String, expected: String) {
        #expect(ProfileResolver.defaultSessionName(userName: userName) == expected)
    }

    @Test("the default session name keeps at most 64 of STS's characters")
    func sessionNameLength() {
        let long = ProfileResolver.defaultSessionName(userName: String(repeating: "ü", count: 30) + String(repeating: "x", count: 100))
        #expect(long.utf8.count == 64)
        #expect(long.hasPrefix("stscache-" + String(repeating: "-", count: 30) + "xxx"))
    }

    @Test("any user name gives a default session name of at most 64 of STS's characters",
          arguments: ["Jöhn Doe/x", "日本語ユーザー", "DOMAIN\\user", "😀😀", String(repeating: "é", count: 200)])
    func sessionNameAlwaysValid(_ sample: String) {
        let sanitised = ProfileResolver.defaultSessionName(userName: sample)
        #expect(sanitised.utf8.count <= 64)
        #expect(sanitised.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || Array("_+=,.@-".utf8).contains(byte)
        }, "\(sanitised)")
    }
}

// MARK: Listing

extension ProfileResolverTests {
    @Test("lists the profiles that reach a role and session, directly or by delegation")
    func profilesResolvingToRole() throws {
        let fixture = try Fixture(
            config: """
                [profile prod]
                credential_process = stscache credential-process --profile prod-role
                region = eu-west-1
                [profile prod-role]
                role_arn = \(adminArn)
                source_profile = base
                role_session_name = alice
                [profile also-admin]
                role_arn = \(adminArn)
                credential_source = EcsContainer
                role_session_name = alice
                [profile other-session]
                role_arn = \(adminArn)
                source_profile = base
                role_session_name = bob
                [profile broken]
                role_arn = \(adminArn)
                source_profile = nowhere
                role_session_name = alice
                [profile other-tool]
                credential_process = aws-vault export --format=json prod-role
                """,
            credentials: baseKeysCredentials)
        let resolver = ProfileResolver(files: fixture.files, environment: [:], userName: "alice")
        // "broken" names a source in no file: its keys may be in stscache's store, so it reaches the role too.
        #expect(resolver.profiles(resolvingToRoleArn: adminArn, sessionName: "alice") == ["also-admin", "broken", "prod", "prod-role"])
        #expect(resolver.profiles(resolvingToRoleArn: adminArn, sessionName: "bob") == ["other-session"])
        #expect(resolver.profiles(resolvingToRoleArn: "arn:aws:iam::1:role/None", sessionName: "alice").isEmpty)
    }

    @Test("resolving is independent of file order and repeatable")
    func deterministic() throws {
        let fixture = try Fixture(
            config: "[profile base]\nregion = x\n[profile top]\nsource_profile = base\nrole_arn = \(adminArn)\n",
            credentials: baseKeysCredentials)
        let first = try fixture.resolve("top")
        #expect(try fixture.resolve("top") == first)
        #expect(first.source == .staticKeys(profile: "base", baseKeys))
    }
}
