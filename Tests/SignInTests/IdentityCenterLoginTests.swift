import Foundation
import Testing

import AWSConfig
@testable import Credentials
import StscacheSupport
import TestSupport
import Transport
@testable import SignIn

@Suite("IAM Identity Center: stscache login")
struct IdentityCenterLoginTests {
    static let config = [IdentityCenterConfig.corpSessionWithScopes, IdentityCenterConfig.devProfile,
                         IdentityCenterConfig.legacyProfile].joined(separator: "\n")

    @Test("the registration file has the CLI's name (SHA-1 of json.dumps(sort_keys=True), unset members null)")
    func registrationName() throws {
        let files = try loadFiles(config: Self.config + "\n[sso-session plain]\nsso_start_url = https://corp.awsapps.com/start\n"
            + "sso_region = eu-west-1\n")
        let session = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: "corp", profile: nil)
        // Values from Python, as aws-cli's _registration_cache_key computes them:
        // hashlib.sha1(json.dumps({'tool': 'botocore', 'startUrl': ..., 'region': ..., 'scopes': ...,
        //                          'session_name': ...}, sort_keys=True).encode()).hexdigest()
        #expect(IdentityCenterLogin.registrationFileName(session) == "992a5213b6d50e28005ac5eca0f5ea17f709eb3a.json")
        let legacy = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: nil, profile: "old")
        #expect(legacy.sessionName == nil && legacy.scopes == nil)
        // scopes None, session_name None
        #expect(IdentityCenterLogin.registrationFileName(legacy) == "3a62fc7fd3ab838419eccab5b58d0124a95b510d.json")
        // scopes None, session_name 'plain'
        let plain = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: "plain", profile: nil)
        #expect(plain.scopes == nil)
        #expect(IdentityCenterLogin.registrationFileName(plain) == "d43a4a8e835c87f7d1af58d7c19e0d2d689e985d.json")
        #expect(IdentityCenterLogin.jsonString("é\"\n") == #""\u00e9\"\n""#)
    }

    @Test("--profile follows the profile's sso_session; unknown names are usage errors")
    func targets() throws {
        let files = try loadFiles(config: Self.config)
        let viaProfile = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: nil, profile: "dev")
        #expect(viaProfile.sessionName == "corp")
        #expect(viaProfile.scopes == ["sso:account:access", "other:scope"])
        #expect(throws: UsageError.self) {
            _ = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: "nope", profile: nil)
        }
        #expect(throws: UsageError.self) {
            _ = try IdentityCenterLogin.target(files: files, environment: [:], sessionName: nil, profile: "nope")
        }
    }

    @Test("device code flow: pending, slow down, then the token is written where the CLI reads it")
    func deviceFlow() throws {
        let oidc = "http://127.0.0.1:4002"
        let polls = Counter()
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc]) { request in
            let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
            switch request.url {
            case oidc + "/client/register":
                return STSAnswers.json(200, #"{"clientId": "cid", "clientSecret": "csecret", "clientSecretExpiresAt": 1900000000}"#)
            case oidc + "/device_authorization":
                return STSAnswers.json(200, """
                    {"deviceCode": "dc", "userCode": "ABCD-EFGH", "verificationUri": "https://device.sso.eu-west-1.amazonaws.com/",
                     "verificationUriComplete": "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH",
                     "expiresIn": 600, "interval": 1}
                    """)
            case oidc + "/token":
                #expect(body["grantType"] as? String == "urn:ietf:params:oauth:grant-type:device_code")
                #expect(body["deviceCode"] as? String == "dc")
                switch polls.next() {
                case 1: return .success(HTTPResponse(status: 400, headers: [("x-amzn-ErrorType", "AuthorizationPendingException")]))
                case 2: return .success(HTTPResponse(status: 400, headers: [("x-amzn-ErrorType", "SlowDownException")]))
                default: return STSAnswers.json(200, #"{"accessToken": "at", "expiresIn": 28800, "refreshToken": "rt"}"#)
                }
            default: return nil
            }
        }
        let files = try loadFiles(config: Self.config)
        let target = try IdentityCenterLogin.target(files: files, environment: fixture.environment, sessionName: "corp", profile: nil)
        var shown: [String] = []
        try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { url, code in
            shown = [url, code ?? "none"]
        }
        #expect(shown == ["https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH", "ABCD-EFGH"])
        let register = try #require(fixture.transport.requests.first)
        let registerBody = try #require(try JSONSerialization.jsonObject(with: Data(register.body)) as? [String: Any])
        #expect(registerBody["scopes"] as? [String] == ["sso:account:access", "other:scope"])
        #expect(registerBody["clientType"] as? String == "public")
        let tokenPath = fixture.path + "/.aws/sso/cache/" + IdentityCenterToken.fileName(forKey: "corp")
        let token = try IdentityCenterToken.parse(Array(try Data(contentsOf: URL(fileURLWithPath: tokenPath)))).get()
        #expect(token.accessToken == "at" && token.refreshToken == "rt" && token.clientSecret == "csecret")
        #expect(token.expiresAt == SourcesFixture.now + 28800)
        #expect(token.canRefresh(now: SourcesFixture.now))
        #expect(fixture.transport.requests.filter { $0.url.hasSuffix("/token") }.count == 3)
        // As the CLI writes them: 0600 files in a 0700 directory, its members, its timestamps.
        let cache = fixture.path + "/.aws/sso/cache"
        #expect(try FileSystem.linkStatus(cache).get().permissionBits == 0o700)
        let written = try FileManager.default.contentsOfDirectory(atPath: cache).sorted()
        #expect(written.count == 2 && written.allSatisfy { $0.hasSuffix(".json") && !$0.hasPrefix(".") })
        for name in written {
            #expect(try FileSystem.linkStatus(cache + "/" + name).get().permissionBits == 0o600, "\(name)")
        }
        let members = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tokenPath)))
            as? [String: String])
        #expect(Set(members.keys) == ["startUrl", "region", "accessToken", "expiresAt", "clientId", "clientSecret",
                                      "registrationExpiresAt", "refreshToken"])
        #expect(members["expiresAt"] == Timestamps.formatRFC3339(SourcesFixture.now + 28800))
        #expect(members["expiresAt"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)
    }

    @Test("a hostile device authorization (escape in the code, http URL) is refused before anything is shown")
    func hostileAnswer() throws {
        let oidc = "http://127.0.0.1:4002"
        for answer in [
            #"{"deviceCode": "dc", "userCode": "AB\u001b[2J", "verificationUriComplete": "https://x/", "interval": 1}"#,
            #"{"deviceCode": "dc", "userCode": "ABCD", "verificationUriComplete": "http://evil.example/", "interval": 1}"#,
            #"{"deviceCode": "dc", "userCode": "ABCD", "verificationUriComplete": "http://127.0.0.1.evil.example/", "interval": 1}"#,
        ] {
            let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc]) { request in
                request.url.hasSuffix("/client/register")
                    ? STSAnswers.json(200, #"{"clientId": "cid", "clientSecret": "cs", "clientSecretExpiresAt": 1900000000}"#)
                    : STSAnswers.json(200, answer)
            }
            let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                        sessionName: "corp", profile: nil)
            var shown = false
            #expect(throws: IdentityCenterError.self) {
                try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { _, _ in shown = true }
            }
            #expect(!shown)
        }
    }

    /// An OIDC that would register a client and approve the device at once.
    static func approvingOIDC(_ oidc: String) -> RoutedTransport.Route {
        { request in
            switch request.url {
            case oidc + "/client/register":
                return STSAnswers.json(200, #"{"clientId": "cid", "clientSecret": "cs", "clientSecretExpiresAt": 1900000000}"#)
            case oidc + "/device_authorization":
                return STSAnswers.json(200, #"{"deviceCode": "dc", "userCode": "ABCD", "verificationUri": "https://d/", "interval": 1}"#)
            default:
                return STSAnswers.json(200, #"{"accessToken": "at", "expiresIn": 28800, "refreshToken": "rt"}"#)
            }
        }
    }

    @Test("a client registration file others could write is refused before anything is sent; chmod 600 fixes it")
    func plantedRegistration() throws {
        let oidc = "http://127.0.0.1:4002"
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc], route: Self.approvingOIDC(oidc))
        let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                    sessionName: "corp", profile: nil)
        let cache = fixture.path + "/.aws/sso/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])  // whatever the umask
        let file = cache + "/" + IdentityCenterLogin.registrationFileName(target)
        try Data(#"{"clientId": "planted", "clientSecret": "x", "expiresAt": "2030-01-01T00:00:00Z"}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        #expect(chmod(file, 0o666) == 0)
        let error = #expect(throws: IdentityCenterError.self) {
            try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { _, _ in }
        }
        #expect(error?.code == .insecureTokenCache)
        #expect(error?.message.contains("the Identity Center client registration file \(file) has mode 0666") == true)
        #expect(error?.message.contains("chmod 600 \(file)") == true)
        #expect(fixture.transport.requests.isEmpty)

        #expect(chmod(file, 0o600) == 0)
        try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { _, _ in }
        let start = try #require(fixture.transport.requests.first)
        #expect(start.url.hasSuffix("/device_authorization") && String(decoding: start.body, as: UTF8.self).contains("planted"))
    }

    @Test("a login over another user's token file is refused before anything is sent")
    func otherUsersTokenFile() throws {
        let oidc = "http://127.0.0.1:4002"
        let fixture = try SourcesFixture(environment: ["AWS_ENDPOINT_URL_SSO_OIDC": oidc], route: Self.approvingOIDC(oidc))
        let target = try IdentityCenterLogin.target(files: try loadFiles(config: Self.config), environment: fixture.environment,
                                                    sessionName: "corp", profile: nil)
        let cache = fixture.path + "/.aws/sso/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])  // whatever the umask
        let file = cache + "/" + IdentityCenterToken.fileName(forKey: "corp")
        try Data(#"{"accessToken": "theirs", "expiresAt": "2030-01-01T00:00:00Z"}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(chmod(file, 0o600) == 0 && chown(file, 65534, 65534) == 0)
        let error = #expect(throws: IdentityCenterError.self) {
            try IdentityCenterLogin(context: fixture.context()).run(target, flow: .deviceCode) { _, _ in }
        }
        #expect(error?.code == .insecureTokenCache)
        #expect(error?.message.contains("\(file) is owned by uid 65534") == true)
        #expect(error?.message.contains("remove it") == true)
        #expect(fixture.transport.requests.isEmpty)
    }
}
