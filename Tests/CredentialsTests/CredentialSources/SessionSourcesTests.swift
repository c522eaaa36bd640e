import AWSConfig
import Foundation
@testable import Credentials
import Testing
import Transport
import TestSupport

@Suite("Web identity and role chaining through the broker")
struct WebIdentityAndChainingTests {
    @Test("web identity: unsigned AssumeRoleWithWebIdentity with the file's token, re-read on every refresh")
    func webIdentity() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: SourcesFixture.now))
        let tokenFile = try fixture.write("token", "first.jwt.token\n")
        let role = makeRole("pod", arn: "arn:aws:iam::1:role/Pod", source: .webIdentity(tokenFile: tokenFile), duration: 7200)
        let first = try fixture.broker().credentials(for: role)
        #expect(first.accessKeyId == "ASIAWEB1EXAMPLEKEY")
        _ = try fixture.write("token", "second.jwt.token")
        var broker = try fixture.broker()
        broker.forceRefresh = true
        _ = try broker.credentials(for: role)

        let calls = fixture.transport.requests(action: "AssumeRoleWithWebIdentity")
        #expect(calls.count == 2)
        #expect(calls.map { fixture.transport.form($0)["WebIdentityToken"] } == ["first.jwt.token", "second.jwt.token"])
        #expect(fixture.transport.form(calls[0])["RoleArn"] == "arn:aws:iam::1:role/Pod")
        // Not chaining: the configured duration goes through, and the request is unsigned.
        #expect(fixture.transport.form(calls[0])["DurationSeconds"] == "7200")
        #expect(calls.allSatisfy { !$0.headers.contains { $0.name == "Authorization" } })
        #expect(fixture.output.stderr.isEmpty)
    }

    @Test("a missing or empty token file is a clear error naming the file, and STS is not called")
    func tokenFileProblems() throws {
        let fixture = try SourcesFixture { _ in nil }
        let missing = expectSourceError(.webIdentityTokenUnreadable) {
            _ = try fixture.broker().credentials(for: makeRole(source: .webIdentity(tokenFile: fixture.path + "/nope")))
        }
        #expect(missing?.message.contains(fixture.path + "/nope") == true)
        let empty = try fixture.write("empty", "  \n")
        expectSourceError(.webIdentityTokenUnreadable) {
            _ = try fixture.broker().credentials(for: makeRole(source: .webIdentity(tokenFile: empty)))
        }
        #expect(fixture.transport.requests.isEmpty)
    }

    @Test("a rejected token is explained without quoting it")
    func rejectedToken() throws {
        let fixture = try SourcesFixture { _ in
            STSAnswers.error(400, code: "ExpiredTokenException", message: "Token expired: current date/time 1 must be before the expiration date/time 0")
        }
        let tokenFile = try fixture.write("token", "secret.jwt.value")
        let error = expectSourceError(.webIdentityRejected) {
            _ = try fixture.broker().credentials(for: makeRole(source: .webIdentity(tokenFile: tokenFile)))
        }
        #expect(error?.message.contains("ExpiredTokenException") == true)
        #expect(error?.message.contains(tokenFile) == true)
        #expect(error?.message.contains("secret.jwt.value") == false)
    }

    @Test("a chained role asking for two hours asks STS for one, and says so once per session created")
    func chainingCap() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: SourcesFixture.now))
        let jump = makeRole("jump", arn: "arn:aws:iam::1:role/Jump", duration: 7200)
        let target = makeRole("target", arn: "arn:aws:iam::1:role/Target", source: .role(jump), duration: 7200)
        _ = try fixture.broker().credentials(for: target)
        _ = try fixture.broker().credentials(for: target)  // a cache hit: no STS call, no note
        let durations = fixture.transport.requests(action: "AssumeRole").map { fixture.transport.form($0)["DurationSeconds"] }
        #expect(durations == ["7200", "3600"])
        let notes = fixture.output.stderr.components(separatedBy: "role chaining").count - 1
        #expect(notes == 1)
        #expect(fixture.output.stderr.contains("profile \"target\" asks for duration_seconds = 7200"))
    }

    @Test("instance credentials count as chaining too")
    func instanceSourceIsChained() {
        #expect(makeRole(source: .ec2InstanceMetadata).isChained)
        #expect(makeRole(source: .ecsContainer).isChained)
        #expect(!makeRole(source: .credentialProcess(profile: "p", command: "c")).isChained)
    }

    @Test("a source STS reveals as a role session: retried once at an hour, with the note")
    func chainingDiscovered() throws {
        let sts = STSAnswers.sts(now: SourcesFixture.now)
        let fixture = try SourcesFixture { request in
            let body = String(decoding: request.body, as: UTF8.self)
            if body.contains("DurationSeconds=7200") {
                return STSAnswers.error(400, code: "ValidationError",
                                        message: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
            }
            return sts(request)
        }
        let helper = "printf '{\"Version\":1,\"AccessKeyId\":\"ASIAHELPEREXAMPLE\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\"}'"
        let role = makeRole(source: .credentialProcess(profile: "sso", command: helper), duration: 7200)
        let credentials = try fixture.broker().credentials(for: role)
        #expect(credentials.accessKeyId.hasPrefix("ASIAROLE"))
        let durations = fixture.transport.requests(action: "AssumeRole").map { fixture.transport.form($0)["DurationSeconds"] }
        #expect(durations == ["7200", "3600"])
        #expect(fixture.output.stderr.contains("role chaining"))
    }
}

