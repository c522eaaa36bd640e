import Foundation
import Testing

import OpenSSLCrypto
import STS
@testable import Credentials
import TestSupport
import Transport

private let now = Date(timeIntervalSince1970: 1_800_000_000)

private func client(_ fake: FakeSignIn, transport: RoutedTransport? = nil, attempts: Int = 3,
                    slept: Locked<[Double]> = Locked([])) -> (SignInTokenClient, RoutedTransport) {
    let transport = transport ?? RoutedTransport(fake.route)
    let client = SignInTokenClient(
        transport: transport, baseURL: fake.base, http: HTTPOptions(), retry: RetryPolicy(maxAttempts: attempts),
        clock: { [fake] in fake.now }, sleep: { seconds in slept.value.append(seconds) }, jitter: { 0.5 })
    return (client, transport)
}

private var key: P256SigningKey { P256SigningKey(pem: Array(LoginFixture.pem.utf8))! }

@Suite("aws login: CreateOAuth2Token against a fake Sign-In built from botocore's model")
struct SignInTokenClientTests {
    @Test("a refresh sends tokenInput with a DPoP proof the service verifies, and returns the rotated token")
    func refresh() throws {
        let fake = FakeSignIn(now: now)
        let (client, transport) = client(fake)
        let output = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
        #expect(output.refreshToken == "rt-2")
        #expect(output.credentials.accessKeyId == "ASIAREFRESHED0001")
        #expect(output.expiresIn == 900)
        #expect(fake.issued == 1)
        let request = try #require(transport.requests.first)
        #expect(request.url == "https://us-east-1.signin.aws.amazon.com/v1/token")
        // The body is the model's tokenInput payload, nothing more.
        #expect(String(decoding: request.body, as: UTF8.self)
            == #"{"clientId": "arn:aws:signin:::devtools/same-device", "grantType": "refresh_token", "refreshToken": "rt-1"}"#)
        // Unsigned: no SigV4 Authorization header.
        #expect(!request.headers.contains { $0.name.lowercased() == "authorization" })
    }

