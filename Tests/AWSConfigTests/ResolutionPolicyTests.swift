import Foundation
import Synchronization
import Testing

@testable import AWSConfig
import TestSupport

/// The resolver takes what botocore leaves open from its caller (`ResolutionPolicy`) and reads
/// nothing else: these use a made-up program, `tool`, whose `credential_process` lines are
/// `tool creds NAME`. stscache's own policy is tested with it in Tests/CredentialsTests.
@Suite("Resolution policy")
struct ResolutionPolicyTests {
    final class Calls: Sendable {
        let sessionNames = Mutex(0)
        let mfaDurations = Mutex<[String]>([])
    }

    static func policy(_ calls: Calls = Calls(), mfaDuration: Int? = nil) -> ResolutionPolicy {
        ResolutionPolicy(
            programName: "tool",
            defaultSessionName: {
                calls.sessionNames.withLock { $0 += 1 }
                return "tool-session"
            },
            defaultMFASessionDuration: { roleProfile, _ throws(ConfigError) in
                calls.mfaDurations.withLock { $0.append(roleProfile) }
                guard let mfaDuration else { throw ConfigError(.invalidSetting, "no default for \(roleProfile)") }
                return mfaDuration
            },
            delegatedProfile: { command in
                guard let words = shellWords(command), words.count == 3, words[0] == "tool", words[1] == "creds" else {
                    return nil
                }
                return words[2]
            })
    }

    @Test("the default session name is asked for only when no role_session_name is set")
    func sessionName() throws {
        let files = try loadFiles(config: """
            [profile named]
            role_arn = arn:aws:iam::1:role/A
            source_profile = base
            role_session_name = fixed
            [profile unnamed]
            role_arn = arn:aws:iam::1:role/A
            source_profile = base
            """, credentials: baseKeysCredentials)
        let calls = Calls()
        let resolver = ProfileResolver(files: files, environment: noEnvironment, policy: Self.policy(calls))
        #expect(try resolver.resolve(profile: "named").roleSessionName == "fixed")
        #expect(calls.sessionNames.withLock { $0 } == 0)
        #expect(try resolver.resolve(profile: "unnamed").roleSessionName == "tool-session")
        #expect(calls.sessionNames.withLock { $0 } == 1)
    }

    @Test("the default MFA session duration is asked for only when no profile sets one, with the role's name")
    func mfaSessionDuration() throws {
        let config = "[profile prod]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = base\nmfa_serial = arn:aws:iam::1:mfa/a\n"
        let calls = Calls()
        let fromPolicy = ProfileResolver(files: try loadFiles(config: config, credentials: baseKeysCredentials),
                                         environment: noEnvironment, policy: Self.policy(calls, mfaDuration: 5400))
        #expect(try fromPolicy.resolve(profile: "prod").mfaSession?.durationSeconds == 5400)
        #expect(calls.mfaDurations.withLock { $0 } == ["prod"])

        let refused = ProfileResolver(files: try loadFiles(config: config, credentials: baseKeysCredentials),
                                      environment: noEnvironment, policy: Self.policy())
        let error = expectConfigError(.invalidSetting) { _ = try refused.resolve(profile: "prod") }
        #expect(error?.message == "no default for prod")

        let setInProfile = Calls()
        let fromProfile = ProfileResolver(files: try loadFiles(config: config + "mfa_session_duration = 1h\n", credentials: baseKeysCredentials),
                                          environment: noEnvironment, policy: Self.policy(setInProfile))
        #expect(try fromProfile.resolve(profile: "prod").mfaSession?.durationSeconds == 3600)
        #expect(setInProfile.mfaDurations.withLock { $0 }.isEmpty)
    }