@Suite("Instance metadata (IMDSv2)")
struct InstanceMetadataTests {
    static let credentialsJSON = """
        {"Code":"Success","LastUpdated":"2027-01-15T07:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAINSTANCEEXAMPLE",
         "SecretAccessKey":"instance-secret","Token":"instance-token","Expiration":"2027-01-15T09:00:00Z"}
        """

    static func imds(tokenStatus: Int = 200, roles: String = "web-role\n") -> RoutedTransport.Route {
        { request in
            switch (request.method, request.url) {
            case ("PUT", "http://169.254.169.254/latest/api/token"):
                return tokenStatus == 200 ? STSAnswers.json(200, "imds-session-token") : STSAnswers.json(tokenStatus, "")
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"):
                return STSAnswers.json(roles.isEmpty ? 404 : 200, roles)
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/web-role"):
                return STSAnswers.json(200, credentialsJSON)
            default:
                return nil
            }
        }
    }

    @Test("PUT token with its TTL header, then role name and credentials with the token, 1-second timeouts")
    func imdsV2() throws {
        let transport = RoutedTransport(Self.imds())
        let credentials = try InstanceMetadataSource(transport: transport, environment: [:]).credentials()
        #expect(credentials.accessKeyId == "ASIAINSTANCEEXAMPLE")
        #expect(credentials.sessionToken == "instance-token")
        #expect(credentials.expiration == parseDate("2027-01-15T09:00:00Z"))
        let requests = transport.requests
        #expect(requests.map(\.method) == ["PUT", "GET", "GET"])
        #expect(requests[0].headers.contains { $0.name == "X-aws-ec2-metadata-token-ttl-seconds" && $0.value == "21600" })
        #expect(requests[1...].allSatisfy { $0.headers.contains { $0.name == "X-aws-ec2-metadata-token" && $0.value == "imds-session-token" } })
        #expect(transport.options.allSatisfy { $0.connectTimeout == 1 && $0.proxy == nil })
    }

    @Test("a token endpoint answering 403/404/405 means IMDSv1: the GETs go without a token")
    func v1Fallback() throws {
        let transport = RoutedTransport(Self.imds(tokenStatus: 404))
        _ = try InstanceMetadataSource(transport: transport, environment: [:]).credentials()
        #expect(transport.requests.dropFirst().allSatisfy { !$0.headers.contains { $0.name == "X-aws-ec2-metadata-token" } })
        let strict = RoutedTransport(Self.imds(tokenStatus: 403))
        expectSourceError(.imdsUnavailable) {
            _ = try InstanceMetadataSource(transport: strict, environment: ["AWS_EC2_METADATA_V1_DISABLED": "true"]).credentials()
        }
    }