    @Test("the fake fails closed: a spent refresh token, a replayed jti, a stale iat and another key are refused")
    func fakeRefuses() throws {
        let fake = FakeSignIn(now: now)
        let (client, _) = client(fake)
        _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
        fake.expectRefusals = true
        // The same refresh token again: each is accepted once.
        #expect(throws: SignInTokenClient.Refused(status: 400, errorType: "AccessDeniedException", error: "TOKEN_EXPIRED")) {
            _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
        }
        // The last proof replayed by hand.
        let replay = HTTPRequest(method: "POST", url: fake.base + "/v1/token", headers: [
            (name: "Content-Type", value: "application/json"), (name: "DPoP", value: fake.lastProof!),
        ], body: fake.lastBody)
        guard case .success(let replayed)? = fake.answer(replay) else { Issue.record("no answer"); return }
        #expect(replayed.status == 400 && String(decoding: replayed.body, as: UTF8.self).contains("jti was used before"))
        // A proof made two minutes ago.
        var late = client
        late.clock = { now.addingTimeInterval(-120) }
        #expect(throws: SignInTokenClient.Refused.self) {
            _ = try late.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-2", key: key)
        }
        // Another key: the header's JWK is not the session's.
        #expect(throws: SignInTokenClient.Refused.self) {
            _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-2", key: try P256SigningKey.generate())
        }
        #expect(fake.issued == 1)
    }

    @Test("5xx and 429 are retried with STS's policy (jittered backoff), each attempt with a new proof")
    func retries() throws {
        let fake = FakeSignIn(now: now)
        fake.scripted = [(500, "InternalServerException", "server_error"), (429, "TooManyRequestsError", "rate_exceeded")]
        let slept = Locked<[Double]>([])
        let (client, transport) = client(fake, slept: slept)
        let output = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
        #expect(output.refreshToken == "rt-2")
        #expect(transport.requests.count == 3)
        let proofs = transport.requests.compactMap { $0.headers.first { $0.name == "DPoP" }?.value }
        #expect(Set(proofs).count == 3)
        // RetryPolicy's full jitter: 0.5 x 0.5 s, then 0.5 x 1 s.
        #expect(slept.value == [0.25, 0.5])
    }

    @Test("refusals are not retried, and say which OAuth2 error they carry")
    func refusals() throws {
        for (error, ends, lacks) in [("TOKEN_EXPIRED", true, false), ("USER_CREDENTIALS_CHANGED", true, false),
                                     ("INSUFFICIENT_PERMISSIONS", false, true), ("invalid_request", false, false)] {
            let fake = FakeSignIn(now: now)
            fake.scripted = [(400, "AccessDeniedException", error)]
            let (client, transport) = client(fake)
            do {
                _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
                Issue.record("a refusal was not thrown")
            } catch let refused as SignInTokenClient.Refused {
                #expect(refused.errorType == "AccessDeniedException" && refused.error == error)
                #expect(refused.endsSession == ends && refused.lacksPermission == lacks)
            }
            #expect(transport.requests.count == 1)
        }
    }

    @Test("an unreachable service fails after the attempts with one line; an answer that is not a token is refused")
    func failures() throws {
        let fake = FakeSignIn(now: now)
        let down = RoutedTransport { _ in .failure(TransportError.couldNotConnect("refused")) }
        let (client, _) = client(fake, transport: down)
        #expect(throws: LoginSessionError.self) {
            _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
        }
        #expect(down.requests.count == 3)
        let junk = RoutedTransport { _ in .success(HTTPResponse(status: 200, body: Array(#"{"accessToken":"x"}"#.utf8))) }
        let (junkClient, _) = self.clientFor(fake, junk)
        do {
            _ = try junkClient.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
            Issue.record("accepted junk")
        } catch let error as LoginSessionError {
            #expect(error.code == .badResponse)
        }
    }

    @Test("the shared retry loop's deadline: each attempt's timeout is cut to what is left, and no sleep ends past it")
    func deadline() throws {
        let time = Locked(now)
        let slept = Locked<[Double]>([])
        // Each 503 takes 12 s of the 30 s deadline.
        let busy = RoutedTransport { _ in
            time.value = time.value.addingTimeInterval(12)
            return .success(HTTPResponse(status: 503, headers: [(name: "x-amzn-ErrorType", value: "ServiceUnavailable")],
                                         body: []))
        }
        var http = HTTPOptions()
        http.totalTimeout = 60
        http.connectTimeout = 60
        let client = SignInTokenClient(
            transport: busy, baseURL: "https://us-east-1.signin.aws.amazon.com", http: http,
            retry: RetryPolicy(maxAttempts: 5, deadline: 30), clock: { time.value },
            sleep: { seconds in slept.value.append(seconds); time.value = time.value.addingTimeInterval(seconds) },
            jitter: { 0.5 })
        do {
            _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
            Issue.record("a busy service gave credentials")
        } catch let error as LoginSessionError {
            #expect(error.code == .unavailable)
            #expect(error.message.contains("(HTTP 503 (ServiceUnavailable)) after 3 attempts"), "\(error.message)")
        }
        // 30 s, then 30 - 12.25, then 30 - 24.75; the third 503 ends at 36.75 s: no fourth.
        #expect(busy.options.map(\.totalTimeout) == [30, 17.75, 5.25])
        #expect(busy.options.allSatisfy { $0.maxResponseBytes == 64 * 1024 && $0.connectTimeout <= $0.totalTimeout })
        #expect(slept.value == [0.25, 0.5])
        // A new proof for every attempt.
        #expect(Set(busy.requests.compactMap { $0.headers.first { $0.name == "DPoP" }?.value }).count == 3)
    }

    @Test("a failure that another try cannot mend (TLS) is not retried, and the message counts one attempt")
    func notTransient() throws {
        let tls = RoutedTransport { _ in .failure(TransportError.tls("certificate verify failed")) }
        let (client, _) = client(FakeSignIn(now: now), transport: tls)
        do {
            _ = try client.refresh(clientId: LoginFixture.clientId, refreshToken: "rt-1", key: key)
            Issue.record("no error")
        } catch let error as LoginSessionError {
            #expect(error.code == .unavailable && error.message.contains("after 1 attempt;"), "\(error.message)")
        }
        #expect(tls.requests.count == 1)
    }

    private func clientFor(_ fake: FakeSignIn, _ transport: RoutedTransport) -> (SignInTokenClient, RoutedTransport) {
        client(fake, transport: transport)
    }

    @Test("the authorization_code grant sends the code, the PKCE verifier and the redirect URI")
    func authorizationCode() throws {
        let transport = RoutedTransport { _ in
            .success(HTTPResponse(status: 200, body: Array(#"{"accessToken":{"accessKeyId":"ASIANEW000000001","secretAccessKey":"s","sessionToken":"t"},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"rt","idToken":"h.p.s"}"#.utf8)))
        }
        let (client, _) = client(FakeSignIn(now: now), transport: transport)
        let output = try client.exchangeAuthorizationCode(
            clientId: LoginFixture.clientId, code: "the-code", codeVerifier: String(repeating: "v", count: 43),
            redirectURI: "http://127.0.0.1:5555/oauth/callback", key: key)
        #expect(output.idToken == "h.p.s")
        let body = try #require(JSONValue.parseObject(transport.requests[0].body))
        #expect(body == ["clientId": .string(LoginFixture.clientId), "grantType": .string("authorization_code"),
                         "code": .string("the-code"), "codeVerifier": .string(String(repeating: "v", count: 43)),
                         "redirectUri": .string("http://127.0.0.1:5555/oauth/callback")])
    }

    @Test("endpoints by the signin rule set; a configured one must be https or loopback http", arguments: [
        ("us-east-1", nil, "https://us-east-1.signin.aws.amazon.com"),
        ("eu-west-1", nil, "https://eu-west-1.signin.aws.amazon.com"),
        ("cn-north-1", nil, "https://cn-north-1.signin.amazonaws.cn"),
        ("us-gov-west-1", nil, "https://us-gov-west-1.signin.amazonaws-us-gov.com"),
        ("us-east-1", "https://signin.example.com/", "https://signin.example.com"),
        ("us-east-1", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("us-east-1", "http://localhost:5000/base//", "http://localhost:5000/base"),
    ] as [(String, String?, String)])
    func endpoints(region: String, configured: String?, expected: String) throws {
        #expect(try SignInTokenClient.endpoint(region: region, configured: configured) == expected)
    }

    @Test("plain http off this machine, a query, and a region that is not one are refused", arguments: [
        ("us-east-1", "http://signin.example.com"), ("us-east-1", "https://signin.example.com/?x=1"),
        ("x@evil.example/", nil), ("us-east-1", "ftp://127.0.0.1"),
    ] as [(String, String?)])
    func refusedEndpoints(region: String, configured: String?) {
        #expect(throws: LoginSessionError.self) { _ = try SignInTokenClient.endpoint(region: region, configured: configured) }
    }
}
