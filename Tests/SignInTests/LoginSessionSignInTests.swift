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

@Suite("aws login profiles: the sign-in's pieces")
struct LoginSessionSignInTests {
    static let rfcVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    @Test("S256: RFC 7636 appendix B's verifier gives its challenge")
    func rfcVector() {
        let authorization = LoginSessionSignIn.Authorization(verifier: Self.rfcVerifier, state: "s")
        #expect(authorization.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    @Test("each sign-in gets a new 64-character verifier and a random version 4 UUID as its state")
    func generated() throws {
        var states = Set<String>()
        for _ in 0..<100 {
            let authorization = try LoginSessionSignIn.Authorization.generate()
            #expect(authorization.verifier.count == 64)
            let state = authorization.state
            #expect(state.count == 36 && state.lowercased() == state, "\(state)")
            let groups = state.split(separator: "-").map(\.count)
            #expect(groups == [8, 4, 4, 4, 12] && state.dropFirst(14).first == "4"
                    && "89ab".contains(state.dropFirst(19).first ?? "x"))
            states.insert(state)
        }
        #expect(states.count == 100)
    }

    @Test("the authorize URL is the CLI's, byte for byte, for both devices")
    func authorizeURL() {
        let authorization = LoginSessionSignIn.Authorization(verifier: Self.rfcVerifier,
                                                             state: "0f8e5a3c-2d4b-4c6a-9e1f-3a5b7c9d1e2f")
        let base = "https://us-east-1.signin.aws.amazon.com"
        #expect(authorization.url(base: base, device: .same, redirect: LoginSessionSignIn.redirect(.same, base: base, port: 53682))
            == "https://us-east-1.signin.aws.amazon.com/v1/authorize?response_type=code"
            + "&client_id=arn%3Aaws%3Asignin%3A%3A%3Adevtools%2Fsame-device&state=0f8e5a3c-2d4b-4c6a-9e1f-3a5b7c9d1e2f"
            + "&code_challenge_method=SHA-256&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Foauth%2Fcallback"
            + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(authorization.url(base: base, device: .cross, redirect: LoginSessionSignIn.redirect(.cross, base: base, port: 0))
            == "https://us-east-1.signin.aws.amazon.com/v1/authorize?response_type=code"
            + "&client_id=arn%3Aaws%3Asignin%3A%3A%3Adevtools%2Fcross-device&state=0f8e5a3c-2d4b-4c6a-9e1f-3a5b7c9d1e2f"
            + "&code_challenge_method=SHA-256&scope=openid"
            + "&redirect_uri=https%3A%2F%2Fus-east-1.signin.aws.amazon.com%2Fv1%2Fsessions%2Fconfirmation"
            + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }

    static func pasted(_ query: String) -> String { Data(query.utf8).base64EncodedString() }

    @Test("a pasted code is taken only with this sign-in's state; what was pasted is never echoed")
    func pastedCode() throws {
        let authorization = LoginSessionSignIn.Authorization(verifier: "v", state: "the-state")
        #expect(try authorization.pastedCode(Self.pasted("state=the-state&code=the-code")) == "the-code")
        #expect(try authorization.pastedCode("  " + Self.pasted("code=c%2B1&state=the-state") + "\r") == "c+1")
        // Without padding, as a terminal selection may lose it.
        let unpadded = Self.pasted("state=the-state&code=abcd").replacingOccurrences(of: "=", with: "")
        #expect(try authorization.pastedCode(unpadded) == "abcd")
        for (text, phrase) in [(Self.pasted("state=another&code=forged-code"), "another sign-in"),
                               (Self.pasted("state=the-stat&code=forged-code"), "another sign-in"),
                               (Self.pasted("code=forged-code"), "another sign-in"),
                               (Self.pasted("state=the-state&state=the-state&code=forged-code"), "another sign-in"),
                               (Self.pasted("state=the-state"), "no usable"),
                               (Self.pasted("state=the-state&code=a%0Ab"), "no usable"),
                               ("state=the-state&code=forged-code", "not a Sign-In authorization code"),
                               ("forged-code!", "not a Sign-In authorization code"), ("", "no authorization code")] {
            let error = #expect(throws: LoginFlowError.self) { try authorization.pastedCode(text) }
            #expect(error?.message.contains(phrase) == true, "\(text): \(error?.message ?? "")")
            #expect(error?.message.contains("forged") == false)
        }
    }

    static func idToken(_ claims: String) -> String {
        func part(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        return part(#"{"alg":"ES256","typ":"JWT"}"#) + "." + part(claims) + ".c2ln"
    }

    @Test("login_session is the id token's sub, taken only when it is an IAM or STS identity ARN")
    func identity() throws {
        let user = try LoginSessionSignIn.identity(idToken: Self.idToken(#"{"sub":"arn:aws:iam::123456789012:user/alice","aud":"x"}"#))
        #expect(user == .init(arn: "arn:aws:iam::123456789012:user/alice", accountId: "123456789012"))
        for good in ["arn:aws:iam::123456789012:root", "arn:aws-cn:iam::123456789012:user/team/bob+ops@corp.example",
                     "arn:aws:sts::123456789012:assumed-role/Admin/carol@example.com",
                     "arn:aws-us-gov:iam::123456789012:user/dave"] {
            #expect(LoginSessionSignIn.parseIdentityARN(good)?.arn == good, "\(good)")
        }
        for bad in ["arn:aws:iam::123456789012:user/alice\nregion = evil", "arn:aws:iam::123456789012:user/a;b",
                    "arn:aws:iam::12345678901:user/alice", "arn:aws:iam:us-east-1:123456789012:user/alice",
                    "arn:aws:iam::123456789012:role/Admin", "arn:aws:s3:::bucket", "arn:AWS:iam::123456789012:root",
                    "arn:aws:iam::123456789012:user/", "arn:aws:sts::123456789012:assumed-role/Admin",
                    "arn:aws:iam::123456789012:user/../../etc", "arn:aws:iam::123456789012:user//x", "../../etc/passwd", "", "arn:aws:iam::123456789012:user/a b",
                    "arn:aws:iam::123456789012:user/\u{1b}[2J"] {
            #expect(LoginSessionSignIn.parseIdentityARN(bad) == nil, "\(bad)")
        }
        for (token, phrase) in [(Self.idToken(#"{"sub":"arn:aws:iam::123456789012:user/a\nb"}"#), "not the ARN"),
                                (Self.idToken(#"{"aud":"x"}"#), "without a subject"),
                                (Self.idToken(#"{"sub":7}"#), "without a subject"),
                                ("not-a-jwt", "not a JSON Web Token"), ("a.%%%.c", "not a JSON Web Token"),
                                (Self.idToken("[1]"), "not a JSON Web Token")] {
            let error = #expect(throws: LoginFlowError.self) { try LoginSessionSignIn.identity(idToken: token) }
            #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "")")
            #expect(error?.code == .refused)
        }
    }

    @Test("the redirect ends with this sign-in's state on the expected path only, and takes one request")
    func redirectServer() throws {
        let authorization = LoginSessionSignIn.Authorization(verifier: "v", state: "0f8e5a3c-2d4b-4c6a-9e1f-3a5b7c9d1e2f")
        let wait = try RedirectWait(flow: authorization.redirectCheck, deadline: monotonicSeconds() + 10)
        let state = authorization.state
        for (target, status) in [("/callback?code=forged&state=\(state)", "404"), ("/oauth/callback/?code=forged&state=\(state)", "404"),
                                 ("/oauth/callback?code=forged&state=other", "400"), ("/oauth/callback?code=forged", "400")] {
            let page = try AuthorizationCodeTests.get(port: wait.port, target: target)
            #expect(page.hasPrefix("HTTP/1.1 \(status) "), "\(target): \(page.prefix(40))")
            #expect(!page.contains("forged"))
        }
        let page = try AuthorizationCodeTests.get(port: wait.port, target: "/oauth/callback?code=the-code&state=\(state)")
        #expect(page.hasPrefix("HTTP/1.1 200 "))
        #expect(wait.wait() == .code("the-code"))
        // The one request that ended it was the last: the port is closed.
        let second = timedLoopbackExchange(port: wait.port, "GET /oauth/callback?code=second&state=\(state) HTTP/1.1\r\n\r\n",
                                           timeout: 1)
        #expect(second.answer.isEmpty)
    }

    @Test("the redirect gives up at its deadline with nothing")
    func redirectDeadline() throws {
        let authorization = LoginSessionSignIn.Authorization(verifier: "v", state: "s")
        // Long enough that the request with the wrong state gets there first on a loaded machine.
        let wait = try RedirectWait(flow: authorization.redirectCheck, deadline: monotonicSeconds() + 2)
        _ = try AuthorizationCodeTests.get(port: wait.port, target: "/oauth/callback?code=x&state=wrong")
        #expect(wait.wait() == nil)
    }
}

@Suite("aws login profiles: which profile, which region, which endpoint, and the profile written")
struct LoginSessionTargetTests {
    static let config = """
        [default]
        region = eu-west-1

        [profile console]
        login_session = arn:aws:iam::123456789012:user/alice
        region = eu-central-1

        [profile fresh]
        output = json

        [profile corp]
        sso_session = corp
        sso_account_id = 111111111111
        sso_role_name = Admin

        [profile role]
        role_arn = arn:aws:iam::123456789012:role/R
        source_profile = default

        [profile custom]
        region = us-west-2
        services = local

        [services local]
        signin =
          endpoint_url = http://127.0.0.1:4999/some/path

        [sso-session corp]
        sso_start_url = https://corp.awsapps.com/start
        sso_region = eu-west-1
        """

    @Test("the kind of a profile: login_session, nothing, Identity Center, or other credentials (named as the CLI does)")
    func kinds() throws {
        let files = try loadFiles(config: Self.config, credentials: "[keys]\naws_access_key_id = AKIAEXAMPLE\n")
        #expect(LoginSessionTarget.kind(of: files.profile(named: "console")) == .loginSession)
        #expect(LoginSessionTarget.kind(of: files.profile(named: "fresh")) == .loginSession)
        #expect(LoginSessionTarget.kind(of: files.profile(named: "missing")) == .loginSession)
        #expect(LoginSessionTarget.kind(of: files.profile(named: "corp")) == .identityCenter)
        #expect(LoginSessionTarget.kind(of: files.profile(named: "role")) == .other("Assume Role"))
        #expect(LoginSessionTarget.kind(of: files.profile(named: "keys")) == .other("Access Key"))
    }

    @Test("region: --region, then the profile's, then the environment; saved only from --region into a profile without one")
    func regions() throws {
        let files = try loadFiles(config: Self.config)
        let console = try LoginSessionTarget.resolve(files: files, environment: [:], profile: "console", region: nil)
        #expect(console.region == "eu-central-1" && console.regionToSave == nil)
        #expect(console.base == "https://eu-central-1.signin.aws.amazon.com")
        #expect(console.existingSession == "arn:aws:iam::123456789012:user/alice")
        let flagged = try LoginSessionTarget.resolve(files: files, environment: ["AWS_REGION": "us-east-2"], profile: "fresh",
                                                     region: "cn-north-1")
        #expect(flagged.region == "cn-north-1" && flagged.regionToSave == "cn-north-1")
        #expect(flagged.base == "https://cn-north-1.signin.amazonaws.cn")
        let fromEnvironment = try LoginSessionTarget.resolve(files: files, environment: ["AWS_DEFAULT_REGION": "us-gov-west-1"],
                                                             profile: "new", region: nil)
        #expect(fromEnvironment.region == "us-gov-west-1" && fromEnvironment.regionToSave == nil)
        #expect(fromEnvironment.base == "https://us-gov-west-1.signin.amazonaws-us-gov.com")
        let none = #expect(throws: LoginFlowError.self) {
            try LoginSessionTarget.resolve(files: files, environment: [:], profile: "fresh", region: nil)
        }
        #expect(none?.message.contains("--region") == true)
        let bad = #expect(throws: LoginFlowError.self) {
            try LoginSessionTarget.resolve(files: files, environment: [:], profile: "fresh", region: "x@evil.example/")
        }
        #expect(bad?.message.contains("not a region name") == true)
        let role = #expect(throws: LoginFlowError.self) {
            try LoginSessionTarget.resolve(files: files, environment: [:], profile: "role", region: "us-east-1")
        }
        #expect(role?.message.contains("Assume Role credentials") == true)
    }

    @Test("endpoint: AWS_ENDPOINT_URL_SIGNIN, the services section, AWS_ENDPOINT_URL; ignored when told; https or loopback only")
    func endpoints() throws {
        let files = try loadFiles(config: Self.config)
        func base(_ profile: String, _ environment: [String: String]) throws -> String {
            try LoginSessionTarget.resolve(files: files, environment: environment, profile: profile, region: nil).base
        }
        #expect(try base("custom", [:]) == "http://127.0.0.1:4999")
        #expect(try base("custom", ["AWS_ENDPOINT_URL_SIGNIN": "https://signin.example.com:8443/x"])
            == "https://signin.example.com:8443")
        #expect(try base("console", ["AWS_ENDPOINT_URL": "http://localhost:5000"]) == "http://localhost:5000")
        #expect(try base("custom", ["AWS_ENDPOINT_URL_SIGNIN": "https://signin.example.com",
                                    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) == "https://us-west-2.signin.aws.amazon.com")
        for url in ["http://signin.example.com", "ftp://127.0.0.1", "https://a b", "http://127.0.0.1.evil.example"] {
            let error = #expect(throws: LoginFlowError.self) { try base("console", ["AWS_ENDPOINT_URL_SIGNIN": url]) }
            #expect(error?.message.contains("not an https URL") == true, "\(url)")
        }
        let userInfo = #expect(throws: LoginFlowError.self) {
            try base("console", ["AWS_ENDPOINT_URL_SIGNIN": "https://user@signin.example.com"])
        }
        #expect(userInfo?.message.contains("user information") == true)
    }

    @Test("login_session is added to the profile's section, every other byte kept; a missing section or file is made")
    func profileEdit() throws {
        let arn = "arn:aws:iam::123456789012:user/alice"
        let original = Array("# mine\n[default]\nregion = eu-west-1\n\n[profile fresh]\noutput = json\n; trailing comment\n".utf8)
        let edited = try #require(LoginSessionProfileEdit.edited(original, profile: "fresh",
                                                             values: [("login_session", arn), ("region", "us-east-1")]))
        #expect(String(decoding: edited, as: UTF8.self) == "# mine\n[default]\nregion = eu-west-1\n\n[profile fresh]\noutput = json\n"
            + "login_session = \(arn)\nregion = us-east-1\n; trailing comment\n")
        // Already there with that value: nothing to write.
        #expect(LoginSessionProfileEdit.edited(edited, profile: "fresh", values: [("login_session", arn)]) == nil)
        let other = try #require(LoginSessionProfileEdit.edited(original, profile: "default", values: [("login_session", arn)]))
        #expect(String(decoding: other, as: UTF8.self).hasPrefix("# mine\n[default]\nregion = eu-west-1\nlogin_session = \(arn)\n\n"))
        let added = try #require(LoginSessionProfileEdit.edited(Array("[default]\r\nregion = x".utf8), profile: "new",
                                                            values: [("login_session", arn)]))
        #expect(String(decoding: added, as: UTF8.self) == "[default]\r\nregion = x\r\n\r\n[profile new]\r\nlogin_session = \(arn)\r\n")
        let fromNothing = try #require(LoginSessionProfileEdit.edited(nil, profile: "new", values: [("login_session", arn)]))
        #expect(String(decoding: fromNothing, as: UTF8.self) == "[profile new]\nlogin_session = \(arn)\n")
        // And through the writer: a new file is 0600 (its directory made 0700).
        let directory = try TemporaryDirectory()
        let path = directory.sub("aws/config")
        try LoginSessionProfileEdit.update(configPath: path, profile: "new", values: [("login_session", arn)])
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "[profile new]\nlogin_session = \(arn)\n")
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(directory.sub("aws"), &info) == 0 && info.st_mode & 0o777 == 0o700)
    }
}

