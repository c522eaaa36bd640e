import AWSConfig
import Foundation
@testable import Credentials
import Testing
import TestSupport

private let fixedNow = SourcesFixture.now

@Suite("credential_process as a source")
struct ProcessSourceTests {
    func run(_ command: String, environment: [String: String] = [:], timeout: Double = 10) throws -> AWSCredentialsView {
        var source = ProcessCredentialSource()
        source.timeout = timeout
        let credentials = try source.credentials(command: command, profile: "sso", roleProfile: "prod",
                                                 environment: environment, now: fixedNow)
        return AWSCredentialsView(accessKeyId: credentials.accessKeyId, sessionToken: credentials.sessionToken,
                                  expiration: credentials.expiration)
    }

    struct AWSCredentialsView: Equatable {
        var accessKeyId: String
        var sessionToken: String?
        var expiration: Date?
    }

    @Test("runs the words of the line, without a shell, and reads Version 1 JSON")
    func valid() throws {
        let result = try run(#"printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2027-01-15T09:00:00Z"}' ASIAPROC"#)
        #expect(result == AWSCredentialsView(accessKeyId: "ASIAPROC", sessionToken: "t", expiration: parseDate("2027-01-15T09:00:00Z")))
    }

    @Test("SessionToken and Expiration are optional")
    func minimal() throws {
        #expect(try run(#"echo '{"Version":1,"AccessKeyId":"AKIDPROC","SecretAccessKey":"s"}'"#)
            == AWSCredentialsView(accessKeyId: "AKIDPROC", sessionToken: nil, expiration: nil))
    }

    @Test("invalid output is refused by botocore's rules, without quoting it", arguments: [
        ("echo not json", "JSON object"),
        (#"echo '{"AccessKeyId":"A","SecretAccessKey":"hidden-secret"}'"#, "unsupported Version (none)"),
        (#"echo '{"Version":2,"AccessKeyId":"A","SecretAccessKey":"hidden-secret"}'"#, "'2'"),
        (#"echo '{"Version":"1","AccessKeyId":"A","SecretAccessKey":"hidden-secret"}'"#, "'1'"),
        (#"echo '{"Version":1,"SecretAccessKey":"hidden-secret"}'"#, "without AccessKeyId"),
        (#"echo '{"Version":1,"AccessKeyId":"A"}'"#, "without SecretAccessKey"),
        (#"echo '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"hidden-secret","Expiration":"tomorrow"}'"#, "RFC 3339"),
        (#"echo '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"hidden-secret","SessionToken":5}'"#, "SessionToken"),
    ])
    func invalid(_ command: String, expected: String) {
        let error = expectSourceError(.processInvalidOutput) { _ = try run(command) }
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("hidden-secret") == false)
        #expect(error?.message.contains("\"sso\"") == true)
    }

    @Test("expired credentials are refused")
    func expired() {
        expectSourceError(.processExpired) {
            _ = try run(#"echo '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2020-01-01T00:00:00Z"}'"#)
        }
    }

    @Test("a non-zero exit is an error with the status")
    func exitStatus() {
        let error = expectSourceError(.processFailed) { _ = try run(sh("echo '{}'; exit 7")) }
        #expect(error?.message.contains("exit status 7") == true)
    }

    @Test("a helper that overruns its time is stopped")
    func timeout() {
        let started = Date()
        expectSourceError(.processTimedOut) { _ = try run("sleep 30", timeout: 0.3) }
        // Not stopped, it would end after 30 s; a loaded machine stays well inside 15.
        #expect(Date().timeIntervalSince(started) < 15)
    }

    @Test("output beyond the limit stops the helper")
    func outputLimit() {
        expectSourceError(.processOutputTooLarge) { _ = try run(sh("yes '{}' | head -c 200000")) }
    }

    @Test("the helper sees our environment plus STSCACHE_CHAIN naming the role and source profiles")
    func chainMarker() throws {
        let fixture = try SourcesFixture { _ in nil }
        let seen = fixture.path + "/seen"
        _ = try run(
            sh(#"printf '%s|%s' "$STSCACHE_CHAIN" "$FROM_PARENT" > "$SEEN"; echo '{"Version":1,"AccessKeyId":"A","SecretAccessKey":"s"}'"#),
            environment: ["FROM_PARENT": "yes", "SEEN": seen, "STSCACHE_CHAIN": "outer"])
        #expect(try String(contentsOfFile: seen, encoding: .utf8) == "outer,prod,sso|yes")
    }

    @Test("the marker round-trips names with commas and percent signs")
    func markerEncoding() {
        let names = ["a,b", "50%", "plain"]
        let environment = ProcessChain.environment([:], adding: names)
        #expect(ProcessChain.names(in: environment) == names)
    }

    @Test("stscache asked for a profile already in STSCACHE_CHAIN refuses before touching the cache or STS")
    func loopRefused() throws {
        let fixture = try SourcesFixture(environment: ["STSCACHE_CHAIN": "prod,sso"]) { _ in nil }
        let error = expectSourceError(.processLoop) {
            _ = try fixture.broker().credentials(for: makeRole("prod"))
        }
        #expect(error?.message.contains("prod,sso") == false)
        #expect(error?.message.contains("prod -> sso -> prod") == true)
        #expect(fixture.transport.requests.isEmpty)
        // Another profile is fine (the cache is empty, so it goes to STS).
        let other = try SourcesFixture(environment: ["STSCACHE_CHAIN": "prod,sso"], route: STSAnswers.sts(now: fixedNow))
        _ = try other.broker().credentials(for: makeRole("unrelated"))
    }

    @Test("the broker assumes the role with the helper's credentials")
    func throughBroker() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: fixedNow))
        let helper = #"echo '{"Version":1,"AccessKeyId":"AKIDHELPEREXAMPLE","SecretAccessKey":"s"}'"#
        let credentials = try fixture.broker().credentials(for: makeRole(source: .credentialProcess(profile: "sso", command: helper)))
        #expect(credentials.accessKeyId == "ASIAROLE1EXAMPLEKEY")
        let authorization = fixture.transport.requests.first?.headers.first { $0.name == "Authorization" }?.value ?? ""
        #expect(authorization.contains("Credential=AKIDHELPEREXAMPLE/"))
    }
}
