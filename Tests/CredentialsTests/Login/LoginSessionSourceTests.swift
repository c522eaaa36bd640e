import Foundation
import Testing

import AWSConfig
import CredentialCache
import SigV4
import StscacheSupport
@testable import Credentials
import TestSupport
import Transport

private let now = SourcesFixture.now
private let settings = LoginSessionSettings(profile: "console", session: LoginFixture.session, region: "us-east-1")
private let loginRole = RoleProfile(name: "console", roleArn: LoginFixture.session, roleSessionName: "login-session",
                                    region: "us-east-1", source: .loginSession(settings))

/// A home with a session file, a fake Sign-In and STS behind one fail-closed transport.
private final class LoginSourceFixture {
    let fake: FakeSignIn
    let fixture: SourcesFixture
    let files: LoginSessionFiles

    init(expiresAt: Date, refreshToken: String = "rt-1", signInRegion: String? = nil,
         fake: FakeSignIn = FakeSignIn(now: now)) throws {
        self.fake = fake
        let sts = STSAnswers.sts(now: now)
        fixture = try SourcesFixture { request in
            request.url.hasPrefix(fake.base + "/") ? fake.answer(request) : sts(request)
        }
        files = LoginSessionFiles(environment: [:], homeDirectory: fixture.path)
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(fixture.path + "/.aws", 0o700)
        try write(LoginFixture.json(expiresAt: expiresAt, refreshToken: refreshToken, signInRegion: signInRegion))
    }

    var path: String { files.path(forSession: LoginFixture.session) }

    func write(_ text: String) throws {
        let temporary = path + ".new"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        chmod(temporary, 0o600)
        rename(temporary, path)
    }

    func contents() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
    var signInCalls: Int { fixture.transport.requests.filter { $0.url.hasPrefix(fake.base + "/") }.count }
}

@Suite("aws login sessions as a source", .serialized)
struct LoginSessionSourceTests {
    @Test("fresh credentials are served from the session file: no call, no transport, no lock")
    func fresh() throws {
        let home = try LoginSourceFixture(expiresAt: now + 840)
        let before = try home.contents()
        let served = try home.fixture.broker().loginSessionCredentials(settings)
        #expect(served.credentials.accessKeyId == "ASIALOGIN0000001")
        #expect(served.accountId == "123456789012")
        #expect(home.fixture.transport.requests.isEmpty)
        #expect(try home.contents() == before)
        // And nothing is stored in stscache's cache: the file is the cache.
        let entries = try FileManager.default.contentsOfDirectory(atPath: home.fixture.path + "/cache")
        #expect(!entries.contains { $0.hasSuffix(".entry") || $0.hasSuffix(".json") }, "\(entries)")
    }