    @Test("AWS_EC2_METADATA_DISABLED stops before any request")
    func disabled() {
        let transport = RoutedTransport { _ in nil }
        expectSourceError(.imdsDisabled) {
            _ = try InstanceMetadataSource(transport: transport, environment: ["AWS_EC2_METADATA_DISABLED": "TRUE"]).credentials()
        }
        #expect(transport.requests.isEmpty)
    }

    @Test("AWS_EC2_METADATA_SERVICE_ENDPOINT moves every request; a bad one is refused")
    func customEndpoint() throws {
        let transport = RoutedTransport { request in
            guard request.url.hasPrefix("http://127.0.0.1:9/") else { return nil }
            if request.method == "PUT" { return STSAnswers.json(200, "t") }
            return STSAnswers.json(200, request.url.hasSuffix("/") ? "r" : Self.credentialsJSON)
        }
        _ = try InstanceMetadataSource(transport: transport, environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/"]).credentials()
        #expect(transport.requests.last?.url == "http://127.0.0.1:9/latest/meta-data/iam/security-credentials/r")
        expectSourceError(.imdsInvalidEndpoint) {
            _ = try InstanceMetadataSource(transport: transport, environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "169.254.169.254"]).credentials()
        }
    }

    @Test("no instance role is said plainly; an unreachable service names the endpoint")
    func failures() {
        expectSourceError(.imdsNoRole) {
            _ = try InstanceMetadataSource(transport: RoutedTransport(Self.imds(roles: "")), environment: [:]).credentials()
        }
        let refused = RoutedTransport { _ in .failure(.couldNotConnect("Connection refused")) }
        let error = expectSourceError(.imdsUnavailable) {
            _ = try InstanceMetadataSource(transport: refused, environment: ["AWS_METADATA_SERVICE_NUM_ATTEMPTS": "2"]).credentials()
        }
        #expect(error?.message.contains("169.254.169.254") == true)
        #expect(refused.requests.count == 2)
    }

    @Test("credentials missing a field are a bad response naming the field, never the values")
    func incompleteCredentials() {
        let transport = RoutedTransport { request in
            if request.method == "PUT" { return STSAnswers.json(200, "t") }
            if request.url.hasSuffix("/") { return STSAnswers.json(200, "r") }
            return STSAnswers.json(200, #"{"AccessKeyId":"ASIAX","SecretAccessKey":"very-secret","Expiration":"2027-01-15T09:00:00Z"}"#)
        }
        let error = expectSourceError(.imdsBadResponse) {
            _ = try InstanceMetadataSource(transport: transport, environment: [:]).credentials()
        }
        #expect(error?.message.contains("Token") == true)
        #expect(error?.message.contains("very-secret") == false)
    }
}

@Suite("Container credentials (ECS, EKS Pod Identity)")
struct ContainerCredentialsTests {
    static let body = #"{"AccessKeyId":"ASIATASKEXAMPLEKEY","SecretAccessKey":"task-secret","Token":"task-token","Expiration":"2027-01-15T09:00:00Z","RoleArn":"arn:aws:iam::1:role/Task"}"#

    @Test("RELATIVE_URI goes to 169.254.170.2 without an Authorization header")
    func relative() throws {
        let transport = RoutedTransport { request in
            request.url == "http://169.254.170.2/v2/credentials/abc" ? STSAnswers.json(200, Self.body) : nil
        }
        let credentials = try ContainerCredentialsSource(
            transport: transport,
            environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "x"],
            sleep: { _ in }).credentials()
        #expect(credentials.accessKeyId == "ASIATASKEXAMPLEKEY")
        #expect(credentials.sessionToken == "task-token")
        #expect(transport.requests.first?.headers.contains { $0.name == "Authorization" } == false)
    }