    @Test("a source whose credential_process runs the program for a profile on the way is a source-cycle")
    func delegationLoop() throws {
        let files = try loadFiles(config: """
            [profile prod-role]
            role_arn = arn:aws:iam::1:role/A
            source_profile = prod
            [profile prod]
            credential_process = tool creds prod-role
            [profile other]
            role_arn = arn:aws:iam::1:role/A
            source_profile = helper
            [profile helper]
            credential_process = tool creds unrelated
            """)
        let resolver = ProfileResolver(files: files, environment: noEnvironment, policy: Self.policy())
        let error = expectConfigError(.sourceCycle) { _ = try resolver.resolve(profile: "prod-role") }
        #expect(error?.message.contains("runs tool for profile \"prod-role\"") == true)
        #expect(error?.message.contains("prod-role -> prod -> prod-role") == true)
        #expect(try resolver.resolve(profile: "other").source
            == .credentialProcess(profile: "helper", command: "tool creds unrelated"))
        // What the policy does not call delegation is an ordinary helper.
        let unaware = ProfileResolver(files: files, environment: noEnvironment,
                                      policy: ResolutionPolicy(programName: "x", defaultSessionName: { "s" },
                                                               defaultMFASessionDuration: { _, _ throws(ConfigError) in nil },
                                                               delegatedProfile: { _ in nil }))
        #expect(try unaware.resolve(profile: "prod-role").source
            == .credentialProcess(profile: "prod", command: "tool creds prod-role"))
    }

    @Test("a profile without role_arn that delegates stands for its target's role, as the CLI running the command would see it")
    func delegationFollowed() throws {
        let files = try loadFiles(config: """
            [profile prod]
            credential_process = tool creds prod-role
            region = eu-west-1
            [profile prod-role]
            role_arn = arn:aws:iam::1:role/A
            credential_source = Ec2InstanceMetadata
            [profile hop]
            credential_process = tool creds prod
            """)
        let resolver = ProfileResolver(files: files, environment: noEnvironment, policy: Self.policy())
        let direct = try resolver.resolve(profile: "prod-role")
        #expect(try resolver.resolve(profile: "prod") == direct)
        #expect(direct.name == "prod-role" && direct.roleArn == "arn:aws:iam::1:role/A")
        // A chain of delegations is followed to the role, as doctor accepts it.
        #expect(try resolver.resolve(profile: "hop") == direct)
        // The environment's web identity does not claim a profile whose role is elsewhere (it
        // would fail: prod names no role_arn and AWS_ROLE_ARN is unset).
        let webIdentity = ProfileResolver(files: files, environment: ["AWS_WEB_IDENTITY_TOKEN_FILE": "/t"],
                                          policy: Self.policy())
        #expect(try webIdentity.resolve(profile: "prod") == direct)
    }

    @Test("a delegation back to itself, or round a chain, is refused before anything runs; a missing target is named")
    func delegationLoops() throws {
        let files = try loadFiles(config: """
            [profile self]
            credential_process = tool creds self
            [profile a]
            credential_process = tool creds b
            [profile b]
            credential_process = tool creds a
            [profile typo]
            credential_process = tool creds prod-rloe
            [profile prod-role]
            role_arn = arn:aws:iam::1:role/A
            source_profile = base
            [profile base]
            credential_process = tool creds typo-via
            [profile typo-via]
            credential_process = tool creds prod-role
            """)
        let resolver = ProfileResolver(files: files, environment: noEnvironment, policy: Self.policy())
        let itself = expectConfigError(.sourceCycle) { _ = try resolver.resolve(profile: "self") }
        #expect(itself?.message.contains("runs tool for profile \"self\" itself") == true, "\(itself?.message ?? "")")
        #expect(itself?.location?.line == 2)
        let round = expectConfigError(.sourceCycle) { _ = try resolver.resolve(profile: "a") }
        #expect(round?.message.contains("a -> b -> a") == true, "\(round?.message ?? "")")
        let missing = expectConfigError(.unknownProfile) { _ = try resolver.resolve(profile: "typo") }
        #expect(missing?.message.contains("runs tool for profile \"prod-rloe\"") == true)
        #expect(missing?.message.contains("did you mean \"prod-role\"?") == true, "\(missing?.message ?? "")")
        #expect(missing?.message.contains("add [profile") == false)
        // A source's helper that runs the program for a profile delegating back to the role:
        // the run would resolve typo-via -> prod-role -> base -> typo-via ... without end.
        let viaDelegation = expectConfigError(.sourceCycle) { _ = try resolver.resolve(profile: "prod-role") }
        #expect(viaDelegation?.message.contains("prod-role -> base -> typo-via -> prod-role") == true,
                "\(viaDelegation?.message ?? "")")
    }

    @Test("messages about what is not supported name the program")
    func programName() throws {
        let files = try loadFiles(config: """
            [profile unknown]
            role_arn = arn:aws:iam::1:role/A
            credential_source = Somewhere
            [profile sso]
            role_arn = arn:aws:iam::1:role/A
            source_profile = sso-source
            [profile sso-source]
            sso_session = corp
            """)
        let resolver = ProfileResolver(files: files, environment: noEnvironment, policy: Self.policy())
        let unknown = expectConfigError(.unknownCredentialSource) { _ = try resolver.resolve(profile: "unknown") }
        #expect(unknown?.message.contains("is not a source tool knows") == true)
        // sso_session alone (no sso_account_id/sso_role_name) is no credential source (botocore).
        let sso = expectConfigError(.sourceWithoutKeys) { _ = try resolver.resolve(profile: "sso") }
        #expect(sso?.message.contains("sso_account_id and sso_role_name") == true)
    }
}