    @Test("credentials inside the refresh window are refreshed once; the rotated token and new credentials are written back")
    func refreshes() throws {
        let home = try LoginSourceFixture(expiresAt: now + 300)
        let served = try home.fixture.broker().loginSessionCredentials(settings)
        #expect(served.credentials == AWSCredentials(accessKeyId: "ASIAREFRESHED0001", secretAccessKey: "refreshed-secret-1",
                                                     sessionToken: "refreshed-token-1", expiration: now + 900))
        #expect(home.fake.issued == 1)
        let file = try home.files.read(settings)
        #expect(file.refreshToken == "rt-2")
        #expect(file.credentials == served.credentials)
        #expect(file.accountId == "123456789012")
        #expect(file.members["cliExtra"] == .object(["nested": .object(["kept": .bool(true)])]))
        var info = stat()
        stat(home.path, &info)
        #expect(info.st_mode & 0o777 == 0o600)
        // The next run finds them fresh: no second call.
        _ = try home.fixture.broker().loginSessionCredentials(settings)
        #expect(home.signInCalls == 1)
        #expect(home.fixture.output.stderr.isEmpty)
    }

    @Test("expired credentials within the session's 12 hours are refreshed; past them, sign in again without a call")
    func expired() throws {
        let home = try LoginSourceFixture(expiresAt: now - 3600)
        #expect(try home.fixture.broker().loginSessionCredentials(settings).credentials.accessKeyId == "ASIAREFRESHED0001")
        let old = try LoginSourceFixture(expiresAt: now - 13 * 3600)
        let before = try old.contents()
        do {
            _ = try old.fixture.broker().loginSessionCredentials(settings)
            Issue.record("an ended session gave credentials")
        } catch let error as LoginSessionError {
            #expect(error.code == .loginExpired)
            #expect(error.message.contains("profile \"console\"") && error.message.contains("aws login --profile console"))
        }
        #expect(old.signInCalls == 0)
        #expect(try old.contents() == before)
    }

    @Test("another process refreshed while this one waited for the lock: its file is used, no second call")
    func reReadUnderLock() throws {
        let home = try LoginSourceFixture(expiresAt: now + 300)
        let broker = try home.fixture.broker()
        let lockKey = CacheKey(roleArn: "the aws login session of profile \"console\"", sessionName: "login-session-refresh",
                               sourceIdentity: home.path)
        let fresh = LoginFixture.json(expiresAt: now + 900, refreshToken: "rt-cli", keyId: "ASIAOTHERPROCESS")
        let path = home.path
        holdEntryLock(lockKey, in: broker.cache) {
            Thread.sleep(forTimeInterval: 0.3)
            try? Data(fresh.utf8).write(to: URL(fileURLWithPath: path + ".new"))
            chmod(path + ".new", 0o600)
            rename(path + ".new", path)
        }
        let served = try broker.loginSessionCredentials(settings)
        #expect(served.credentials.accessKeyId == "ASIAOTHERPROCESS")
        #expect(home.signInCalls == 0)
    }

    @Test("TOKEN_EXPIRED and USER_CREDENTIALS_CHANGED: one line naming the profile and the sign-in, the file intact")
    func sessionEnded() throws {
        for error in ["TOKEN_EXPIRED", "USER_CREDENTIALS_CHANGED"] {
            let home = try LoginSourceFixture(expiresAt: now - 60)
            home.fake.scripted = [(400, "AccessDeniedException", error)]
            let before = try home.contents()
            do {
                _ = try home.fixture.broker().loginSessionCredentials(settings)
                Issue.record("served after \(error)")
            } catch let failure as LoginSessionError {
                #expect(failure.code == .loginExpired)
                #expect(failure.message == "AWS Sign-In ended the aws login session of profile \"console\" "
                    + "(AccessDeniedException, \(error)); sign in again: aws login --profile console (or stscache login "
                    + "--profile console)")
            }
            #expect(try home.contents() == before)
            #expect(home.signInCalls == 1)
        }
    }

    @Test("INSUFFICIENT_PERMISSIONS names the permission and the managed policy")
    func insufficientPermissions() throws {
        let home = try LoginSourceFixture(expiresAt: now - 60)
        home.fake.scripted = [(400, "AccessDeniedException", "INSUFFICIENT_PERMISSIONS")]
        do {
            _ = try home.fixture.broker().loginSessionCredentials(settings)
            Issue.record("served")
        } catch let failure as LoginSessionError {
            #expect(failure.code == .insufficientPermissions)
            #expect(failure.message.contains("signin:CreateOAuth2Token") && failure.message.contains("SignInLocalDevelopmentAccess"))
        }
    }

    @Test("a failed refresh serves still-valid credentials with a warning (stale-if-error), never expired ones")
    func staleIfError() throws {
        let home = try LoginSourceFixture(expiresAt: now + 300)
        home.fake.scripted = Array(repeating: (503, "InternalServerException", "service_unavailable"), count: 3)
        let served = try home.fixture.broker().loginSessionCredentials(settings)
        #expect(served.credentials.accessKeyId == "ASIALOGIN0000001")
        #expect(home.fixture.output.stderr.contains("warning: could not refresh the aws login session of profile \"console\""))
        var agent = try home.fixture.broker()
        agent.servesCachedOnFailure = false
        home.fake.scripted = Array(repeating: (503, "InternalServerException", "service_unavailable"), count: 3)
        #expect(throws: LoginSessionError.self) { _ = try agent.loginSessionCredentials(settings) }
    }

    @Test("--force-refresh refreshes fresh credentials once")
    func forced() throws {
        let home = try LoginSourceFixture(expiresAt: now + 840)
        let served = try home.fixture.broker().loginSessionCredentials(settings, forceRefresh: true)
        #expect(served.credentials.accessKeyId == "ASIAREFRESHED0001")
        #expect(home.signInCalls == 1)
    }

    @Test("the profile itself through the broker: the session's credentials, no AssumeRole, nothing cached")
    func directProfile() throws {
        let home = try LoginSourceFixture(expiresAt: now + 840)
        let credentials = try home.fixture.broker().credentials(for: loginRole)
        #expect(credentials.accessKeyId == "ASIALOGIN0000001")
        // The session file's account reaches the Version-1 answer's AccountId.
        #expect(credentials.accountId == "123456789012")
        #expect(home.fixture.transport.requests.isEmpty)
    }

    @Test("a role whose source_profile is the login is assumed with the session's credentials, and cached")
    func asSource() throws {
        let home = try LoginSourceFixture(expiresAt: now + 300)
        var role = makeRole(source: .role(loginRole))
        role.durationSeconds = 7200
        let credentials = try home.fixture.broker().credentials(for: role)
        #expect(credentials.accessKeyId.hasPrefix("ASIAROLE"))
        let assume = try #require(home.fixture.transport.requests(action: "AssumeRole").first)
        // Signed with the refreshed login credentials, and not capped as role chaining.
        let authorization = assume.headers.first { $0.name == "Authorization" }?.value ?? ""
        #expect(authorization.contains("Credential=ASIAREFRESHED0001/"))
        #expect(assume.headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == "refreshed-token-1" })
        #expect(home.fixture.transport.form(assume)["DurationSeconds"] == "7200")
        // The role's session is a cache hit next time: neither Sign-In nor STS again.
        let count = home.fixture.transport.requests.count
        _ = try home.fixture.broker().credentials(for: role)
        #expect(home.fixture.transport.requests.count == count)
    }

    @Test("the file's signInRegion picks Sign-In's host over the profile's region; the profile's CA bundle and the STS timeouts apply")
    func regionAndTransport() throws {
        let fake = FakeSignIn(base: "https://eu-west-1.signin.aws.amazon.com", now: now)
        let home = try LoginSourceFixture(expiresAt: now + 300, signInRegion: "eu-west-1", fake: fake)
        var broker = try home.fixture.broker()
        broker.settings = LazyNetworkSettings(NetworkSettings(attemptTimeout: 4, deadline: 7, lockTimeout: 5))
        var withBundle = settings
        withBundle.caBundle = "/etc/corp-ca.pem"
        _ = try broker.loginSessionCredentials(withBundle)
        #expect(home.fixture.transport.requests.map(\.url) == ["https://eu-west-1.signin.aws.amazon.com/v1/token"])
        let options = try #require(home.fixture.transport.options.first)
        #expect(options.caBundle == "/etc/corp-ca.pem")
        #expect(options.totalTimeout <= 4)
        // AWS_ENDPOINT_URL_SIGNIN (or an endpoint_url) wins over both regions.
        let local = FakeSignIn(base: "http://127.0.0.1:1", now: now)
        let other = try LoginSourceFixture(expiresAt: now + 300, signInRegion: "eu-west-1", fake: local)
        var configured = settings
        configured.endpointURL = "http://127.0.0.1:1/"
        _ = try other.fixture.broker().loginSessionCredentials(configured)
        #expect(other.fixture.transport.requests.map(\.url) == ["http://127.0.0.1:1/v1/token"])
    }

    @Test("a hostile session file is refused before anything is sent")
    func hostileFile() throws {
        let home = try LoginSourceFixture(expiresAt: now - 60)
        chmod(home.path, 0o644)
        #expect(throws: LoginSessionError.self) { _ = try home.fixture.broker().loginSessionCredentials(settings) }
        #expect(home.fixture.transport.requests.isEmpty)
    }
}

