import AWSConfig
import Foundation
@testable import Credentials
import Testing
import Transport
import StscacheSupport
import TestSupport

/// Which cached session a caller may be handed: only one fetched by the same principal (source
/// keys) from the same STS (endpoint or partition).
@Suite("Sessions bound to the principal and the endpoint that fetched them")
struct SessionBindingTests {
    static let keysA = StaticKeys(accessKeyId: "AKIAKEYSAAAAAAAAAAAA", secretAccessKey: "secret-a")
    static let keysB = StaticKeys(accessKeyId: "AKIAKEYSBBBBBBBBBBBB", secretAccessKey: "secret-b")

    func role(_ source: CredentialSource, region: String = "us-east-1", endpoint: String? = nil) -> RoleProfile {
        RoleProfile(name: "prod", roleArn: "arn:aws:iam::1:role/Admin", roleSessionName: "alice", region: region,
                    endpointURL: endpoint, source: source)
    }

    /// STS as usual, but a request signed by `refused` keys is refused as an invalid token.
    static func sts(refusing refused: String?) -> RoutedTransport.Route {
        let answer = STSAnswers.sts(now: SourcesFixture.now)
        return { request in
            if let refused, signingKeyId(request) == refused {
                return STSAnswers.error(403, code: "InvalidClientTokenId", message: "The security token included in the request is invalid.")
            }
            return answer(request)
        }
    }

    @Test("keys B under the same profile name go to STS and fail; they never get A's session, which stays")
    func otherKeysGoToSTS() throws {
        let fixture = try SourcesFixture(route: Self.sts(refusing: Self.keysB.accessKeyId))
        let withA = role(.staticKeys(profile: "base", Self.keysA))
        let withB = role(.staticKeys(profile: "base", Self.keysB))
        let first = try fixture.broker().credentials(for: withA)

        #expect(throws: (any Error).self) { try fixture.broker().credentials(for: withB) }
        #expect(fixture.transport.requests.map(signingKeyId) == [Self.keysA.accessKeyId, Self.keysB.accessKeyId])
        // A wrong secret with A's own key id is another principal too.
        let guessed = role(.staticKeys(profile: "base", StaticKeys(accessKeyId: Self.keysA.accessKeyId, secretAccessKey: "guess")))
        let third = try fixture.broker().credentials(for: guessed)
        #expect(third.accessKeyId != first.accessKeyId)
        #expect(fixture.transport.actions.count == 3)
    }

    @Test("with credential_source = Environment, other environment keys never get the first keys' session")
    func environmentKeys() throws {
        let fixture = try SourcesFixture(route: Self.sts(refusing: Self.keysB.accessKeyId))
        let first = try fixture.broker().credentials(for: role(.environment(Self.keysA)))
        #expect(throws: (any Error).self) { try fixture.broker().credentials(for: role(.environment(Self.keysB))) }
        // A's session is still there for A: no new call.
        #expect(try fixture.broker().credentials(for: role(.environment(Self.keysA))) == first)
        #expect(fixture.transport.actions == ["AssumeRole", "AssumeRole"])
    }

    @Test("a chained role is bound to the keys at the root of its chain")
    func chainedRoleBoundToRoot() throws {
        let fixture = try SourcesFixture(route: Self.sts(refusing: nil))
        func chained(_ keys: StaticKeys) -> RoleProfile {
            let jump = RoleProfile(name: "jump", roleArn: "arn:aws:iam::1:role/Jump", roleSessionName: "alice",
                                   region: "us-east-1", source: .staticKeys(profile: "base", keys))
            return role(.role(jump))
        }
        _ = try fixture.broker().credentials(for: chained(Self.keysA))
        _ = try fixture.broker().credentials(for: chained(Self.keysA))
        #expect(fixture.transport.actions.count == 2)
        _ = try fixture.broker().credentials(for: chained(Self.keysB))
        #expect(fixture.transport.actions.count == 4)
    }

    @Test("the same role and session at two endpoints: one STS call at each, each served its own")
    func endpointsApart() throws {
        let fixture = try SourcesFixture(route: Self.sts(refusing: nil))
        let local = role(.staticKeys(profile: "base", Self.keysA), endpoint: "http://127.0.0.1:5000")
        let real = role(.staticKeys(profile: "base", Self.keysA))
        let fromLocal = try fixture.broker().credentials(for: local)
        let fromReal = try fixture.broker().credentials(for: real)
        #expect(fromLocal != fromReal)
        #expect(try fixture.broker().credentials(for: local) == fromLocal)
        #expect(try fixture.broker().credentials(for: real) == fromReal)
        #expect(fixture.transport.requests.map(\.url) == ["http://127.0.0.1:5000/", "https://sts.us-east-1.amazonaws.com/"])
        #expect(CredentialBroker.cacheKey(for: local) != CredentialBroker.cacheKey(for: real))
    }

