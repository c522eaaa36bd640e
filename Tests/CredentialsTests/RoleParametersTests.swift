import Foundation
import Testing

@testable import AWSConfig
@testable import Credentials
import StscacheSupport
import TestSupport

private let roleHead = "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/Admin\ncredential_source = EcsContainer\n"

/// Resolves profile `x` from `config` (its extra lines start at line 4).
private func resolve(_ config: String, environment: [String: String] = [:]) throws -> RoleProfile {
    let directory = try TempAWSDirectory()
    try directory.write(config: config)
    return try ProfileResolver.resolve(profile: "x", files: try directory.load(), environment: environment, userName: "alice")
}

/// The error for `x` with `line` added to the plain role (at line 4), with its location checked.
private func refused(_ line: String, environment: [String: String] = [:],
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    let error = expectConfigError(.invalidRoleParameter, sourceLocation: sourceLocation) {
        _ = try resolve(roleHead + line + "\n", environment: environment)
    }
    #expect(error?.location?.line == 4, "\(error?.message ?? "")", sourceLocation: sourceLocation)
    #expect(error?.message.contains("config:4: ") == true, sourceLocation: sourceLocation)
    #expect(error?.message.contains("\n") == false, sourceLocation: sourceLocation)
    return error
}

private func accepted(_ line: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> RoleProfile? {
    do {
        return try resolve(roleHead + line + "\n")
    } catch {
        Issue.record("\(line.prefix(80)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

@Suite("AssumeRole parameters checked against STS's patterns before any call")
struct RoleParameterCheckTests {
    @Test("role_session_name: 2 to 64 of [\\w+=,.@-]", arguments: [
        ("ab", true), (String(repeating: "a", count: 64), true), ("carol+ci=1,x.y@z-w_9", true),
        ("a", false), (String(repeating: "a", count: 65), false), ("carol laptop", false), ("carol/laptop", false),
        ("carol:1", false), ("ca\u{e9}", false),
    ])
    func sessionName(_ value: String, _ ok: Bool) {
        if ok {
            #expect(accepted("role_session_name = \(value)")?.roleSessionName == value)
        } else {
            let error = refused("role_session_name = \(value)")
            #expect(error?.message.contains("role_session_name") == true)
            #expect(error?.message.contains("[\\w+=,.@-]{2,64}") == true)
        }
    }

    @Test("an inline ; comment in role_session_name is refused here, saying the comment stays in the value")
    func commentInSessionName() {
        let error = refused("role_session_name = carol ; laptop")
        #expect(error?.message.contains("role_session_name = carol ; laptop") == true)
        #expect(error?.message.contains("a space, ';'") == true)
        #expect(error?.message.contains("comment") == true)
    }

    @Test("external_id: 2 to 1224 of [\\w+=,.@:/-]", arguments: [
        ("ab", true), (String(repeating: "e", count: 1224), true), ("urn:example/id-1+2=3,a.b@c", true),
        ("e", false), (String(repeating: "e", count: 1225), false), ("has space", false), ("semi;colon", false),
    ])
    func externalId(_ value: String, _ ok: Bool) {
        if ok {
            #expect(accepted("external_id = \(value)")?.externalId == value)
        } else {
            #expect(refused("external_id = \(value)")?.message.contains("[\\w+=,.@:/-]{2,1224}") == true)
        }
    }

    @Test("mfa_serial: 9 to 256 of [\\w+=/:,.@-], on the role and on a source with keys", arguments: [
        ("GAHT12345", true), ("arn:aws:iam::123456789012:mfa/alice", true), (String(repeating: "m", count: 256), true),
        ("GAHT1234", false), (String(repeating: "m", count: 257), false), ("arn:aws:iam::123456789012:mfa/alice ;x", false),
    ])
    func serialNumber(_ value: String, _ ok: Bool) throws {
        if ok {
            #expect(accepted("mfa_serial = \(value)")?.mfaSerial == value)
        } else {
            #expect(refused("mfa_serial = \(value)")?.message.contains("[\\w+=/:,.@-]{9,256}") == true)
            // The MFA session's serial comes from the source profile: checked there, at its line.
            let config = "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/A\nsource_profile = base\n"
                + "[profile base]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\naws_secret_access_key = s\nmfa_serial = \(value)\n"
            let error = expectConfigError(.invalidRoleParameter) { _ = try resolve(config) }
            #expect(error?.location?.line == 7)
            #expect(error?.profile == "base")
        }
    }

    @Test("role_arn must be an IAM role ARN", arguments: [
        "arn:aws:iam:123456789012:role/Admin", "arn:aws:iam::12345:role/Admin", "arn:aws:s3:::bucket",
        "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/a b",
        "arn:aws:iam:us-east-1:123456789012:role/A", "arm:aws:iam::123456789012:role/A", "arn:gcp:iam::123456789012:role/A",
        "arn:aws:iam::123456789012:role/Admin ; prod", "Admin",
    ])
    func roleArn(_ bad: String) {
        let config = "[profile x]\nrole_arn = \(bad)\ncredential_source = EcsContainer\n"
        let error = expectConfigError(.invalidRoleParameter) { _ = try resolve(config) }
        #expect(error?.location?.line == 2)
        #expect(error?.message.contains("role_arn = \(bad)") == true)
        #expect(error?.message.contains("arn:aws:iam::123456789012:role/NAME") == true)
    }

    @Test("role_arn in every partition and with a path is accepted", arguments: [
        "arn:aws:iam::123456789012:role/Admin", "arn:aws-cn:iam::123456789012:role/a/b/C",
        "arn:aws-us-gov:iam::123456789012:role/service-role/x+y=z,a.b@c-d_e",
    ])
    func goodRoleArn(_ arn: String) throws {
        let role = try resolve("[profile x]\nrole_arn = \(arn)\ncredential_source = EcsContainer\n")
        #expect(role.roleArn == arn)
        #expect(role.accountId == "123456789012")
    }

    @Test("AWS_ROLE_ARN and AWS_ROLE_SESSION_NAME for a web identity are checked, naming the variable")
    func webIdentityVariables() {
        let config = "[profile x]\nregion = us-east-1\n"
        let base = ["AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/Pod"]
        var badArn = base
        badArn["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/Pod"
        let arnError = expectConfigError(.invalidRoleParameter) { _ = try resolve(config, environment: badArn) }
        #expect(arnError?.message.hasPrefix("AWS_ROLE_ARN = arn:aws:iam::1:role/Pod") == true)
        var badName = base
        badName["AWS_ROLE_SESSION_NAME"] = "pod name"
        let nameError = expectConfigError(.invalidRoleParameter) { _ = try resolve(config, environment: badName) }
        #expect(nameError?.message.contains("AWS_ROLE_SESSION_NAME") == true)
    }
}

@Suite("source_identity, session_tags, transitive_session_tags, policy_arns and policy")
struct SessionParameterTests {
    @Test("nothing set: no parameters, and the cache key is the plain role's")
    func none() throws {
        let role = try #require(accepted(""))
        #expect(role.sessionParameters.isEmpty)
        #expect(role.sessionParameters.cacheIdentity == nil)
    }

    @Test("source_identity: 2 to 64 of [\\w+=,.@-], not starting with aws:", arguments: [
        ("ab", true), (String(repeating: "s", count: 64), true), ("alice@example.com", true),
        ("a", false), (String(repeating: "s", count: 65), false), ("aws:alice", false), ("AWS:alice", false),
        ("alice smith", false),
    ])
    func sourceIdentity(_ value: String, _ ok: Bool) {
        if ok {
            #expect(accepted("source_identity = \(value)")?.sessionParameters.sourceIdentity == value)
        } else {
            #expect(refused("source_identity = \(value)")?.message.contains("source_identity") == true)
        }
    }

    @Test("session_tags read as aws-vault reads them: items, keys and values trimmed; an empty value is a value")
    func tagsParsed() throws {
        let role = try #require(accepted("session_tags = tag1 = value1 , tag2=value2 ,Team=Платформа, empty= , eq=a=b"))
        #expect(role.sessionParameters.tags == [
            SessionTag(key: "tag1", value: "value1"), SessionTag(key: "tag2", value: "value2"),
            SessionTag(key: "Team", value: "Платформа"), SessionTag(key: "empty", value: ""), SessionTag(key: "eq", value: "a=b"),
        ])
    }

    @Test("session_tags that STS would refuse", arguments: [
        "tag1=value1,", "tagA=valueA,tagB", "tagOne,tagTwo=valueTwo", "=value", "a=b,A=c",
        "k=" + String(repeating: "v", count: 257), String(repeating: "k", count: 129) + "=v", "team=ops ; comment",
        "k!=v", "k=v\u{7}",
    ])
    func badTags(_ value: String) {
        let error = refused("session_tags = \(value)")
        #expect(error?.message.contains("session_tags") == true)
        #expect(error?.message.contains("key=value,key=value") == true)
    }

    @Test("session_tags at STS's limits: 50 tags, keys of 128 and values of 256 characters")
    func tagLimits() throws {
        let fifty = (1...50).map { "k\($0)=v" }.joined(separator: ",")
        #expect(accepted("session_tags = \(fifty)")?.sessionParameters.tags.count == 50)
        #expect(refused("session_tags = \(fifty),k51=v")?.message.contains("51 tags") == true)
        let long = String(repeating: "k", count: 128) + "=" + String(repeating: "v", count: 256)
        #expect(accepted("session_tags = \(long)")?.sessionParameters.tags.count == 1)
    }

    @Test("a tag's value is never quoted in a message; its key may be")
    func tagValueNotQuoted() {
        let error = refused("session_tags = owner=alice;secretish")
        #expect(error?.message.contains("secretish") == false)
        #expect(error?.message.contains("owner") == true)
    }

    @Test("transitive_session_tags: among the tags, case aside; empty items skipped as aws-vault does")
    func transitive() throws {
        let role = try #require(accepted("session_tags = Team=a,Project=b\ntransitive_session_tags = team , Project,"))
        #expect(role.sessionParameters.transitiveTagKeys == ["team", "Project"])
        let error = expectConfigError(.invalidRoleParameter) {
            _ = try resolve(roleHead + "session_tags = Team=a\ntransitive_session_tags = Team,Cost\n")
        }
        #expect(error?.location?.line == 5)
        #expect(error?.message.contains("Cost") == true)
        #expect(refused("transitive_session_tags = Team") != nil)
    }

    @Test("policy_arns: up to 10 IAM policy ARNs, managed or the account's")
    func policyArns() throws {
        let ten = (1...10).map { "arn:aws:iam::123456789012:policy/p\($0)" }.joined(separator: ", ")
        #expect(accepted("policy_arns = \(ten)")?.sessionParameters.policyArns.count == 10)
        #expect(accepted("policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess")?.sessionParameters.policyArns
            == ["arn:aws:iam::aws:policy/ReadOnlyAccess"])
        #expect(refused("policy_arns = \(ten), arn:aws:iam::aws:policy/P11")?.message.contains("at most 10") == true)
        for bad in ["arn:aws:iam::aws:role/ReadOnlyAccess", "ReadOnlyAccess", "arn:aws:iam::12:policy/P",
                    "arn:aws:iam::aws:policy/ReadOnlyAccess ; broad"] {
            #expect(refused("policy_arns = \(bad)")?.message.contains("arn:aws:iam::aws:policy/NAME") == true, "\(bad)")
        }
    }

    @Test("policy: one JSON object of at most 2048 characters; never quoted in a message")
    func policy() throws {
        let document = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#
        #expect(accepted("policy = \(document)")?.sessionParameters.policy == document)
        // Continuation lines, as configparser joins them.
        let multiLine = try #require(accepted("policy = {\"Version\": \"2012-10-17\",\n  \"Statement\": []}"))
        #expect(multiLine.sessionParameters.policy == "{\"Version\": \"2012-10-17\",\n\"Statement\": []}")
        let padded = "{\"Version\":\"2012-10-17\",\"Sid\":\"" + String(repeating: "x", count: 2048 - 33) + "\"}"
        #expect(padded.count == 2048)
        #expect(accepted("policy = \(padded)") != nil)
        let tooLong = String(padded.dropLast(2)) + "x\"}"
        #expect(refused("policy = \(tooLong)")?.message.contains("2049 characters") == true)
        for bad in [document + " ; scoped", "[1,2]", "{\"Version\":", "{'a': 1}", "\"text\""] {
            let error = refused("policy = \(bad)")
            #expect(error?.message.contains("2012-10-17") == false, "the policy was quoted: \(bad)")
            #expect(error?.message.contains("JSON") == true, "\(bad)")
        }
        #expect(refused("policy = \(document) ; scoped")?.message.contains("comment") == true)
    }

    @Test("a web identity profile takes policies, but not tags or a source identity")
    func webIdentity() throws {
        let web = "[profile x]\nrole_arn = arn:aws:iam::123456789012:role/Web\nweb_identity_token_file = /t\n"
        let role = try resolve(web + "policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess\n")
        #expect(role.sessionParameters.policyArns == ["arn:aws:iam::aws:policy/ReadOnlyAccess"])
        for line in ["session_tags = a=b", "source_identity = alice", "transitive_session_tags = a"] {
            let error = expectConfigError(.invalidRoleParameter) { _ = try resolve(web + line + "\n") }
            #expect(error?.message.contains("web identity") == true)
        }
    }

    @Test("each hop of a chain sends its own profile's parameters")
    func perHop() throws {
        let config = """
            [profile x]
            role_arn = arn:aws:iam::123456789012:role/Top
            source_profile = jump
            session_tags = hop=top
            [profile jump]
            role_arn = arn:aws:iam::123456789012:role/Jump
            credential_source = EcsContainer
            source_identity = alice
            """
        let top = try resolve(config)
        #expect(top.sessionParameters == SessionParameters(tags: [SessionTag(key: "hop", value: "top")]))
        guard case .role(let jump) = top.source else {
            Issue.record("not chained")
            return
        }
        #expect(jump.sessionParameters == SessionParameters(sourceIdentity: "alice"))
    }
}

@Suite("A scoped or tagged session has its own cache entry")
struct SessionParameterCacheKeyTests {
    static let plain = RoleProfile(name: "prod", roleArn: "arn:aws:iam::123456789012:role/Admin", roleSessionName: "alice",
                                   region: "us-east-1", source: .ecsContainer)

    func with(_ parameters: SessionParameters) -> RoleProfile {
        var role = Self.plain
        role.sessionParameters = parameters
        return role
    }

    @Test("each parameter moves the key; equal parameters share it; none leaves the plain key as it was")
    func keys() {
        let variants = [
            SessionParameters(), SessionParameters(sourceIdentity: "alice"),
            SessionParameters(tags: [SessionTag(key: "team", value: "ops")]),
            SessionParameters(tags: [SessionTag(key: "team", value: "dev")]),
            SessionParameters(tags: [SessionTag(key: "team", value: "ops")], transitiveTagKeys: ["team"]),
            SessionParameters(policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"]),
            SessionParameters(policy: "{}"), SessionParameters(policy: "{ }"),
        ]
        let stems = variants.map { CredentialBroker.cacheKey(for: with($0)).stem }
        #expect(Set(stems).count == variants.count)
        #expect(CredentialBroker.cacheKey(for: with(variants[2])) == CredentialBroker.cacheKey(for: with(variants[2])))
        // A plain role's entry name is the same as before session parameters existed (computed
        // apart from this code: SHA-256 of the five length-prefixed fields).
        #expect(stems[0] == "adc09795ec25ea59ac1929796b584b09630561201da2ffc513738d31a280decf")
    }

    @Test("a chained role on top of a scoped hop has another key than on the plain hop")
    func chainedKey() {
        var top = Self.plain
        top.source = .role(with(SessionParameters(policy: "{}")))
        var plainTop = Self.plain
        plainTop.source = .role(Self.plain)
        #expect(CredentialBroker.cacheKey(for: top) != CredentialBroker.cacheKey(for: plainTop))
    }
}

@Suite("The hit path's byte scans agree with the slower checks that explain a refusal")
struct ARNScanTests {
    static let arns = [
        "arn:aws:iam::123456789012:role/Admin", "arn:aws-cn:iam::123456789012:role/a/b", "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/a:b", "arn:aws:iam::12345678901:role/A", "arn:aws:iam::1234567890123:role/A",
        "arn:aws:iam:x:123456789012:role/A", "arn:aw:iam::123456789012:role/A", "arn:AWS:iam::123456789012:role/A",
        "arn:aws:iam::123456789012:user/A", "arn:aws:iam::123456789012", "", ":::::", "arn:aws:iam::123456789012:role/é",
        "arn:aws:sts::123456789012:role/A", "xarn:aws:iam::123456789012:role/A",
    ]

    @Test("isRoleArn is true exactly when the explaining check finds nothing", arguments: arns)
    func agree(_ arn: String) {
        let explained = STSParameterRules.iamArnProblem(arn, resource: "role/", accounts: { AccountID.isValid($0) })
        #expect(STSParameterRules.isRoleArn(arn) == (explained == nil), "\(explained ?? "accepted")")
        #expect((STSParameterRules.roleArnProblem(arn) == nil) == (explained == nil))
    }

    @Test("the account of an ARN: the fifth field when it is twelve digits", arguments: [
        ("arn:aws:iam::123456789012:role/Admin", "123456789012"), ("arn:aws-cn:iam::210987654321:role/a/b", "210987654321"),
        ("arn:aws:iam::12345:role/Short", nil), ("arn:aws:iam::12345678901x:role/X", nil), ("not-an-arn", nil),
        ("arn:aws:iam::123456789012", nil), ("arn:aws:iam::123456789012:", "123456789012"),
    ] as [(String, String?)])
    func account(_ arn: String, _ expected: String?) {
        #expect(AccountID.ofArn(arn) == expected)
    }
}

@Suite("aws_account_id")
struct ConfiguredAccountTests {
    @Test("twelve digits are the profile's account; anything else is an error at its line, unquoted", arguments: [
        ("123456789012", true), ("12345678901", false), ("1234567890123", false), ("12345678901a", false),
        ("123456789012 ; prod", false),
    ])
    func configured(_ value: String, _ ok: Bool) throws {
        let files = try loadFiles(config: "[profile keys]\naws_account_id = \(value)\n")
        let profile = try #require(files.profile(named: "keys"))
        if ok {
            #expect(try ProfileResolver.configuredAccountId(of: profile) == value)
        } else {
            let error = expectConfigError(.invalidSetting) { _ = try ProfileResolver.configuredAccountId(of: profile) }
            #expect(error?.location?.line == 2)
        }
        #expect(try ProfileResolver.configuredAccountId(of: #require(loadFiles(config: "[profile n]\nregion = x\n")
            .profile(named: "n"))) == nil)
    }
}