@Suite("aws login sessions: profiles")
struct LoginSessionProfileTests {
    private func resolve(_ profile: String, config: String, credentials: String? = nil,
                         environment: [String: String] = [:]) throws -> RoleProfile {
        try ProfileResolver.resolve(profile: profile, files: try loadFiles(config: config, credentials: credentials),
                                    environment: environment, userName: "alice")
    }

    private let config = """
        [profile console]
        login_session = arn:aws:iam::123456789012:user/alice
        region = eu-west-1

        [profile admin]
        role_arn = arn:aws:iam::123456789012:role/Admin
        source_profile = console

        [services local]
        signin =
          endpoint_url = http://127.0.0.1:9999
        """

    @Test("a login_session profile resolves to the login itself, with its region and endpoint settings")
    func direct() throws {
        let role = try resolve("console", config: config)
        guard case .loginSession(let login) = role.source else { Issue.record("not a login: \(role.source)"); return }
        #expect(login == LoginSessionSettings(profile: "console", session: "arn:aws:iam::123456789012:user/alice",
                                              region: "eu-west-1"))
        #expect(role.roleArn == "arn:aws:iam::123456789012:user/alice")
        let withEnvironment = try resolve("console", config: config, environment: [
            "AWS_ENDPOINT_URL_SIGNIN": "http://127.0.0.1:5000", "AWS_CA_BUNDLE": "/ca.pem"])
        guard case .loginSession(let overridden) = withEnvironment.source else { return }
        #expect(overridden.endpointURL == "http://127.0.0.1:5000" && overridden.caBundle == "/ca.pem")
        let ignored = try resolve("console", config: config, environment: [
            "AWS_ENDPOINT_URL_SIGNIN": "http://127.0.0.1:5000", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"])
        guard case .loginSession(let plain) = ignored.source else { return }
        #expect(plain.endpointURL == nil)
        let services = try resolve("console", config: config.replacingOccurrences(of: "region = eu-west-1",
                                                                                  with: "region = eu-west-1\nservices = local"))
        guard case .loginSession(let local) = services.source else { return }
        #expect(local.endpointURL == "http://127.0.0.1:9999")
    }

    @Test("a role with the login as source_profile has it as its source role")
    func asSource() throws {
        let role = try resolve("admin", config: config)
        guard case .role(let source) = role.source, case .loginSession = source.source else {
            Issue.record("not sourced from the login: \(role.source)")
            return
        }
        #expect(!role.isChained)
    }

    @Test("keys in the credentials file win over login_session, as in botocore's chain")
    func keysWin() throws {
        let role = try resolve("admin", config: config, credentials: "[console]\naws_access_key_id = AKIDCONSOLE\naws_secret_access_key = s\n")
        guard case .staticKeys = role.source else { Issue.record("keys did not win: \(role.source)"); return }
    }
}
