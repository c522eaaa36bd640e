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

@Suite("Profile resolution")
struct ProfileResolverTests {
    // MARK: Sources

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

    @Test("a source with both keys and a role uses its keys, as botocore does")
    func staticKeysBeatSourceRole() throws {
        let fixture = try Fixture(
            config: """
                [profile top]
                role_arn = \(adminArn)
                source_profile = base
                [profile base]
                role_arn = arn:aws:iam::222222222222:role/Ignored
                source_profile = nowhere
                """,
            credentials: baseKeysCredentials)
        #expect(try fixture.resolve("top").source == .staticKeys(profile: "base", baseKeys))
    }

    @Test("a profile may be its own source when it holds static keys")
    func selfSourceWithKeys() throws {
        let fixture = try Fixture(
            config: """
                [profile self]
                role_arn = \(adminArn)
                source_profile = self
                """,
            credentials: "[self]\naws_access_key_id = AKIDSELF\naws_secret_access_key = self-secret\n")
        #expect(try fixture.resolve("self").source == .staticKeys(profile: "self", StaticKeys(
            accessKeyId: "AKIDSELF", secretAccessKey: "self-secret")))
    }

    @Test("a profile that is its own source without keys is a cycle")
    func selfSourceWithoutKeys() throws {
        let fixture = try Fixture(config: "[profile self]\nrole_arn = \(adminArn)\nsource_profile = self\n")
        let error = fixture.expectError(.sourceCycle, resolving: "self")
        #expect(error?.message.contains("self -> self") == true)
        #expect(error?.location == FileLocation(file: fixture.configPath, line: 3))
    }

    @Test("a source_profile cycle is an error naming the whole cycle and the line that closes it")
    func cycle() throws {
        let fixture = try Fixture(config: """
            [profile a]
            role_arn = arn:aws:iam::1:role/A
            source_profile = b
            [profile b]
            role_arn = arn:aws:iam::1:role/B
            source_profile = c
            [profile c]
            role_arn = arn:aws:iam::1:role/C
            source_profile = a
            """)
        let error = fixture.expectError(.sourceCycle, resolving: "a")
        #expect(error?.message.contains("a -> b -> c -> a") == true)
        #expect(error?.message.contains("\(fixture.configPath):9") == true)
        #expect(error?.location?.line == 9)
        // Entering the loop elsewhere names the loop from there.
        let fromB = fixture.expectError(.sourceCycle, resolving: "b")
        #expect(fromB?.message.contains("b -> c -> a -> b") == true)
    }

    @Test("a cycle that does not return to the first profile still names its path")
    func tailCycle() throws {
        let fixture = try Fixture(config: """
            [profile a]
            role_arn = arn:aws:iam::1:role/A
            source_profile = b
            [profile b]
            role_arn = arn:aws:iam::1:role/B
            source_profile = c
            [profile c]
            role_arn = arn:aws:iam::1:role/C
            source_profile = b
            """)
        let error = fixture.expectError(.sourceCycle, resolving: "a")
        #expect(error?.message.contains("a -> b -> c -> b") == true)
    }

    @Test("a source with no keys, no role and no credential_process may have stored keys; without a store it is source-without-keys")
    func sourceWithoutKeys() throws {
        let fixture = try Fixture(config: """
            [profile top]
            role_arn = \(adminArn)
            source_profile = base
            [profile base]
            region = eu-west-1
            """)
        #expect(try fixture.resolve("top").source == .storedKeys(profile: "base"))
        let error = expectConfigError(.sourceWithoutKeys) { _ = try fixture.resolveWithoutStore("top") }
        #expect(error?.profile == "base")
        #expect(error?.message.contains("\"top\"") == true)
        #expect(error?.message.contains("\(fixture.configPath):4") == true)
        #expect(error?.message.contains("aws_access_key_id") == true)
    }

    @Test("a source with only one of the two keys is partial-keys, and the message holds no key value")
    func partialKeys() throws {
        let fixture = try Fixture(
            config: "[profile top]\nrole_arn = \(adminArn)\nsource_profile = base\n",
            credentials: "[base]\naws_secret_access_key = only-the-secret-value\n")
        let error = fixture.expectError(.partialKeys, resolving: "top")
        #expect(error?.message.contains("aws_access_key_id") == true)
        #expect(error?.message.contains("\(fixture.credentialsPath):2") == true)
        #expect(error?.message.contains("only-the-secret-value") == false)
    }

    @Test("a source_profile in no file may have stored keys; without a store it is unknown-profile at the source_profile line")
    func unknownSourceProfile() throws {
        let fixture = try Fixture(config: "[profile top]\nrole_arn = \(adminArn)\nsource_profile = nope\n")
        #expect(try fixture.resolve("top").source == .storedKeys(profile: "nope"))
        let error = expectConfigError(.unknownProfile) { _ = try fixture.resolveWithoutStore("top") }
        #expect(error?.location == FileLocation(file: fixture.configPath, line: 3))
        #expect(error?.message.contains("\"nope\"") == true)
        #expect(error?.message.contains("\"top\"") == true)
    }

    @Test("credential_process on the source profile gives .credentialProcess")
    func credentialProcessSource() throws {
        let fixture = try Fixture(config: """
            [profile top]
            role_arn = \(adminArn)
            source_profile = sso
            [profile sso]
            credential_process = /usr/bin/helper --account "dev account"
            """)
        #expect(try fixture.resolve("top").source
            == .credentialProcess(profile: "sso", command: "/usr/bin/helper --account \"dev account\""))
    }

    @Test("keys in the credentials file beat credential_process; keys only in the config file lose to it")
    func keysVersusCredentialProcess() throws {
        let config = """
            [profile top]
            role_arn = \(adminArn)
            source_profile = base
            [profile base]
            credential_process = helper
            """
        let withCredentialsFile = try Fixture(config: config, credentials: baseKeysCredentials)
        #expect(try withCredentialsFile.resolve("top").source == .staticKeys(profile: "base", baseKeys))

        let withConfigKeys = try Fixture(config: config + "\naws_access_key_id = AKIDC\naws_secret_access_key = s\n")
        #expect(try withConfigKeys.resolve("top").source == .credentialProcess(profile: "base", command: "helper"))
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

    @Test("an Identity Center source naming a missing sso-session is an error naming it")
    func unknownSSOSessionSource() throws {
        let fixture = try Fixture(config: """
            [profile top]
            role_arn = \(adminArn)
            source_profile = sso
            [profile sso]
            sso_session = corp
            sso_account_id = 123456789012
            """)
        let sso = fixture.expectError(.unknownSSOSession, resolving: "top")
        #expect(sso?.message.contains("\"sso\"") == true)
        #expect(sso?.message.contains("[sso-session corp]") == true)
    }

    // MARK: Web identity

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

        // Without a role ARN anywhere: missing-role-arn that mentions AWS_ROLE_ARN.
        let noRole = try Fixture(config: "[profile pod]\n", environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/env/token"])
        let error = noRole.expectError(.missingRoleArn, resolving: "pod")
        #expect(error?.message.contains("AWS_ROLE_ARN") == true)
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

        let noRole = try Fixture(config: """
            [profile top]
            role_arn = arn:aws:iam::1:role/Top
            source_profile = web
            [profile web]
            web_identity_token_file = /cfg/token
            """)
        let error = noRole.expectError(.missingRoleArn, resolving: "top")
        #expect(error?.location?.line == 5)
    }

    // MARK: MFA

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

    @Test("STSCACHE_MFA_SESSION_DURATION applies when no profile sets it, and is validated")
    func mfaSessionDurationEnvironment() throws {
        let config = "[profile prod]\nrole_arn = \(adminArn)\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/a\n"
        let fromEnvironment = try Fixture(config: config, credentials: baseKeysCredentials,
                                          environment: ["STSCACHE_MFA_SESSION_DURATION": "90m"])
        #expect(try fromEnvironment.resolve("prod").mfaSession?.durationSeconds == 5400)
        for bad in ["37h", "10m", "soon", "-1"] {
            let fixture = try Fixture(config: config, credentials: baseKeysCredentials,
                                      environment: ["STSCACHE_MFA_SESSION_DURATION": bad])
            let error = fixture.expectError(.invalidSetting, resolving: "prod")
            #expect(error?.message.contains("STSCACHE_MFA_SESSION_DURATION") == true)
        }
        let badProfile = try Fixture(config: config + "mfa_session_duration = 2d\n", credentials: baseKeysCredentials)
        let error = badProfile.expectError(.invalidSetting, resolving: "prod")
        #expect(error?.location?.line == 5)
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

    // MARK: credential_process loops

    @Test("a source whose credential_process runs stscache for a profile on the way is a source-cycle")
    func credentialProcessLoop() throws {
        let fixture = try Fixture(config: """
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
            """)
        let error = fixture.expectError(.sourceCycle, resolving: "prod-role")
        #expect(error?.message.contains("prod-role -> prod -> prod-role") == true)
        #expect(error?.location?.line == 5)
        // Running stscache for a profile off the path is not a loop by itself.
        #expect(try fixture.resolve("other").source
            == .credentialProcess(profile: "helper", command: "stscache credential-process --profile unrelated"))
    }

    // MARK: credential_source

    @Test("credential_source = Environment takes keys from the passed environment")
    func environmentSource() throws {
        let config = "[profile env]\nrole_arn = \(adminArn)\ncredential_source = Environment\n"
        let withToken = try Fixture(config: config, environment: [
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "env-token",
        ])
        #expect(try withToken.resolve("env").source == .environment(StaticKeys(
            accessKeyId: "AKIDENV", secretAccessKey: "env-secret", sessionToken: "env-token")))
        let withoutToken = try Fixture(config: config, environment: [
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "",
        ])
        #expect(try withoutToken.resolve("env").source == .environment(StaticKeys(
            accessKeyId: "AKIDENV", secretAccessKey: "env-secret")))
    }

    @Test("credential_source = Environment without the variables names what is missing, never a value")
    func environmentSourceMissing() throws {
        let fixture = try Fixture(
            config: "[profile env]\nrole_arn = \(adminArn)\ncredential_source = Environment\n",
            environment: ["AWS_SECRET_ACCESS_KEY": "env-secret-value"])
        let error = fixture.expectError(.missingEnvironmentCredentials, resolving: "env")
        #expect(error?.message.contains("AWS_ACCESS_KEY_ID is not set") == true)
        #expect(error?.message.contains("env-secret-value") == false)
        #expect(error?.location == FileLocation(file: fixture.configPath, line: 3))
        #expect(error?.profile == "env")
    }

    @Test("credential_source Ec2InstanceMetadata and EcsContainer map to their cases")
    func instanceSources() throws {
        let fixture = try Fixture(config: """
            [profile ec2]
            role_arn = \(adminArn)
            credential_source = Ec2InstanceMetadata
            [profile ecs]
            role_arn = \(adminArn)
            credential_source = EcsContainer
            """)
        #expect(try fixture.resolve("ec2").source == .ec2InstanceMetadata)
        #expect(try fixture.resolve("ecs").source == .ecsContainer)
    }

    @Test("an unknown credential_source (names are case-sensitive) is an error listing the valid ones")
    func unknownCredentialSource() throws {
        let fixture = try Fixture(config: "[profile x]\nrole_arn = \(adminArn)\ncredential_source = environment\n")
        let error = fixture.expectError(.unknownCredentialSource, resolving: "x")
        #expect(error?.message.contains("Environment, Ec2InstanceMetadata, EcsContainer") == true)
        #expect(error?.message.contains("\(fixture.configPath):3") == true)
    }

    // MARK: Required keys

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

    @Test("an unknown profile error lists the profiles that exist")
    func unknownProfileListsKnown() throws {
        let files = try loadFiles(config: "[profile dev]\nregion = x\n", credentials: "[base]\n")
        let error = expectConfigError(.unknownProfile) {
            _ = try ProfileResolver.resolve(profile: "prod", files: files, environment: noEnvironment, userName: "u")
        }
        #expect(error?.message.contains("dev, base") == true)
        #expect(error?.message.contains("does not exist") == false)
    }

    @Test("a profile without role_arn is missing-role-arn naming the profile and its header line")
    func missingRoleArn() throws {
        let fixture = try Fixture(config: "[default]\nregion = x\n\n[profile plain]\nsource_profile = base\n")
        let error = fixture.expectError(.missingRoleArn, resolving: "plain")
        #expect(error?.location == FileLocation(file: fixture.configPath, line: 4))
        #expect(error?.message.contains("\"plain\"") == true)
        #expect(error?.message.hasPrefix("\(fixture.configPath):4: profile \"plain\"") == true)
        #expect(error?.message.contains("[profile plain]") == true)
        #expect(error?.message.contains("role_arn =") == true)
    }

    @Test("missing-role-arn on a delegating profile points at the profile it delegates to")
    func missingRoleArnDelegating() throws {
        let fixture = try Fixture(config: """
            [profile prod]
            credential_process = stscache credential-process --profile prod-role
            """)
        let error = fixture.expectError(.missingRoleArn, resolving: "prod")
        #expect(error?.message.contains("--profile prod-role") == true)
    }

    @Test("both source_profile and credential_source is source-conflict naming both lines")
    func sourceConflict() throws {
        let fixture = try Fixture(config: """
            [profile x]
            role_arn = \(adminArn)
            source_profile = base
            credential_source = Environment
            """)
        let error = fixture.expectError(.sourceConflict, resolving: "x")
        #expect(error?.message.contains("\(fixture.configPath):3") == true)
        #expect(error?.message.contains("\(fixture.configPath):4") == true)
        #expect(error?.profile == "x")
    }

    @Test("neither source_profile nor credential_source is no-source")
    func noSource() throws {
        let fixture = try Fixture(config: "\n[profile x]\nrole_arn = \(adminArn)\n")
        let error = fixture.expectError(.noSource, resolving: "x")
        #expect(error?.location?.line == 2)
        #expect(error?.message.contains("source_profile") == true)
        #expect(error?.message.contains("credential_source") == true)
    }

    // MARK: Settings

    @Test("duration_seconds that is not a number, or is outside 900...43200, is invalid-duration at its line")
    func invalidDurations() throws {
        for bad in ["abc", "3600s", "+3600", "-900", "899", "43201", "1e4", "99999999999999999999999"] {
            let fixture = try Fixture(
                config: "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\nduration_seconds = \(bad)\n")
            let error = fixture.expectError(.invalidDuration, resolving: "x")
            #expect(error?.location == FileLocation(file: fixture.configPath, line: 4), "value \(bad)")
            #expect(error?.message.contains("\(fixture.configPath):4") == true)
            #expect(error?.message.contains("900") == true)
        }
        for good in [900, 43200] {
            let fixture = try Fixture(
                config: "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\nduration_seconds = \(good)\n")
            #expect(try fixture.resolve("x").durationSeconds == good)
        }
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

    @Test("region: profile region > AWS_REGION > AWS_DEFAULT_REGION > us-east-1")
    func regionPrecedence() throws {
        let withRegion = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\nregion = eu-west-1\n"
        let withoutRegion = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n"
        let both = ["AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "ca-central-1"]
        #expect(try Fixture(config: withRegion, environment: both).resolve("x").region == "eu-west-1")
        #expect(try Fixture(config: withoutRegion, environment: both).resolve("x").region == "ap-south-1")
        #expect(try Fixture(config: withoutRegion, environment: ["AWS_DEFAULT_REGION": "ca-central-1"])
            .resolve("x").region == "ca-central-1")
        #expect(try Fixture(config: withoutRegion, environment: ["AWS_REGION": ""]).resolve("x").region == "us-east-1")
    }

    @Test("endpoint: AWS_ENDPOINT_URL_STS > services sts endpoint_url > AWS_ENDPOINT_URL > profile endpoint_url > nil")
    func endpointPrecedence() throws {
        let config = """
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
        let all = ["AWS_ENDPOINT_URL_STS": "https://env-sts.example", "AWS_ENDPOINT_URL": "https://env-global.example"]
        #expect(try Fixture(config: config, environment: all).resolve("x").endpointURL == "https://env-sts.example")
        #expect(try Fixture(config: config, environment: ["AWS_ENDPOINT_URL": "https://env-global.example"])
            .resolve("x").endpointURL == "https://services.example")
        #expect(try Fixture(config: config, environment: ["AWS_ENDPOINT_URL": "https://env-global.example"])
            .resolve("plain").endpointURL == "https://env-global.example")
        #expect(try Fixture(config: config).resolve("plain").endpointURL == "https://profile.example")
        #expect(try Fixture(config: config).resolve("bare").endpointURL == nil)
    }

    @Test("ignore_configured_endpoint_urls turns every configured endpoint off")
    func ignoreConfiguredEndpoints() throws {
        let config = """
            [profile x]
            role_arn = \(adminArn)
            credential_source = EcsContainer
            endpoint_url = https://profile.example
            ignore_configured_endpoint_urls = true
            """
        #expect(try Fixture(config: config, environment: ["AWS_ENDPOINT_URL_STS": "https://e.example"])
            .resolve("x").endpointURL == nil)
        #expect(try Fixture(config: config, environment: ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "false"])
            .resolve("x").endpointURL == "https://profile.example")
    }

    @Test("services = name without a [services name] section is unknown-services-section at that line")
    func unknownServicesSection() throws {
        let fixture = try Fixture(config: """
            [profile x]
            role_arn = \(adminArn)
            credential_source = EcsContainer
            services = missing
            """)
        let error = fixture.expectError(.unknownServicesSection, resolving: "x")
        #expect(error?.location?.line == 4)
        #expect(error?.message.contains("[services missing]") == true)
    }

    @Test("sts_regional_endpoints from the profile, else AWS_STS_REGIONAL_ENDPOINTS; other values are errors")
    func stsRegionalEndpoints() throws {
        let withSetting = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\nsts_regional_endpoints = legacy\n"
        let without = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n"
        let env = ["AWS_STS_REGIONAL_ENDPOINTS": "regional"]
        #expect(try Fixture(config: withSetting, environment: env).resolve("x").stsRegionalEndpoints == "legacy")
        #expect(try Fixture(config: without, environment: env).resolve("x").stsRegionalEndpoints == "regional")
        #expect(try Fixture(config: without).resolve("x").stsRegionalEndpoints == nil)
        let bad = try Fixture(config: without + "sts_regional_endpoints = global\n")
        #expect(bad.expectError(.invalidSetting, resolving: "x")?.location?.line == 4)
        let badEnv = try Fixture(config: without, environment: ["AWS_STS_REGIONAL_ENDPOINTS": "nope"])
        #expect(badEnv.expectError(.invalidSetting, resolving: "x")?.message.contains("AWS_STS_REGIONAL_ENDPOINTS") == true)
    }

    @Test("AWS_CA_BUNDLE, else the profile's ca_bundle (botocore reads the environment first)")
    func caBundle() throws {
        let without = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n"
        let env = ["AWS_CA_BUNDLE": "/env/ca.pem"]
        #expect(try Fixture(config: without + "ca_bundle = /profile/ca.pem\n", environment: env).resolve("x").caBundle
            == "/env/ca.pem")
        #expect(try Fixture(config: without + "ca_bundle = /profile/ca.pem\n").resolve("x").caBundle
            == "/profile/ca.pem")
        #expect(try Fixture(config: without, environment: env).resolve("x").caBundle == "/env/ca.pem")
        #expect(try Fixture(config: without).resolve("x").caBundle == nil)
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

    // MARK: Session names

    @Test("role_session_name from the profile, else stscache-<user>")
    func sessionName() throws {
        let config = "[profile x]\nrole_arn = \(adminArn)\ncredential_source = EcsContainer\n"
        var fixture = try Fixture(config: config)
        fixture.userName = "bob"
        #expect(try fixture.resolve("x").roleSessionName == "stscache-bob")
        #expect(try Fixture(config: config + "role_session_name = ci-job\n").resolve("x").roleSessionName == "ci-job")
    }

    @Test("the default session name keeps only STS's characters and at most 64 of them")
    func sessionNameSanitising() {
        let name = ProfileResolver.defaultSessionName(userName: "Jöhn Doe/x")
        #expect(name == "stscache-J-hn-Doe-x")
        #expect(ProfileResolver.defaultSessionName(userName: "a_b+c=d,e.f@g-h") == "stscache-a_b+c=d,e.f@g-h")
        #expect(ProfileResolver.defaultSessionName(userName: "tab\there\r\n") == "stscache-tab-here-")
        let long = ProfileResolver.defaultSessionName(userName: String(repeating: "ü", count: 30) + String(repeating: "x", count: 100))
        #expect(long.utf8.count == 64)
        #expect(long.hasPrefix("stscache-" + String(repeating: "-", count: 30) + "xxx"))
        for sample in ["Jöhn Doe/x", "日本語ユーザー", "DOMAIN\\user", "😀😀", String(repeating: "é", count: 200)] {
            let sanitised = ProfileResolver.defaultSessionName(userName: sample)
            #expect(sanitised.utf8.count <= 64)
            #expect(sanitised.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || Array("_+=,.@-".utf8).contains(byte)
            }, "\(sanitised)")
        }
    }

    // MARK: Listing

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
