import Foundation
import Testing

import AWSConfig
import CredentialCache
import OpenSSLCrypto
import StscacheSupport
@testable import Credentials
import TestSupport
import Transport

private let sessionConfig = IdentityCenterConfig.corpSessionWithScopes + "\n" + IdentityCenterConfig.devProfile
    + "\nregion = us-east-2"

private func resolve(_ profile: String, config: String, environment: [String: String] = [:]) throws -> RoleProfile {
    let files = try loadFiles(config: config)
    return try ProfileResolver.resolve(profile: profile, files: files, environment: environment, userName: "alice")
}

private func settings(_ role: RoleProfile) -> IdentityCenterSettings? {
    if case .identityCenter(let settings) = role.source { return settings }
    return nil
}

@Suite("IAM Identity Center: profiles")
struct IdentityCenterProfileTests {
    @Test("an sso-session profile takes start URL, region and scopes from its session")
    func sessionProfile() throws {
        let role = try resolve("dev", config: sessionConfig)
        let sso = try #require(settings(role))
        #expect(sso == IdentityCenterSettings(
            profile: "dev", startURL: "https://corp.awsapps.com/start", region: "eu-west-1", accountId: "111122223333",
            roleName: "Developer", sessionName: "corp", registrationScopes: ["sso:account:access", "other:scope"]))
        #expect(sso.loginCommand == "stscache login --sso-session corp (or aws sso login --sso-session corp)")
        #expect(sso.tokenCacheKeyInput == "corp")
        #expect(role.roleArn == "arn:aws:iam::111122223333:role/Developer")
    }

    @Test("a legacy profile has start URL and region inline, and logs in by profile")
    func legacyProfile() throws {
        let role = try resolve("old", config: """
            [profile old]
            sso_start_url = https://corp.awsapps.com/start
            sso_region = us-east-1
            sso_account_id = 111122223333
            sso_role_name = ReadOnly
            """)
        let sso = try #require(settings(role))
        #expect(sso.sessionName == nil)
        #expect(sso.tokenCacheKeyInput == "https://corp.awsapps.com/start")
        #expect(sso.loginCommand == "stscache login --profile old (or aws sso login --profile old)")
    }

    @Test("role_arn wins over sso_* (botocore's AssumeRoleProvider comes first)")
    func roleArnWins() throws {
        let role = try resolve("both", config: sessionConfig + """

            [profile both]
            role_arn = arn:aws:iam::111122223333:role/Other
            source_profile = dev
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Developer
            """)
        #expect(role.roleArn == "arn:aws:iam::111122223333:role/Other")
        // Its own sso_* settings are ignored; its source_profile is an SSO profile (chaining).
        guard case .role(let source) = role.source else { Issue.record("expected a chained source"); return }
        #expect(settings(source)?.profile == "dev")
        #expect(role.isChained)
    }

    @Test("an SSO profile as source_profile is a chained role source")
    func ssoAsSource() throws {
        let role = try resolve("admin", config: sessionConfig + """

            [profile admin]
            role_arn = arn:aws:iam::444455556666:role/Admin
            source_profile = dev
            """)
        guard case .role(let source) = role.source else { Issue.record("expected .role"); return }
        #expect(settings(source)?.accountId == "111122223333")
        #expect(role.isChained)
    }

    @Test("SSO is resolved before credential_process on a source profile (botocore's chain)")
    func ssoBeforeProcess() throws {
        let role = try resolve("admin", config: sessionConfig + """

            credential_process = /bin/false
            [profile admin]
            role_arn = arn:aws:iam::444455556666:role/Admin
            source_profile = dev
            """)
        guard case .role(let source) = role.source else { Issue.record("expected .role"); return }
        #expect(settings(source) != nil)
    }

    @Test("a key set differently in the profile and its sso-session is an error naming both values")
    func conflict() throws {
        let error = expectConfigError(.ssoSessionConflict) {
            _ = try resolve("dev", config: sessionConfig + "\nsso_region = us-west-2\n")
        }
        #expect(error?.message.contains("sso_region = us-west-2") == true)
        #expect(error?.message.contains("sso_region = eu-west-1") == true)
        // The same value in both is fine (botocore compares values).
        _ = try resolve("dev", config: sessionConfig + "\nsso_region = eu-west-1\n")
    }

    @Test("a secret key set differently in the profile and its sso-session is named with its lines, never its values")
    func secretConflict() throws {
        for key in ["aws_secret_access_key", "aws_session_token", "aws_security_token", "credential_process"] {
            let config = sessionConfig.replacingOccurrences(
                of: "sso_registration_scopes", with: "\(key) = session-secret-value\nsso_registration_scopes")
                + "\n\(key) = profile-secret-value\n"
            let error = expectConfigError(.ssoSessionConflict) { _ = try resolve("dev", config: config) }
            let message = try #require(error?.message)
            #expect(message.contains("sets \(key), but its sso-session"), "\(message)")
            #expect(message.contains("config:11") && message.contains("(/") && message.contains("config:4)"), "\(message)")
            #expect(!message.contains("secret-value"), "\(message)")
        }
    }

    @Test("an unknown sso-session and missing settings are errors that say what to add")
    func missing() throws {
        let unknown = expectConfigError(.unknownSSOSession) {
            _ = try resolve("dev", config: sessionConfig.replacingOccurrences(of: "[sso-session corp]", with: "[sso-session other]"))
        }
        #expect(unknown?.message.contains("[sso-session corp]") == true)
        let incomplete = expectConfigError(.incompleteSSOProfile) {
            _ = try resolve("p", config: "[profile p]\nsso_account_id = 111122223333\nsso_start_url = https://x\n")
        }
        #expect(incomplete?.message.contains("sso_region, sso_role_name") == true)
        let badAccount = expectConfigError(.invalidSetting) {
            _ = try resolve("dev", config: sessionConfig.replacingOccurrences(of: "111122223333", with: "1111-2222"))
        }
        #expect(badAccount?.message.contains("12-digit") == true)
    }

    @Test("AWS_ENDPOINT_URL_SSO(_OIDC) are picked up unless configured endpoints are ignored")
    func endpoints() throws {
        let environment = ["AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:9/", "AWS_ENDPOINT_URL_SSO_OIDC": "https://oidc.test"]
        let sso = try #require(settings(try resolve("dev", config: sessionConfig, environment: environment)))
        #expect(try IdentityCenterService.portalBase(sso) == "http://127.0.0.1:9")
        #expect(try IdentityCenterService.oidcBase(sso) == "https://oidc.test")
        var ignoring = environment
        ignoring["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
        let plain = try #require(settings(try resolve("dev", config: sessionConfig, environment: ignoring)))
        #expect(try IdentityCenterService.portalBase(plain) == "https://portal.sso.eu-west-1.amazonaws.com")
        #expect(try IdentityCenterService.oidcBase(plain) == "https://oidc.eu-west-1.amazonaws.com")
    }

    @Test("plain http to another host is refused for the portal and OIDC (the token travels there)")
    func insecureEndpoint() throws {
        for url in ["http://10.0.0.1:8080", "http://portal.example.com", "ftp://127.0.0.1", "https://x?y=1"] {
            let sso = try #require(settings(try resolve("dev", config: sessionConfig, environment: ["AWS_ENDPOINT_URL_SSO": url])))
            #expect(throws: IdentityCenterError.self) { _ = try IdentityCenterService.portalBase(sso) }
        }
    }

    @Test("an sso_region that is not a region name never becomes part of a host the token goes to")
    func hostileRegion() throws {
        var sso = try #require(settings(try resolve("dev", config: sessionConfig)))
        for region in ["x@evil.example/", "evil.example#", "eu-west-1.evil.example", "", "eu west 1"] {
            sso.region = region
            let error = #expect(throws: IdentityCenterError.self) { _ = try IdentityCenterService.portalBase(sso) }
            #expect(error?.code == .insecureEndpoint && error?.message.contains("sso_region") == true)
            #expect(throws: IdentityCenterError.self) { _ = try IdentityCenterService.oidcBase(sso) }
        }
        // An explicit endpoint does not use the region: nothing to refuse there.
        sso.portalEndpoint = "https://portal.test"
        #expect(try IdentityCenterService.portalBase(sso) == "https://portal.test")
    }

    @Test("different accounts, roles, start URLs, sessions and portals never share a cache entry")
    func cacheKeySeparation() throws {
        let base = try #require(settings(try resolve("dev", config: sessionConfig)))
        var variants = [base]
        var other = base; other.accountId = "999988887777"; variants.append(other)
        other = base; other.roleName = "Admin"; variants.append(other)
        other = base; other.startURL = "https://other.awsapps.com/start"; variants.append(other)
        other = base; other.sessionName = "corp2"; variants.append(other)
        other = base; other.sessionName = nil; variants.append(other)
        other = base; other.portalEndpoint = "http://127.0.0.1:1"; variants.append(other)
        other = base; other.region = "us-east-1"; variants.append(other)
        let stems = variants.map { settings in
            CredentialBroker.cacheKey(for: RoleProfile(
                name: "dev", roleArn: settings.roleDescription, roleSessionName: "identity-center",
                region: settings.region, source: .identityCenter(settings))).stem
        }
        #expect(Set(stems).count == variants.count)
        // The profile's own name and region do not split it: two profiles for one role share.
        var renamed = base; renamed.profile = "dev-copy"
        let again = CredentialBroker.cacheKey(for: RoleProfile(
            name: "dev-copy", roleArn: renamed.roleDescription, roleSessionName: "identity-center",
            region: renamed.region, source: .identityCenter(renamed))).stem
        #expect(again == stems[0])
    }
}