@Suite("aws login profiles: stscache login against a fake Sign-In")
struct LoginSessionLoginTests {
    static let base = "http://127.0.0.1:4003"
    static let arn = "arn:aws:iam::123456789012:user/alice"

    /// A Sign-In token endpoint that fails closed: CreateOAuth2Token only with the grant, the
    /// client id, the redirect, a verifier whose S256 is the challenge the URL showed, and a DPoP
    /// proof signed by the key in its header for this URL.
    final class FakeToken: @unchecked Sendable {
        let challenges = Locked<[String]>([])
        let keys = Locked<[String]>([])
        var subject = LoginSessionLoginTests.arn

        func answer(_ request: HTTPRequest) -> Result<HTTPResponse, TransportError>? {
            guard request.url == LoginSessionLoginTests.base + "/v1/token" else { return nil }
            let refuse = STSAnswers.json(400, #"{"error": "INVALID_REQUEST", "message": "no"}"#)
            guard let body = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: String],
                  body["grantType"] == "authorization_code", body["code"] == "the-code",
                  let verifier = body["codeVerifier"], challenges.value.last == AuthorizationCode.challenge(for: verifier),
                  let proof = request.headers.first(where: { $0.name == "DPoP" })?.value
            else { return refuse }
            let parts = proof.split(separator: ".").map(String.init)
            guard parts.count == 3, let header = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]),
                  let signature = Base64URL.decode(parts[2]),
                  let jose = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any],
                  let jwk = jose["jwk"] as? [String: String], let x = jwk["x"].flatMap(Base64URL.decode),
                  let y = jwk["y"].flatMap(Base64URL.decode),
                  ES256.verify(x: x, y: y, message: Array((parts[0] + "." + parts[1]).utf8), signature: signature),
                  let claims = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
                  claims["htu"] as? String == request.url, claims["htm"] as? String == "POST"
            else { return refuse }
            keys.value.append((jwk["x"] ?? "") + "." + (jwk["y"] ?? ""))
            let idToken = LoginSessionSignInTests.idToken(#"{"sub":"\#(subject)"}"#)
            return STSAnswers.json(200, #"{"accessToken":{"accessKeyId":"ASIALOGINFLOW0001","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLETOKEN"},"tokenType":"aws_sigv4","expiresIn":900,"refreshToken":"rt-new","idToken":"\#(idToken)"}"#)
        }
    }

    static func fixture(_ fake: FakeToken, config: String = "[profile console]\nregion = us-east-1\n") throws -> SourcesFixture {
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SIGNIN": base]) { fake.answer($0) }
        try FileManager.default.createDirectory(atPath: fixture.path + "/.aws", withIntermediateDirectories: true)
        _ = try fixture.write(".aws/config", config)
        return fixture
    }

    static func target(_ fixture: SourcesFixture) throws -> LoginSessionTarget {
        let files = try ConfigFiles.load(configPath: fixture.path + "/.aws/config", credentialsPath: fixture.path + "/none")
        return try LoginSessionTarget.resolve(files: files, environment: fixture.environment, profile: "console", region: nil)
    }

    static func sessionPath(_ fixture: SourcesFixture) -> String {
        fixture.path + "/.aws/login/cache/" + LoginSessionFile.fileName(forSession: arn)
    }

    @Test("same device: the browser's redirect, CreateOAuth2Token with the verifier and a proof of a new key, the CLI's file")
    func sameDevice() throws {
        let fake = FakeToken()
        let fixture = try Self.fixture(fake)
        let browser = AuthorizationCodeTests.Browser()
        let identity = try LoginSessionLogin(context: fixture.context()).run(
            try Self.target(fixture), device: .same,
            show: { url in
                #expect(url.hasPrefix(Self.base + "/v1/authorize?response_type=code&client_id=arn%3Aaws%3Asignin"))
                fake.challenges.value.append(URLComponents(string: url)?.queryItems?.first { $0.name == "code_challenge" }?.value ?? "")
                browser.open(url, strays: [(code: "forged", state: "guessed", path: "/oauth/callback")], code: "the-code")
            }, pastedCode: { () throws(LoginFlowError) -> String in Issue.record("no paste on the same device"); return "" })
        while !(browser.thread?.isFinished ?? true) { usleep(1000) }
        #expect(identity == .init(arn: Self.arn, accountId: "123456789012"))
        #expect(browser.pages.first?.hasPrefix("HTTP/1.1 400") == true)

        let path = Self.sessionPath(fixture)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let file = try LoginSessionFile.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).get()
        #expect(file.clientId == "arn:aws:signin:::devtools/same-device" && file.refreshToken == "rt-new")
        #expect(file.accountId == "123456789012" && file.signInRegion == "us-east-1")
        #expect(file.credentials.expiration == SourcesFixture.now.addingTimeInterval(900))
        // The key in the file is the one the proof was signed with.
        let key = try #require(file.signingKey())
        let (x, y) = key.publicCoordinates
        #expect(fake.keys.value == [Base64URL.encode(x) + "." + Base64URL.encode(y)])
        #expect(try String(contentsOfFile: fixture.path + "/.aws/config", encoding: .utf8)
            == "[profile console]\nregion = us-east-1\nlogin_session = \(Self.arn)\n")

        // A second login makes a new key.
        let again = AuthorizationCodeTests.Browser()
        _ = try LoginSessionLogin(context: fixture.context()).run(try Self.target(fixture), device: .same, show: { url in
            fake.challenges.value.append(URLComponents(string: url)?.queryItems?.first { $0.name == "code_challenge" }?.value ?? "")
            again.open(url, strays: [], code: "the-code")
        }, pastedCode: { () throws(LoginFlowError) -> String in "" })
        while !(again.thread?.isFinished ?? true) { usleep(1000) }
        #expect(Set(fake.keys.value).count == 2)
    }

    @Test("another device: the pasted code with this sign-in's state; another state sends nothing and writes nothing")
    func crossDevice() throws {
        let fake = FakeToken()
        let fixture = try Self.fixture(fake)
        var state = ""
        let show = { (url: String) in
            #expect(url.contains("client_id=arn%3Aaws%3Asignin%3A%3A%3Adevtools%2Fcross-device"))
            #expect(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A4003%2Fv1%2Fsessions%2Fconfirmation"))
            let items = URLComponents(string: url)?.queryItems ?? []
            fake.challenges.value.append(items.first { $0.name == "code_challenge" }?.value ?? "")
            state = items.first { $0.name == "state" }?.value ?? ""
        }
        let error = #expect(throws: LoginFlowError.self) {
            try LoginSessionLogin(context: fixture.context()).run(try Self.target(fixture), device: .cross, show: show,
                pastedCode: { () throws(LoginFlowError) -> String in
                    LoginSessionSignInTests.pasted("state=5a0c6f0e-0000-4000-8000-000000000000&code=the-code") })
        }
        #expect(error?.message.contains("another sign-in") == true)
        #expect(fixture.transport.requests.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: Self.sessionPath(fixture)))

        _ = try LoginSessionLogin(context: fixture.context()).run(try Self.target(fixture), device: .cross, show: show,
            pastedCode: { () throws(LoginFlowError) -> String in LoginSessionSignInTests.pasted("state=\(state)&code=the-code") })
        let body = try #require(try JSONSerialization.jsonObject(with: Data(fixture.transport.requests[0].body)) as? [String: String])
        #expect(body["redirectUri"] == Self.base + "/v1/sessions/confirmation")
        #expect(body["clientId"] == "arn:aws:signin:::devtools/cross-device")
        #expect(FileManager.default.fileExists(atPath: Self.sessionPath(fixture)))
    }

    @Test("an id token naming something else, or another identity than the profile's, saves nothing")
    func refusedIdentities() throws {
        for (subject, config, phrase) in [
            ("arn:aws:iam::123456789012:user/alice\\nregion = evil", "[profile console]\nregion = us-east-1\n", "not the ARN"),
            ("arn:aws:iam::123456789012:user/bob", "[profile console]\nregion = us-east-1\nlogin_session = \(Self.arn)\n",
             "has login_session = \(Self.arn)"),
        ] {
            let fake = FakeToken()
            fake.subject = subject
            let fixture = try Self.fixture(fake, config: config)
            var state = ""
            let error = #expect(throws: LoginFlowError.self) {
                try LoginSessionLogin(context: fixture.context()).run(try Self.target(fixture), device: .cross, show: { url in
                    let items = URLComponents(string: url)?.queryItems ?? []
                    fake.challenges.value.append(items.first { $0.name == "code_challenge" }?.value ?? "")
                    state = items.first { $0.name == "state" }?.value ?? ""
                }, pastedCode: { () throws(LoginFlowError) -> String in LoginSessionSignInTests.pasted("state=\(state)&code=the-code") })
            }
            #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("evil") == false)
            #expect(fixture.transport.requests.count == 1)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: fixture.path + "/.aws/login/cache")) ?? [] == [])
            #expect(try String(contentsOfFile: fixture.path + "/.aws/config", encoding: .utf8) == config)
        }
    }

    @Test("Sign-In's refusals of the code name the fix")
    func refusals() {
        func refused(_ error: String) -> String {
            LoginSessionLogin.failure(SignInTokenClient.Refused(status: 400, errorType: "AccessDeniedException", error: error)).message
        }
        #expect(refused("AUTHCODE_EXPIRED").contains("expired before it was used"))
        #expect(refused("INSUFFICIENT_PERMISSIONS").contains("SignInLocalDevelopmentAccess"))
        #expect(refused("OTHER").contains("refused the sign-in's code (AccessDeniedException, OTHER)"))
    }

    @Test("STSCACHE_NONINTERACTIVE=1 refuses before anything is shown or sent")
    func nonInteractive() throws {
        let fake = FakeToken()
        let fixture = try Self.fixture(fake)
        fixture.environment["STSCACHE_NONINTERACTIVE"] = "1"
        let error = #expect(throws: LoginFlowError.self) {
            try LoginSessionLogin(context: fixture.context()).run(try Self.target(fixture), device: .same,
                show: { _ in Issue.record("shown") }, pastedCode: { () throws(LoginFlowError) -> String in "" })
        }
        #expect(error?.code == .noPerson)
        #expect(fixture.transport.requests.isEmpty)
    }
}
