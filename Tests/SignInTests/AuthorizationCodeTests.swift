import Foundation
import Testing

import AWSConfig
@testable import Credentials
import OpenSSLCrypto
import StscacheSupport
import TestSupport
import Transport
@testable import SignIn
import LocalEndpoint

@Suite("IAM Identity Center: the authorization code flow with PKCE")
struct AuthorizationCodeTests {
    @Test("S256 challenge: RFC 7636 appendix B")
    func rfcVector() {
        #expect(AuthorizationCode.challenge(for: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
            == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test("verifiers are 64 characters of the unreserved set, states 128 random bits, each new")
    func generated() throws {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var verifiers = Set<String>()
        var seen = Set<Character>()
        for _ in 0..<200 {
            let flow = try AuthorizationCode.generate()
            #expect(flow.verifier.count == 64 && flow.verifier.allSatisfy(alphabet.contains))
            #expect(flow.state.count == 32 && flow.state.allSatisfy(\.isHexDigit))
            verifiers.insert(flow.verifier)
            seen.formUnion(flow.verifier)
        }
        #expect(verifiers.count == 200)
        // 12,800 draws: every one of the 66 symbols turns up (a biased or truncated alphabet would not).
        #expect(seen == alphabet)
    }

    @Test("the authorize URL carries the CLI's parameters, percent-encoded, in its order")
    func authorizeURL() {
        let flow = AuthorizationCode(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", state: "abc123")
        #expect(flow.authorizeURL(base: "https://oidc.eu-west-1.amazonaws.com", clientId: "cid/1", port: 4242, scopes: [])
            == "https://oidc.eu-west-1.amazonaws.com/authorize?response_type=code&client_id=cid%2F1"
            + "&redirect_uri=http%3A%2F%2F127.0.0.1%3A4242%2Foauth%2Fcallback&state=abc123&code_challenge_method=S256"
            + "&scopes=sso%3Aaccount%3Aaccess&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(flow.authorizeURL(base: "https://o", clientId: "c", port: 1, scopes: ["a:b", "c"]).contains("&scopes=a%3Ab%20c&"))
    }

    static func request(_ target: String, method: String = "GET") -> EndpointRequest {
        EndpointRequest(method: method, target: target, authorization: nil)
    }

    @Test("the redirect ends the wait only with this login's state; the page never echoes the request")
    func callback() {
        let flow = AuthorizationCode(verifier: "v", state: "s3cr3t")
        func run(_ target: String, method: String = "GET") -> (Int, Bool, AuthorizationCode.Outcome?, String) {
            let (reply, outcome) = flow.callback(Self.request(target, method: method))
            return (reply.status, reply.stop, outcome, reply.body)
        }
        let good = run("/oauth/callback?code=the-code&state=s3cr3t")
        #expect(good.0 == 200 && good.1 && good.2 == .code("the-code") && !good.3.contains("the-code"))
        #expect(run("/oauth/callback?state=s3cr3t&code=a%2Bb+c").2 == nil)  // "a+b c": a space is not a code
        #expect(run("/oauth/callback?state=s3cr3t&code=a%2Bb").2 == .code("a+b"))
        // Not this login: no state, another state, two states, a prefix of it, another path, POST.
        for target in ["/oauth/callback?code=x", "/oauth/callback?code=x&state=other", "/oauth/callback?code=x&state=s3cr3t&state=s3cr3t",
                       "/oauth/callback?code=x&state=s3cr3", "/favicon.ico", "/oauth/callback/x?code=x&state=s3cr3t",
                       "/oauth/callback?code=x&state=%zz"] {
            let answer = run(target)
            #expect(answer.2 == nil && !answer.1 && answer.0 >= 400, "\(target)")
        }
        #expect(run("/oauth/callback?code=x&state=s3cr3t", method: "POST").0 == 405)
        // A code with a control character, or none, is refused and the wait goes on.
        #expect(run("/oauth/callback?code=a%0Ab&state=s3cr3t").2 == nil)
        #expect(run("/oauth/callback?state=s3cr3t").2 == nil)
        // The sign-in's refusal, with its name only when it is a plain identifier.
        let refused = run("/oauth/callback?error=access_denied&state=s3cr3t")
        #expect(refused.1 && refused.2 == .refused("access_denied"))
        #expect(run("/oauth/callback?error=%1B%5B2J&state=s3cr3t").2 == .refused("an unnamed error"))
        #expect(run("/oauth/callback?error=access_denied&state=nope").2 == nil)
    }

    static let config = IdentityCenterConfig.corpSession

    /// What a browser does with the authorize URL: OIDC redirects it to `redirect_uri` with a code
    /// and the state, and it GETs that from the loopback server (here over a plain socket).
    static func follow(_ authorizeURL: String, code: String, state override: String? = nil,
                       path: String = "/oauth/callback") throws -> String {
        let query = try #require(URLComponents(string: authorizeURL)?.queryItems)
        let redirect = try #require(query.first { $0.name == "redirect_uri" }?.value.flatMap(URL.init(string:)))
        let state = override ?? query.first { $0.name == "state" }?.value ?? ""
        #expect(redirect.host == "127.0.0.1" && redirect.path == "/oauth/callback")
        return try get(port: UInt16(try #require(redirect.port)), target: "\(path)?code=\(code)&state=\(state)")
    }

    static func get(port: UInt16, target: String) throws -> String {
        try loopbackExchange(port: port, Array("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
    }

    final class Browser: @unchecked Sendable {
        var pages: [String] = []
        var thread: Thread?
        /// Opens `url` on a thread of its own, as a browser would, after the stray requests.
        func open(_ url: String, strays: [(code: String, state: String?, path: String)], code: String) {
            let thread = Thread {
                for stray in strays {
                    if let page = try? AuthorizationCodeTests.follow(url, code: stray.code, state: stray.state, path: stray.path) {
                        self.pages.append(page)
                    }
                }
                if let page = try? AuthorizationCodeTests.follow(url, code: code) { self.pages.append(page) }
            }
            self.thread = thread
            thread.start()
        }
    }

    @Test("a login: registration for the code grant, the browser's redirect, CreateToken with the verifier")
    func login() throws {
        let oidc = "http://127.0.0.1:4002"
        let registrations = Counter()
        let challenges = Locked<[String]>([])
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc]) { request in
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
            switch request.url {
            case oidc + "/client/register":
                let number = registrations.next()
                return STSAnswers.json(200, #"{"clientId": "cid\#(number)", "clientSecret": "cs\#(number)", "clientSecretExpiresAt": 1900000000}"#)
            case oidc + "/token":
                guard body["grantType"] as? String == "authorization_code", body["code"] as? String == "the-code",
                      let verifier = body["codeVerifier"] as? String,
                      challenges.value.last == AuthorizationCode.challenge(for: verifier),
                      let redirect = body["redirectUri"] as? String, redirect.hasPrefix("http://127.0.0.1:"),
                      redirect.hasSuffix("/oauth/callback")
                else { return .success(HTTPResponse(status: 400, headers: [("x-amzn-ErrorType", "InvalidGrantException")])) }
                return STSAnswers.json(200, #"{"accessToken": "at", "expiresIn": 28800, "refreshToken": "rt"}"#)
            default: return nil
            }
        }
        let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                    sessionName: "corp", profile: nil)
        let browser = Browser()
        try IdentityCenterLogin(context: fixture.context()).run(target, flow: .authorizationCode) { url, userCode in
            #expect(userCode == nil)
            #expect(url.hasPrefix(oidc + "/authorize?response_type=code&client_id=cid1&"))
            challenges.value.append(URLComponents(string: url)?.queryItems?.first { $0.name == "code_challenge" }?.value ?? "")
            // A local process guessing the port, with the wrong state and on another path, first.
            browser.open(url, strays: [(code: "forged", state: "guessed", path: "/oauth/callback"),
                                       (code: "forged", state: nil, path: "/other")], code: "the-code")
        }
        while !(browser.thread?.isFinished ?? true) { usleep(1000) }
        #expect(browser.pages.count == 3)
        #expect(browser.pages.first?.hasPrefix("HTTP/1.1 400") == true)
        #expect(browser.pages.last?.hasPrefix("HTTP/1.1 200") == true)
        #expect(browser.pages.last?.contains("the-code") == false)

        let register = try #require(fixture.transport.requests.first { $0.url.hasSuffix("/client/register") })
        let registerBody = try #require(try JSONSerialization.jsonObject(with: Data(register.body)) as? [String: Any])
        #expect(registerBody["grantTypes"] as? [String] == ["authorization_code", "refresh_token"])
        #expect(registerBody["redirectUris"] as? [String] == ["http://127.0.0.1/oauth/callback"])
        #expect(registerBody["issuerUrl"] as? String == "https://corp.awsapps.com/start")
        #expect(registerBody["scopes"] as? [String] == ["sso:account:access"])

        let cache = fixture.path + "/.aws/sso/cache/"
        let token = try IdentityCenterToken.parse(Array(try Data(contentsOf: URL(fileURLWithPath: cache
            + IdentityCenterToken.fileName(forKey: "corp"))))).get()
        #expect(token.accessToken == "at" && token.refreshToken == "rt" && token.clientId == "cid1")
        #expect(token.canRefresh(now: SourcesFixture.now))
        let registration = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cache
            + IdentityCenterLogin.registrationFileName(target)))) as? [String: Any])
        #expect(registration["grantTypes"] as? [String] == ["authorization_code", "refresh_token"])
        #expect(registration["scopes"] as? [String] == ["sso:account:access"])

        // A second login reuses that registration; a device code login does not (the CLI's rule),
        // and a later code login does not reuse the device registration either.
        let again = Browser()
        try IdentityCenterLogin(context: fixture.context()).run(target, flow: .authorizationCode) { url, _ in
            #expect(url.contains("client_id=cid1&"))
            challenges.value.append(URLComponents(string: url)?.queryItems?.first { $0.name == "code_challenge" }?.value ?? "")
            again.open(url, strays: [], code: "the-code")
        }
        while !(again.thread?.isFinished ?? true) { usleep(1000) }
        #expect(fixture.transport.requests.filter { $0.url.hasSuffix("/client/register") }.count == 1)
    }

    @Test("20 connections that sent one byte and went silent delay neither a stray request nor the redirect that ends the wait")
    func redirectUnderSlowClients() throws {
        let flow = AuthorizationCode(verifier: "v", state: "s3cr3t")
        let outcome = Locked<AuthorizationCode.Outcome?>(nil)
        // The handler login's RedirectWait gives the server.
        let server = try EndpointServer(purpose: "the sign-in redirect") { request in
            let (reply, received) = flow.callback(request)
            if let received { outcome.value = received }
            return reply
        }
        // Slow connections that stay open for the whole test on a loaded machine, and a serving
        // deadline far beyond it: a server that waited for them, or for its deadline, would take
        // 30 s (a one-at-a-time one 20 times that); the fix answers and ends at once, and a
        // loaded machine stays well inside the 5 s bound.
        server.readTimeout = 30
        let running = try server.startThread(until: monotonicSeconds() + 120)
        let slow = SlowClients(port: server.port, count: 20)
        defer { slow.closeAll() }
        for attempt in 1...5 {
            let state = attempt < 5 ? "guessed" : "s3cr3t"
            let (page, seconds) = timedLoopbackExchange(
                port: server.port, "GET /oauth/callback?code=the-code&state=\(state) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                timeout: 5)
            #expect(page.hasPrefix(attempt < 5 ? "HTTP/1.1 400 " : "HTTP/1.1 200 "),
                    "request \(attempt) after \(seconds) s: \(page.prefix(60))")
        }
        // The page that said stop ended serving at once, slow connections or not.
        let waited = monotonicSeconds()
        running.wait()
        #expect(monotonicSeconds() - waited < 5, "serving went on \(monotonicSeconds() - waited) s after the stop")
        #expect(outcome.value == .code("the-code"))
    }

    @Test("a refused sign-in fails with the refusal's name, and no CreateToken is sent")
    func refused() throws {
        let oidc = "http://127.0.0.1:4002"
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc]) { request in
            request.url.hasSuffix("/client/register")
                ? STSAnswers.json(200, #"{"clientId": "cid", "clientSecret": "cs", "clientSecretExpiresAt": 1900000000}"#)
                : STSAnswers.json(200, #"{"accessToken": "at", "expiresIn": 28800}"#)
        }
        let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                    sessionName: "corp", profile: nil)
        let page = Locked("")
        var thread: Thread?
        let error = #expect(throws: IdentityCenterError.self) {
            try IdentityCenterLogin(context: fixture.context()).run(target, flow: .authorizationCode) { url, _ in
                let query = URLComponents(string: url)?.queryItems ?? []
                let port = URL(string: query.first { $0.name == "redirect_uri" }?.value ?? "")?.port ?? 0
                let state = query.first { $0.name == "state" }?.value ?? ""
                let started = Thread {
                    page.value = (try? Self.get(port: UInt16(port), target: "/oauth/callback?error=access_denied&state=\(state)")) ?? ""
                }
                thread = started
                started.start()
            }
        }
        while !(thread?.isFinished ?? true) { usleep(1000) }
        #expect(error?.message.contains("access_denied") == true)
        #expect(page.value.hasPrefix("HTTP/1.1 200"))
        #expect(!fixture.transport.requests.contains { $0.url.hasSuffix("/token") })
    }

    @Test("device code after a code-grant registration registers again, without grant types")
    func deviceAfterCode() throws {
        let oidc = "http://127.0.0.1:4002"
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc]) { request in
            switch request.url {
            case oidc + "/client/register":
                return STSAnswers.json(200, #"{"clientId": "device-client", "clientSecret": "cs", "clientSecretExpiresAt": 1900000000}"#)
            case oidc + "/device_authorization":
                return STSAnswers.json(200, #"{"deviceCode": "dc", "userCode": "ABCD", "verificationUri": "https://d/", "interval": 1}"#)
            default:
                return STSAnswers.json(200, #"{"accessToken": "at", "expiresIn": 28800}"#)
            }
        }
        let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                    sessionName: "corp", profile: nil)
        let cache = fixture.path + "/.aws/sso/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])  // whatever the umask
        try Data(#"{"clientId": "code-client", "clientSecret": "x", "expiresAt": "2030-01-01T00:00:00Z", "scopes": ["sso:account:access"], "grantTypes": ["authorization_code", "refresh_token"]}"#.utf8)
            .write(to: URL(fileURLWithPath: cache + "/" + IdentityCenterLogin.registrationFileName(target)))
        chmod(cache + "/" + IdentityCenterLogin.registrationFileName(target), 0o600)  // as the CLI writes it
        try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { _, _ in }
        let registers = fixture.transport.requests.filter { $0.url.hasSuffix("/client/register") }
        #expect(registers.count == 1)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(registers[0].body)) as? [String: Any])
        #expect(body["grantTypes"] == nil && body["redirectUris"] == nil)
        let start = try #require(fixture.transport.requests.first { $0.url.hasSuffix("/device_authorization") })
        #expect(String(decoding: start.body, as: UTF8.self).contains("device-client"))
    }
}