@Suite("IAM Identity Center: token files")
struct IdentityCenterTokenTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("SHA-1 matches the published vectors and botocore's cache file names")
    func sha1() {
        #expect(Hex.encode(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Hex.encode(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Hex.encode(SHA1.hash(Array(repeating: UInt8(ascii: "a"), count: 1000))) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        #expect(IdentityCenterToken.fileName(forKey: "my-sso") == "0ad374308c5a4e22f723adf10145eafad7c4031c.json")
        #expect(IdentityCenterToken.fileName(forKey: "https://corp.awsapps.com/start") == "a51746d4aa793ae07b25e90c3a5db96fc7832bd7.json")
    }

    static func token(_ members: String) -> Result<IdentityCenterToken, IdentityCenterToken.Invalid> {
        IdentityCenterToken.parse(Array(members.utf8))
    }

    @Test("a botocore token file parses, with the refresh members")
    func parses() throws {
        let token = try Self.token("""
            {"startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1", "accessToken": "aoa-token",
             "expiresAt": "2027-01-15T08:00:00Z", "clientId": "cid", "clientSecret": "csecret",
             "registrationExpiresAt": "2027-03-01T00:00:00Z", "refreshToken": "rt-1"}
            """).get()
        #expect(token.accessToken == "aoa-token")
        #expect(token.refreshToken == "rt-1")
        #expect(token.canRefresh(now: Self.now))
        // The older CLI's "UTC" suffix.
        let old = try Self.token(#"{"accessToken": "t", "expiresAt": "2027-01-15T08:00:00UTC"}"#).get()
        #expect(old.expiresAt == (try Self.token(#"{"accessToken": "t", "expiresAt": "2027-01-15T08:00:00Z"}"#).get()).expiresAt)
    }

    @Test("a token file that could smuggle a header or is not botocore's is refused, without the value")
    func refused() {
        let cases: [(String, String)] = [
            (#"{"accessToken": "abc\r\nX-Evil: 1", "expiresAt": "2027-01-15T08:00:00Z"}"#, "accessToken"),
            (#"{"accessToken": "has space", "expiresAt": "2027-01-15T08:00:00Z"}"#, "accessToken"),
            (#"{"accessToken": "t"}"#, "expiresAt"),
            (#"{"accessToken": "t", "expiresAt": "soon"}"#, "expiresAt"),
            (#"{"expiresAt": "2027-01-15T08:00:00Z"}"#, "accessToken"),
            (#"{"accessToken": 5, "expiresAt": "2027-01-15T08:00:00Z"}"#, "accessToken"),
            (#"{"accessToken": "t", "expiresAt": "2027-01-15T08:00:00Z", "refreshToken": 7}"#, "refreshToken"),
            ("[1, 2]", "JSON object"),
            ("{" + String(repeating: " ", count: 70_000) + "}", "larger"),
        ]
        for (text, reason) in cases {
            guard case .failure(let invalid) = Self.token(text) else {
                Issue.record("accepted: \(text.prefix(80))")
                continue
            }
            #expect(invalid.reason.contains(reason), "\(invalid.reason)")
            #expect(!invalid.reason.contains("X-Evil") && !invalid.reason.contains("has space"))
        }
    }

    @Test("refresh with under 15 minutes left only when refreshable; otherwise use it until a minute before expiry")
    func plan() throws {
        let refreshable = try Self.token("""
            {"accessToken": "t", "expiresAt": "\(Timestamps.formatRFC3339(Self.now + 600))", "clientId": "c",
             "clientSecret": "s", "refreshToken": "r", "registrationExpiresAt": "\(Timestamps.formatRFC3339(Self.now + 86400))"}
            """).get()
        #expect(refreshable.plan(now: Self.now, refreshable: true) == .refresh)
        #expect(refreshable.plan(now: Self.now - 301, refreshable: true) == .use)  // 15 min 1 s left
        #expect(refreshable.plan(now: Self.now, refreshable: false) == .use)      // legacy profile
        #expect(refreshable.plan(now: Self.now + 560, refreshable: false) == .expired)
        #expect(refreshable.plan(now: Self.now + 700, refreshable: true) == .refresh)  // expired but refreshable
        var lapsed = refreshable
        lapsed.registrationExpiresAt = Self.now - 1
        #expect(lapsed.plan(now: Self.now, refreshable: true) == .use)
        #expect(lapsed.plan(now: Self.now + 700, refreshable: true) == .expired)
    }

    @Test("a refreshed file keeps every member botocore wrote and replaces the token and expiry")
    func rewrite() throws {
        let token = try Self.token("""
            {"startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1", "accessToken": "old",
             "expiresAt": "2027-01-15T08:00:00Z", "clientId": "cid", "clientSecret": "csecret",
             "registrationExpiresAt": "2027-03-01T00:00:00Z", "refreshToken": "rt-1", "extra": 3}
            """).get()
        let refreshed = token.refreshed(accessToken: "new\"token", expiresIn: 3600, refreshToken: "rt-2", now: Self.now)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(refreshed.encoded())) as? [String: Any])
        #expect(object["accessToken"] as? String == "new\"token")
        #expect(object["refreshToken"] as? String == "rt-2")
        #expect(object["expiresAt"] as? String == Timestamps.formatRFC3339(Self.now + 3600))
        #expect(object["clientId"] as? String == "cid")
        #expect(object["clientSecret"] as? String == "csecret")
        #expect(object["startUrl"] as? String == "https://corp.awsapps.com/start")
        #expect(object["registrationExpiresAt"] as? String == "2027-03-01T00:00:00Z")
        #expect(object["extra"] as? Int == 3)
        // No new refresh token from OIDC: the old one stays.
        let kept = token.refreshed(accessToken: "n", expiresIn: 60, refreshToken: nil, now: Self.now)
        #expect(kept.refreshToken == "rt-1")
    }
}

/// The broker against a routed portal and OIDC, with the token file in the fixture's HOME.
@Suite("IAM Identity Center: credentials through the pipeline")
struct IdentityCenterSourceTests {
    static let now = SourcesFixture.now
    static let portal = "http://127.0.0.1:4001"
    static let oidc = "http://127.0.0.1:4002"

    static let environment = ["AWS_ENDPOINT_URL_SSO": portal, "AWS_ENDPOINT_URL_SSO_OIDC": oidc]

    static func settings(sessionName: String? = "corp") -> IdentityCenterSettings {
        IdentityCenterSettings(
            profile: "dev", startURL: "https://corp.awsapps.com/start", region: "eu-west-1", accountId: "111122223333",
            roleName: "Developer", sessionName: sessionName, portalEndpoint: portal, oidcEndpoint: oidc)
    }

    static func role(_ settings: IdentityCenterSettings = settings()) -> RoleProfile {
        RoleProfile(name: settings.profile, roleArn: settings.roleDescription, roleSessionName: "identity-center",
                    region: settings.region, source: .identityCenter(settings))
    }

    static func writeToken(_ fixture: SourcesFixture, expiresIn: Double, key: String = "corp", refreshable: Bool = true) throws {
        let directory = fixture.path + "/.aws/sso/cache"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])  // whatever the umask
        var members = [
            "\"startUrl\": \"https://corp.awsapps.com/start\"", "\"region\": \"eu-west-1\"", "\"accessToken\": \"token-1\"",
            "\"expiresAt\": \"\(Timestamps.formatRFC3339(now + expiresIn))\"",
        ]
        if refreshable {
            members += ["\"clientId\": \"client-1\"", "\"clientSecret\": \"client-secret-1\"", "\"refreshToken\": \"refresh-1\"",
                        "\"registrationExpiresAt\": \"\(Timestamps.formatRFC3339(now + 86400 * 30))\""]
        }
        let path = directory + "/" + IdentityCenterToken.fileName(forKey: key)
        try Data(("{" + members.joined(separator: ", ") + "}").utf8).write(to: URL(fileURLWithPath: path))
        // As the CLI writes it (a refresh keeps the file's mode).
        chmod(path, 0o600)
    }

    static func tokenFile(_ fixture: SourcesFixture, key: String = "corp") -> String {
        fixture.path + "/.aws/sso/cache/" + IdentityCenterToken.fileName(forKey: key)
    }

    /// A portal that accepts `validToken` for 111122223333/Developer only, and an OIDC that
    /// swaps `refresh-1` for `token-2`.
    static func route(validToken: String = "token-1", oidcAnswer: Result<HTTPResponse, TransportError>? = nil)
        -> RoutedTransport.Route
    {
        { request in
            if request.url.hasPrefix(portal + "/federation/credentials?") {
                let token = request.headers.first { $0.name == "x-amz-sso_bearer_token" }?.value
                guard token == validToken else {
                    return .success(HTTPResponse(status: 401, headers: [("x-amzn-ErrorType", "UnauthorizedException")],
                                                 body: Array(#"{"message":"Session token not found or invalid"}"#.utf8)))
                }
                guard request.url.hasSuffix("?account_id=111122223333&role_name=Developer") else {
                    return .success(HTTPResponse(status: 403, headers: [("x-amzn-ErrorType", "ForbiddenException")],
                                                 body: Array(#"{"message":"No access"}"#.utf8)))
                }
                let expiration = Int64((now.timeIntervalSince1970 + 3600) * 1000)
                return STSAnswers.json(200, """
                    {"roleCredentials": {"accessKeyId": "ASIAPORTALEXAMPLE1", "secretAccessKey": "portal-secret-value-0123456789",
                     "sessionToken": "portal-session-token", "expiration": \(expiration)}}
                    """)
            }
            if request.url == oidc + "/token", request.method == "POST" {
                if let oidcAnswer { return oidcAnswer }
                return STSAnswers.json(200, #"{"accessToken": "token-2", "expiresIn": 28800, "refreshToken": "refresh-2", "tokenType": "Bearer"}"#)
            }
            return nil
        }
    }

    @Test("the portal's role credentials are served and cached: a second run makes no request")
    func servesAndCaches() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route())
        try Self.writeToken(fixture, expiresIn: 3600)
        let first = try fixture.broker().credentials(for: Self.role())
        #expect(first.accessKeyId == "ASIAPORTALEXAMPLE1")
        #expect(first.expiration == Self.now + 3600)
        let second = try fixture.broker().credentials(for: Self.role())
        #expect(second.accessKeyId == first.accessKeyId)
        #expect(fixture.transport.requests.count == 1)
        let request = try #require(fixture.transport.requests.first)
        #expect(request.method == "GET")
        #expect(request.headers.contains { $0.name == "x-amz-sso_bearer_token" && $0.value == "token-1" })
    }

    @Test("a token with under 15 minutes left is refreshed once, written back 0600, and used")
    func refreshes() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route(validToken: "token-2"))
        try Self.writeToken(fixture, expiresIn: 300)
        let credentials = try fixture.broker().credentials(for: Self.role())
        #expect(credentials.accessKeyId == "ASIAPORTALEXAMPLE1")
        let posts = fixture.transport.requests.filter { $0.method == "POST" }
        #expect(posts.count == 1)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(posts[0].body)) as? [String: String])
        #expect(body == ["grantType": "refresh_token", "clientId": "client-1", "clientSecret": "client-secret-1",
                         "refreshToken": "refresh-1"])
        let file = Self.tokenFile(fixture)
        let written = try IdentityCenterToken.parse(Array(try Data(contentsOf: URL(fileURLWithPath: file)))).get()
        #expect(written.accessToken == "token-2")
        #expect(written.refreshToken == "refresh-2")
        #expect(written.clientSecret == "client-secret-1")
        #expect(written.expiresAt == Self.now + 28800)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        #expect(!fixture.output.stderr.contains("token-2") && !fixture.output.stderr.contains("refresh-"))
    }

    @Test("a refresh keeps the token file's mode, and a link to it stays a link")
    func refreshKeepsModeAndLink() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route(validToken: "token-2"))
        try Self.writeToken(fixture, expiresIn: 300)
        let link = Self.tokenFile(fixture)
        let target = fixture.path + "/dotfiles-token.json"
        // 0400: a private mode other than the CLI's (group or other bits are refused before a refresh).
        #expect(rename(link, target) == 0 && symlink(target, link) == 0 && chmod(target, 0o400) == 0)
        _ = try fixture.broker().credentials(for: Self.role())
        let written = try IdentityCenterToken.parse(Array(try Data(contentsOf: URL(fileURLWithPath: target)))).get()
        #expect(written.accessToken == "token-2")
        #expect(try FileSystem.linkStatus(link).get().isSymlink)
        #expect(try FileSystem.linkStatus(target).get().permissionBits == 0o400)
    }

    @Test("a token file rewritten during the refresh (a login meanwhile) keeps the login's token; the refreshed one is used")
    func refreshLosesToALogin() throws {
        final class Box { var path = "" }
        let box = Box()
        let login = #"{"accessToken": "token-login", "expiresAt": "2030-01-01T00:00:00Z"}"#
        let refresh = Self.route(validToken: "token-2")
        let fixture = try SourcesFixture(environment: Self.environment) { request in
            if request.url == Self.oidc + "/token" {
                try? Data(login.utf8).write(to: URL(fileURLWithPath: box.path))
            }
            return refresh(request)
        }
        box.path = Self.tokenFile(fixture)
        try Self.writeToken(fixture, expiresIn: 300)
        let credentials = try fixture.broker().credentials(for: Self.role())
        #expect(credentials.accessKeyId == "ASIAPORTALEXAMPLE1")
        #expect(try String(contentsOfFile: box.path, encoding: .utf8) == login)
        #expect(fixture.output.stderr.contains("changed while stscache refreshed the token"))
        #expect(!fixture.output.stderr.contains("token-2") && !fixture.output.stderr.contains("token-login"))
    }

    @Test("a legacy profile's token is never refreshed: expired means the login command")
    func legacyNoRefresh() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route())
        let legacy = Self.settings(sessionName: nil)
        try Self.writeToken(fixture, expiresIn: 30, key: legacy.startURL)
        let error = try #require(throws: IdentityCenterError.self) { _ = try fixture.broker().credentials(for: Self.role(legacy)) }
        #expect(error.code == .loginExpired)
        #expect(error.message.contains("aws sso login --profile dev"))
        #expect(fixture.transport.requests.isEmpty)
    }

    @Test("no token file: fails at once naming the login command, with no request")
    func noToken() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route())
        let error = try #require(throws: IdentityCenterError.self) { _ = try fixture.broker().credentials(for: Self.role()) }
        #expect(error.code == .notLoggedIn)
        #expect(error.message.contains("aws sso login --sso-session corp"))
        #expect(fixture.transport.requests.isEmpty)
    }

    @Test("InvalidGrantException on refresh of an expired token: the login command, file untouched")
    func invalidGrant() throws {
        let refusal = HTTPResponse(status: 400, headers: [("x-amzn-ErrorType", "InvalidGrantException")],
                                   body: Array(#"{"error":"invalid_grant","error_description":"Invalid grant provided"}"#.utf8))
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route(oidcAnswer: .success(refusal)))
        try Self.writeToken(fixture, expiresIn: -10)
        let before = try Data(contentsOf: URL(fileURLWithPath: Self.tokenFile(fixture)))
        let error = try #require(throws: IdentityCenterError.self) { _ = try fixture.broker().credentials(for: Self.role()) }
        #expect(error.code == .loginExpired)
        #expect(error.message.contains("InvalidGrantException") && error.message.contains("aws sso login --sso-session corp"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: Self.tokenFile(fixture))) == before)
    }

    @Test("a failed refresh of a still-valid token uses the token with a warning")
    func refreshFailureUsesToken() throws {
        let fixture = try SourcesFixture(
            environment: Self.environment.merging(["STSCACHE_MAX_ATTEMPTS": "1"]) { $1 },
            route: Self.route(oidcAnswer: .success(HTTPResponse(status: 500))))
        try Self.writeToken(fixture, expiresIn: 600)
        let credentials = try fixture.broker().credentials(for: Self.role())
        #expect(credentials.accessKeyId == "ASIAPORTALEXAMPLE1")
        #expect(fixture.output.stderr.contains("could not refresh the Identity Center token"))
    }

    @Test("401 from the portal names the login command; 403 names the account and the role")
    func portalRefusals() throws {
        let fixture = try SourcesFixture(environment: Self.environment, route: Self.route(validToken: "other"))
        try Self.writeToken(fixture, expiresIn: 3600)
        let expired = try #require(throws: IdentityCenterError.self) { _ = try fixture.broker().credentials(for: Self.role()) }
        #expect(expired.code == .loginExpired)
        #expect(expired.message.contains("UnauthorizedException") && expired.message.contains("aws sso login --sso-session corp"))

        let other = try SourcesFixture(environment: Self.environment, route: Self.route())
        try Self.writeToken(other, expiresIn: 3600)
        var noAccess = Self.settings()
        noAccess.roleName = "Admin"
        let forbidden = try #require(throws: IdentityCenterError.self) { _ = try other.broker().credentials(for: Self.role(noAccess)) }
        #expect(forbidden.code == .noAccess)
        #expect(forbidden.message.contains("111122223333") && forbidden.message.contains("Admin"))
        #expect(!forbidden.message.contains("token-1"))
    }

    @Test("a hostile portal answer is refused and nothing is cached")
    func hostilePortal() throws {
        let bad = STSAnswers.json(200, """
            {"roleCredentials": {"accessKeyId": "ASIA\\nINJECTED", "secretAccessKey": "s", "sessionToken": "t",
             "expiration": \(Int64((Self.now.timeIntervalSince1970 + 3600) * 1000))}}
            """)
        let fixture = try SourcesFixture(environment: Self.environment) { request in
            request.url.hasPrefix(Self.portal) ? bad : nil
        }
        try Self.writeToken(fixture, expiresIn: 3600)
        let error = try #require(throws: SourceError.self) { _ = try fixture.broker().credentials(for: Self.role()) }
        #expect(error.code == .malformedCredentials)
        #expect(error.message.contains("Identity Center portal"))
        #expect(try fixture.broker().cache.list().isEmpty)

        let notJSON = try SourcesFixture(environment: Self.environment) { request in
            request.url.hasPrefix(Self.portal) ? STSAnswers.json(200, #"{"roleCredentials": {"accessKeyId": 1}}"#) : nil
        }
        try Self.writeToken(notJSON, expiresIn: 3600)
        let shape = try #require(throws: IdentityCenterError.self) { _ = try notJSON.broker().credentials(for: Self.role()) }
        #expect(shape.code == .badResponse)
    }
}

/// The token cache is checked like the key store before a token is sent: another user's file, a
/// file or directory others can write, a link anywhere but to the user's own private file, are
/// each refused with the file named and the fix, and the portal sees nothing.
@Suite("IAM Identity Center: token files are checked like keys")
struct IdentityCenterTokenCacheTests {
    typealias Source = IdentityCenterSourceTests
    static let otherUID: uid_t = 65534

    /// A valid token as the CLI leaves it: 0600, in a 0755 cache directory (umask 022).
    static func fixture() throws -> SourcesFixture {
        let fixture = try SourcesFixture(environment: Source.environment, route: Source.route())
        try Source.writeToken(fixture, expiresIn: 3600)
        return fixture
    }

    static func cache(_ fixture: SourcesFixture) -> String { fixture.path + "/.aws/sso/cache" }

    /// Refused with the cache's code, the message holding every needle and never the token, and
    /// no request made.
    @discardableResult
    static func expectRefused(_ fixture: SourcesFixture, _ needles: String...,
                              sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        let error = #expect(throws: IdentityCenterError.self, sourceLocation: sourceLocation) {
            _ = try fixture.broker().credentials(for: Source.role())
        }
        #expect(error?.code == .insecureTokenCache, sourceLocation: sourceLocation)
        for needle in needles {
            #expect(error?.message.contains(needle) == true, "\(error?.message ?? "")", sourceLocation: sourceLocation)
        }
        #expect(error?.message.contains("token-1") == false, sourceLocation: sourceLocation)
        #expect(fixture.transport.requests.isEmpty, sourceLocation: sourceLocation)
        return error?.message
    }

    /// The portal's credentials, with the token sent: what the fix must lead to.
    static func expectServed(_ fixture: SourcesFixture, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let credentials = try fixture.broker().credentials(for: Source.role())
        #expect(credentials.accessKeyId == "ASIAPORTALEXAMPLE1", sourceLocation: sourceLocation)
        #expect(fixture.transport.requests.count == 1, sourceLocation: sourceLocation)
    }

    @Test("another user's token file is refused: named, 'remove it', nothing sent")
    func otherUsersFile() throws {
        let fixture = try Self.fixture()
        let file = Source.tokenFile(fixture)
        #expect(chown(file, Self.otherUID, gid_t(Self.otherUID)) == 0)
        Self.expectRefused(fixture, file, "owned by uid 65534", "remove it, then run: stscache login --sso-session corp")
        #expect(chown(file, geteuid(), getegid()) == 0)
        try Self.expectServed(fixture)
    }

    @Test("a token file others or the group can write (0666, 0620) is refused; chmod 600 fixes it", arguments: [0o666, 0o620])
    func writableFile(mode: Int) throws {
        let fixture = try Self.fixture()
        let file = Source.tokenFile(fixture)
        #expect(chmod(file, mode_t(mode)) == 0)
        Self.expectRefused(fixture, file, "has mode \(octal(UInt32(mode)))", "can write it", "chmod 600 \(file)",
                           "otherwise remove it, then run: stscache login --sso-session corp")
        #expect(chmod(file, 0o600) == 0)
        try Self.expectServed(fixture)
    }

    @Test("a token file the group can read (0640) is refused: a bearer token is kept like a key")
    func readableFile() throws {
        let fixture = try Self.fixture()
        let file = Source.tokenFile(fixture)
        #expect(chmod(file, 0o640) == 0)
        Self.expectRefused(fixture, file, "has mode 0640", "can read it", "run: chmod 600 \(file)")
        #expect(chmod(file, 0o600) == 0)
        try Self.expectServed(fixture)
    }

    @Test("a cache directory others can write (0777, 0703) is refused, naming it and chmod 700", arguments: [0o777, 0o703])
    func directoryWritableByOthers(mode: Int) throws {
        let fixture = try Self.fixture()
        let cache = Self.cache(fixture)
        #expect(chmod(cache, mode_t(mode)) == 0)
        Self.expectRefused(fixture, "the Identity Center token cache \(cache) has mode \(octal(UInt32(mode)))",
                           Source.tokenFile(fixture), "chmod 700 \(cache)")
        #expect(chmod(cache, 0o700) == 0)
        try Self.expectServed(fixture)
    }

    @Test("a group-writable cache directory passes only when the group is the user's private group (umask 002)")
    func directoryWritableByGroup() throws {
        let fixture = try Self.fixture()
        let cache = Self.cache(fixture)
        #expect(chmod(cache, 0o775) == 0 && chown(cache, geteuid(), gid_t(Self.otherUID)) == 0)
        Self.expectRefused(fixture, cache, "has mode 0775", "chmod 700 \(cache)")
        #expect(chown(cache, geteuid(), getegid()) == 0)
        if FileSystem.isUserPrivateGroup(UInt32(getegid())) {
            try Self.expectServed(fixture)
        } else {
            Self.expectRefused(fixture, cache, "has mode 0775")
        }
    }

    @Test("another user's cache directory is refused, naming it")
    func otherUsersDirectory() throws {
        let fixture = try Self.fixture()
        let cache = Self.cache(fixture)
        #expect(chown(cache, Self.otherUID, gid_t(Self.otherUID)) == 0)
        Self.expectRefused(fixture, "the Identity Center token cache \(cache) is owned by uid 65534", "move it away")
        #expect(chown(cache, geteuid(), getegid()) == 0)
        try Self.expectServed(fixture)
    }

    @Test("a link is followed only to the user's own private file in a directory only the user can write")
    func symbolicLinks() throws {
        let fixture = try Self.fixture()
        let link = Source.tokenFile(fixture)
        let target = fixture.path + "/token.json"
        #expect(rename(link, target) == 0 && symlink(target, link) == 0)

        // To another user's file.
        #expect(chown(target, Self.otherUID, gid_t(Self.otherUID)) == 0)
        Self.expectRefused(fixture, "\(link) (a symbolic link to \(target)) is owned by uid 65534", "remove it")
        #expect(chown(target, geteuid(), getegid()) == 0)

        // To a file others can write.
        #expect(chmod(target, 0o666) == 0)
        Self.expectRefused(fixture, link, "has mode 0666", "chmod 600 \(target)")
        #expect(chmod(target, 0o600) == 0)

        // To the user's 0600 file in a directory anyone can write (it could be swapped).
        let shared = fixture.path + "/shared"
        #expect(mkdir(shared, 0o777) == 0 && chmod(shared, 0o777) == 0 && rename(target, shared + "/token.json") == 0)
        #expect(unlink(link) == 0 && symlink(shared + "/token.json", link) == 0)
        Self.expectRefused(fixture, "the directory \(shared) that the Identity Center token file \(link) leads into",
                           "has mode 0777", "remove the link, then run: stscache login --sso-session corp")

        // To nothing.
        #expect(unlink(link) == 0 && symlink(fixture.path + "/missing.json", link) == 0)
        Self.expectRefused(fixture, link, "is a symbolic link to nothing")

        // To the user's own 0600 file in a private directory: the writer's link rule, on read too.
        #expect(unlink(link) == 0 && rename(shared + "/token.json", target) == 0 && symlink(target, link) == 0)
        try Self.expectServed(fixture)
    }

    @Test("the CLI's own files work: 0600 in a 0700 or 0755 directory of the user's")
    func clisFiles() throws {
        for mode in [0o700, 0o755] as [mode_t] {
            let fixture = try Self.fixture()
            #expect(chmod(Self.cache(fixture), mode) == 0)
            try Self.expectServed(fixture)
        }
    }
}