@Suite("The inventory (list, purge, the agent) finds a scoped entry under its own profile")
struct ScopedInventoryTests {
    @Test("a plain and a scoped profile of one role and session name reach two entries, each with its profiles")
    func twoEntries() throws {
        let files = try loadFiles(config: """
            [profile prod]
            credential_process = stscache credential-process --profile prod-role
            [profile prod-role]
            role_arn = arn:aws:iam::123456789012:role/Admin
            role_session_name = alice
            credential_source = EcsContainer
            [profile agent-role]
            role_arn = arn:aws:iam::123456789012:role/Admin
            role_session_name = alice
            credential_source = EcsContainer
            policy_arns = arn:aws:iam::aws:policy/ReadOnlyAccess
            """)
        let fixture = try SourcesFixture(route: { _ in Issue.record("no request expected"); return STSAnswers.error(500, code: "x", message: "x") })
        let reach = RoleLookup(files: files, context: fixture.context(), keysOnly: true).reachableEntries()
        #expect(reach.values.map(\.profiles).sorted { $0.count < $1.count } == [["agent-role"], ["prod", "prod-role"]])
        #expect(reach.values.first { $0.profiles == ["agent-role"] }?.key.sessionParameters != nil)
        #expect(reach.values.first { $0.profiles.contains("prod") }?.key.sessionParameters == nil)
    }
}