    @Test("FULL_URI sends the token file's contents, read on every call")
    func fullWithTokenFile() throws {
        let fixture = try SourcesFixture { _ in nil }
        let tokenFile = try fixture.write("auth", "first-token\n")
        let transport = RoutedTransport { request in
            request.url == "http://127.0.0.1:8080/creds" ? STSAnswers.json(200, Self.body) : nil
        }
        let source = ContainerCredentialsSource(
            transport: transport,
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:8080/creds",
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN": "inline-loses"],
            sleep: { _ in })
        _ = try source.credentials()
        _ = try fixture.write("auth", "second-token")
        _ = try source.credentials()
        let tokens = transport.requests.map { $0.headers.first { $0.name == "Authorization" }?.value }
        #expect(tokens == ["first-token", "second-token"])
    }

    @Test("FULL_URI hosts: loopback and the agents' addresses only", arguments: [
        ("http://127.0.0.1/x", true), ("http://127.1.2.3:99/x", true), ("http://[::1]:80/x", true),
        ("http://localhost:8080/x", true), ("http://169.254.170.23/v1/credentials", true),
        ("http://[fd00:ec2::23]/v1/credentials", true), ("http://169.254.170.2/x", true),
        ("http://10.0.0.1/x", false), ("https://example.com/x", false), ("http://127.0.0.1.evil.test/x", false),
        ("http://user@10.1.1.1/x", false), ("ftp://127.0.0.1/x", false),
    ])
    func allowedHosts(_ url: String, allowed: Bool) {
        do {
            try ContainerCredentialsSource.checkAllowed(url)
            #expect(allowed, "\(url) should have been refused")
        } catch {
            #expect(!allowed, "\(url) should have been allowed")
            #expect(error.code == .containerHostNotAllowed)
        }
    }

    @Test("a refused host is never contacted")
    func refusedHostNotContacted() {
        let transport = RoutedTransport { _ in nil }
        expectSourceError(.containerHostNotAllowed) {
            _ = try ContainerCredentialsSource(transport: transport,
                                               environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"],
                                               sleep: { _ in }).credentials()
        }
        #expect(transport.requests.isEmpty)
    }

    @Test("3 attempts a second apart on server errors, then a clear error; not configured is said plainly")
    func retriesAndConfiguration() {
        let transport = RoutedTransport { _ in STSAnswers.json(500, "{}") }
        let sleeps = Counter()
        let error = expectSourceError(.containerUnavailable) {
            _ = try ContainerCredentialsSource(transport: transport,
                                               environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/c"],
                                               sleep: { _ in _ = sleeps.next() }).credentials()
        }
        #expect(transport.requests.count == 3)
        #expect(sleeps.next() == 3)
        #expect(error?.message.contains("HTTP 500") == true)
        expectSourceError(.containerNotConfigured) {
            _ = try ContainerCredentialsSource(transport: transport, environment: [:], sleep: { _ in }).credentials()
        }
    }

    @Test("the broker assumes the role with the container's credentials, capped at an hour")
    func throughBroker() throws {
        let sts = STSAnswers.sts(now: SourcesFixture.now)
        let fixture = try SourcesFixture(environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/c"]) { request in
            request.url == "http://169.254.170.2/c" ? STSAnswers.json(200, Self.body) : sts(request)
        }
        _ = try fixture.broker().credentials(for: makeRole(source: .ecsContainer, duration: 43200))
        let assume = try #require(fixture.transport.requests(action: "AssumeRole").first)
        #expect(fixture.transport.form(assume)["DurationSeconds"] == "3600")
        #expect(assume.headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == "task-token" })
    }
}

func parseDate(_ text: String) -> Date? {
    ISO8601DateFormatter().date(from: text)
}