    @Test("regions of one partition share a session; another partition does not")
    func partitions() {
        let keys = CredentialSource.staticKeys(profile: "base", Self.keysA)
        let virginia = CredentialBroker.cacheKey(for: role(keys, region: "us-east-1"))
        #expect(CredentialBroker.cacheKey(for: role(keys, region: "eu-west-1")) == virginia)
        #expect(CredentialBroker.cacheKey(for: role(keys, region: "cn-north-1")) != virginia)
        #expect(CredentialBroker.cacheKey(for: role(keys, endpoint: "https://sts.us-east-1.amazonaws.com")) != virginia)
    }

    @Test("plain http to another host is refused before anything is signed or sent")
    func plainHTTPRefused() throws {
        let fixture = try SourcesFixture { _ in nil }
        let remote = role(.staticKeys(profile: "base", Self.keysA), endpoint: "http://sts.example.test")
        let error = #expect(throws: (any Error).self) { try fixture.broker().credentials(for: remote) }
        #expect(describe(error!).contains("STSCACHE_ALLOW_INSECURE_HTTP=1"))
        #expect(fixture.transport.requests.isEmpty)
    }
}

/// A session with a source identity, tags or session policies is another session than the
/// role's plain one, and STS's refusals say which profile and role they were for.
@Suite("Session parameters through the pipeline")
struct SessionParameterPipelineTests {
    static let keys = StaticKeys(accessKeyId: "AKIAKEYSAAAAAAAAAAAA", secretAccessKey: "secret-a")

    func role(_ parameters: SessionParameters = SessionParameters()) -> RoleProfile {
        var role = RoleProfile(name: "prod", roleArn: "arn:aws:iam::123456789012:role/Admin", roleSessionName: "alice",
                               region: "us-east-1", source: .staticKeys(profile: "base", Self.keys))
        role.sessionParameters = parameters
        return role
    }

    static func body(_ request: HTTPRequest) -> String { String(decoding: request.body, as: UTF8.self) }

    @Test("a scoped session is never served for the plain profile, nor the reverse; each is cached on its own")
    func scopedApart() throws {
        let fixture = try SourcesFixture(route: SessionBindingTests.sts(refusing: nil))
        let scoped = role(SessionParameters(sourceIdentity: "alice", tags: [SessionTag(key: "team", value: "ops")],
                                            transitiveTagKeys: ["team"], policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                                            policy: "{}"))
        let plainFirst = try fixture.broker().credentials(for: role())
        let scopedFirst = try fixture.broker().credentials(for: scoped)
        #expect(plainFirst != scopedFirst)
        #expect(try fixture.broker().credentials(for: role()) == plainFirst)
        #expect(try fixture.broker().credentials(for: scoped) == scopedFirst)
        let bodies = fixture.transport.requests.map(Self.body)
        #expect(bodies.count == 2)
        #expect(!bodies[0].contains("Tags.") && !bodies[0].contains("Policy"))
        for part in ["Tags.member.1.Key=team", "Tags.member.1.Value=ops", "TransitiveTagKeys.member.1=team",
                     "PolicyArns.member.1.arn=", "Policy=%7B%7D", "SourceIdentity=alice"] {
            #expect(bodies[1].contains(part), "\(part) missing")
        }
    }

    @Test("the account is the role ARN's, on a miss and on a hit")
    func account() throws {
        let fixture = try SourcesFixture(route: SessionBindingTests.sts(refusing: nil))
        #expect(try fixture.broker().credentials(for: role()).accountId == "123456789012")
        #expect(try fixture.broker().credentials(for: role()).accountId == "123456789012")
        #expect(fixture.transport.requests.count == 1)
    }

    @Test("AccessDenied and other STS errors name the profile and the role, on one line")
    func errorsNameProfileAndRole() throws {
        for (status, code) in [(403, "AccessDenied"), (400, "PackedPolicyTooLarge"), (400, "MalformedPolicyDocument")] {
            let fixture = try SourcesFixture(route: { _ in STSAnswers.error(status, code: code, message: "refused\nhere") })
            do {
                _ = try fixture.broker().credentials(for: role())
                Issue.record("\(code) was not thrown")
            } catch {
                let message = describe(error)
                #expect(message.hasPrefix("profile \"prod\" (role arn:aws:iam::123456789012:role/Admin): STS AssumeRole failed: \(code)"),
                        "\(message)")
                #expect(!message.contains("\n"))
            }
        }
    }
}
