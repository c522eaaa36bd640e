import Foundation
import Testing

import AWSConfig
@testable import Credentials
import STS
import StscacheSupport
import TestSupport
import Transport

/// The portal and OIDC calls share STS's retry policy (`RetryPolicy`, from `NetworkSettings`:
/// jitter, attempts, the deadline) and the profile's CA bundle.
@Suite("Identity Center calls: the one retry policy and the profile's CA bundle")
struct IdentityCenterRetryTests {
    static let portal = "https://portal.test"
    static let settings = IdentityCenterSettings(
        profile: "dev", startURL: "https://corp.awsapps.com/start", region: "eu-west-1", accountId: "111122223333",
        roleName: "Developer", sessionName: "corp", portalEndpoint: portal, oidcEndpoint: "https://oidc.test",
        caBundle: "/etc/corp/ca.pem")

    /// A clock that only moves when slept on or when a request "takes" time.
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var current = SourcesFixture.now
        private(set) var sleeps: [Double] = []
        var now: Date { lock.withLock { current } }
        func advance(_ seconds: Double) { lock.withLock { current += seconds } }
        func sleep(_ seconds: Double) { lock.withLock { sleeps.append(seconds); current += seconds } }
    }

    static func success() -> Result<HTTPResponse, TransportError> {
        let expiration = Int64((SourcesFixture.now.timeIntervalSince1970 + 3600) * 1000)
        return STSAnswers.json(200, """
            {"roleCredentials": {"accessKeyId": "ASIAPORTALEXAMPLE1", "secretAccessKey": "portal-secret-value-0123456789",
             "sessionToken": "portal-session-token", "expiration": \(expiration)}}
            """)
    }

    static func service(_ transport: RoutedTransport, clock: Clock, network: NetworkSettings = NetworkSettings(),
                        jitter: Double = 0.5) -> IdentityCenterService {
        IdentityCenterService(transport: transport, environment: [:], settings: network,
                              clock: { clock.now }, sleep: { clock.sleep($0) }, jitter: { jitter })
    }

    @Test("503, 503, then 200: three attempts with full-jitter backoff (not a fixed one), the profile's CA bundle on each")
    func jitteredRetries() throws {
        let clock = Clock()
        var answers: [Result<HTTPResponse, TransportError>] = [.success(HTTPResponse(status: 503)),
                                                             .success(HTTPResponse(status: 503)), Self.success()]
        let transport = RoutedTransport { request in
            request.url.hasPrefix(Self.portal) && !answers.isEmpty ? answers.removeFirst() : nil
        }
        let credentials = try Self.service(transport, clock: clock, jitter: 0.5)
            .roleCredentials(Self.settings, accessToken: "token-1")
        #expect(credentials.accessKeyId == "ASIAPORTALEXAMPLE1")
        #expect(transport.requests.count == 3)
        // RetryPolicy: jitter * min(5, 0.5 * 2^(n-1)); the old fixed back-off slept 0.2, 0.4.
        #expect(clock.sleeps == [0.25, 0.5])
        #expect(transport.options.allSatisfy { $0.caBundle == "/etc/corp/ca.pem" })
    }

    @Test("STSCACHE_STS_TIMEOUT ends the retries: no attempt starts or sleeps past the deadline")
    func deadline() throws {
        let clock = Clock()
        let transport = RoutedTransport { request in
            guard request.url.hasPrefix(Self.portal) else { return nil }
            clock.advance(4)  // each attempt hangs for 4 s, then the connection fails
            return .failure(.couldNotConnect("Failed to connect to portal.test port 443: timed out"))
        }
        let network = try NetworkSettings(environment: ["STSCACHE_STS_TIMEOUT": "12", "STSCACHE_MAX_ATTEMPTS": "10"])
        let error = try #require(throws: IdentityCenterError.self) {
            try Self.service(transport, clock: clock, network: network, jitter: 1)
                .roleCredentials(Self.settings, accessToken: "token-1")
        }
        #expect(error.code == .unavailable)
        #expect(error.message.contains("could not connect to portal.test port 443"))
        // t=0 send (4), sleep 0.5, send (8.5), sleep 1, send (13.5): a 2 s sleep would end past 12.
        #expect(transport.requests.count == 3)
        #expect(clock.sleeps == [0.5, 1])
        // Each attempt's timeout is cut to what is left of the deadline.
        #expect(transport.options.last?.totalTimeout == 12 - 9.5)
    }

    @Test("a refusal or an unresolvable host is not retried")
    func notRetried() throws {
        let clock = Clock()
        let transport = RoutedTransport { request in
            request.url.hasPrefix(Self.portal) ? .failure(.couldNotResolveHost("Could not resolve host: portal.test")) : nil
        }
        let error = try #require(throws: IdentityCenterError.self) {
            try Self.service(transport, clock: clock).roleCredentials(Self.settings, accessToken: "token-1")
        }
        #expect(transport.requests.count == 1)
        #expect(error.message.contains("could not resolve the host portal.test;"))
        #expect(!error.message.contains("Could not resolve host"))
    }

    @Test("the profile's ca_bundle (and endpoint settings) reach the Identity Center settings; AWS_CA_BUNDLE wins")
    func caBundleFromProfile() throws {
        let config = """
            [profile dev]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Developer
            ca_bundle = /etc/corp/ca.pem
            services = corp
            [sso-session corp]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = eu-west-1
            [services corp]
            sso =
              endpoint_url = https://portal.corp.example
            sso_oidc =
              endpoint_url = https://oidc.corp.example
            """
        func resolve(_ environment: [String: String]) throws -> RoleProfile {
            try ProfileResolver.resolve(profile: "dev", files: try loadFiles(config: config), environment: environment,
                                        userName: "alice")
        }
        let role = try resolve([:])
        guard case .identityCenter(let settings) = role.source else {
            Issue.record("not an Identity Center role")
            return
        }
        #expect(settings.caBundle == "/etc/corp/ca.pem")
        #expect(role.caBundle == "/etc/corp/ca.pem")  // console's federation call reads this one
        #expect(settings.portalEndpoint == "https://portal.corp.example")
        #expect(settings.oidcEndpoint == "https://oidc.corp.example")
        #expect(try resolve(["AWS_CA_BUNDLE": "/env/ca.pem"]).caBundle == "/env/ca.pem")
    }
}
