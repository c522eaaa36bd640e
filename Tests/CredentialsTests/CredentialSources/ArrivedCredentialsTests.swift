import AWSConfig
import Foundation
import SigV4
@testable import Credentials
import Testing
import Transport
import TestSupport

/// Issue 10, item 1: credentials that arrive from outside are checked before anything caches,
/// uses or prints them, whichever source sent them.
@Suite("Arriving credentials are checked, from every source")
struct ArrivedCredentialsTests {
    /// A hostile value for each field, and the field the error must name.
    struct Hostile: Sendable, CustomTestStringConvertible {
        var label: String
        var accessKeyId = "ASIAEXAMPLEHOSTILE01"
        var secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        var sessionToken = "FwoGZXIvYXdzEBYaDExampleSessionToken+/="
        var field: String
        var testDescription: String { label }

        /// The value under test, which no message may contain.
        var value: String {
            switch field {
            case "AccessKeyId": return accessKeyId
            case "SecretAccessKey": return secretAccessKey
            default: return sessionToken
            }
        }
    }

    static let hostile: [Hostile] = [
        Hostile(label: "token: quote + combining acute", sessionToken: "tok'\u{301}; touch /tmp/pwned; #", field: "SessionToken"),
        Hostile(label: "token: prepend U+0600 + quote", sessionToken: "tok\u{600}'; touch /tmp/pwned; #", field: "SessionToken"),
        Hostile(label: "token: line break", sessionToken: "tok\nexport PATH=/tmp", field: "SessionToken"),
        Hostile(label: "token: command substitution", sessionToken: "tok$(touch-pwned)", field: "SessionToken"),
        Hostile(label: "secret: backtick", secretAccessKey: "secret`touch pwned`", field: "SecretAccessKey"),
        Hostile(label: "secret: backslash", secretAccessKey: "secret\\'x", field: "SecretAccessKey"),
        Hostile(label: "key id: lowercase", accessKeyId: "ASIAlowercase00001", field: "AccessKeyId"),
        Hostile(label: "key id: space", accessKeyId: "ASIA SPACE 0000001", field: "AccessKeyId"),
        Hostile(label: "key id: too short", accessKeyId: "ASIASHORT", field: "AccessKeyId"),
    ]

    static func xml(action: String, _ hostile: Hostile, roleArn: String?) -> String {
        let user = roleArn.map {
            "<AssumedRoleUser><Arn>\($0)/session</Arn><AssumedRoleId>AROAEXAMPLE:session</AssumedRoleId></AssumedRoleUser>"
        } ?? ""
        return """
            <\(action)Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><\(action)Result>\(user)
            <Credentials><AccessKeyId>\(hostile.accessKeyId)</AccessKeyId>
            <SecretAccessKey>\(hostile.secretAccessKey)</SecretAccessKey>
            <SessionToken>\(hostile.sessionToken)</SessionToken>
            <Expiration>\(STSAnswers.iso(SourcesFixture.now + 3600))</Expiration></Credentials>
            </\(action)Result></\(action)Response>
            """
    }

    static func json(_ hostile: Hostile, tokenField: String) -> String {
        func quoted(_ text: String) -> String {
            let data = try! JSONSerialization.data(withJSONObject: [text], options: [])
            return String(decoding: data, as: UTF8.self).dropFirst().dropLast().description
        }
        return #"{"Code":"Success","AccessKeyId":\#(quoted(hostile.accessKeyId)),"SecretAccessKey":\#(quoted(hostile.secretAccessKey)),"#
            + #""\#(tokenField)":\#(quoted(hostile.sessionToken)),"Expiration":"2027-01-15T09:00:00Z"}"#
    }

    /// The error names the source and the field, never the value; nothing reached the cache.
    func expectRefused(_ fixture: SourcesFixture, _ hostile: Hostile, naming source: String,
                       sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        let error = expectSourceError(.malformedCredentials, sourceLocation: sourceLocation, body)
        let message = error?.message ?? ""
        #expect(message.contains(source), "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains("malformed \(hostile.field)"), "\(message)", sourceLocation: sourceLocation)
        #expect(!message.contains(hostile.value), sourceLocation: sourceLocation)
        #expect(!message.contains("\n"), sourceLocation: sourceLocation)
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: fixture.path + "/cache")) ?? []
        #expect(!cached.contains { $0.hasSuffix(".entry") }, "cache: \(cached)", sourceLocation: sourceLocation)
        #expect(fixture.output.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test("STS AssumeRole", arguments: hostile)
    func assumeRole(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture { _ in STSAnswers.ok(Self.xml(action: "AssumeRole", hostile, roleArn: "arn:aws:sts::1:assumed-role/R")) }
        expectRefused(fixture, hostile, naming: "STS AssumeRole for arn:aws:iam::1:role/Admin at https://sts.test.invalid") {
            _ = try fixture.broker().credentials(for: makeRole())
        }
    }

    @Test("STS AssumeRoleWithWebIdentity", arguments: hostile.prefix(3))
    func webIdentity(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture { _ in
            STSAnswers.ok(Self.xml(action: "AssumeRoleWithWebIdentity", hostile, roleArn: "arn:aws:sts::1:assumed-role/W"))
        }
        let tokenFile = try fixture.write("token", "a.jwt.token")
        expectRefused(fixture, hostile, naming: "STS AssumeRoleWithWebIdentity for arn:aws:iam::1:role/Admin") {
            _ = try fixture.broker().credentials(for: makeRole(source: .webIdentity(tokenFile: tokenFile)))
        }
    }

    @Test("STS GetSessionToken (the MFA session): refused before it is cached, and no AssumeRole with it",
          arguments: hostile.prefix(3))
    func mfaSession(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture { request in
            String(decoding: request.body, as: UTF8.self).contains("Action=GetSessionToken")
                ? STSAnswers.ok(Self.xml(action: "GetSessionToken", hostile, roleArn: nil)) : nil
        }
        let serial = "arn:aws:iam::1:mfa/alice"
        let settings = MFASessionSettings(serialNumber: serial, serialProfile: "base")
        let broker = try fixture.broker(terminal: ScriptedTerminal(["123456"]))
        expectRefused(fixture, hostile, naming: "STS GetSessionToken for MFA device \(serial)") {
            _ = try broker.credentials(for: makeRole(mfaSerial: serial, mfaSession: settings))
        }
        #expect(fixture.transport.actions == ["GetSessionToken"])
    }

    @Test("the instance metadata service", arguments: hostile.prefix(3) + hostile.suffix(1))
    func instanceMetadata(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture { request in
            switch (request.method, request.url) {
            case ("PUT", _): return STSAnswers.json(200, "imds-session-token")
            case (_, "http://169.254.169.254/latest/meta-data/iam/security-credentials/"): return STSAnswers.json(200, "web-role")
            case (_, "http://169.254.169.254/latest/meta-data/iam/security-credentials/web-role"):
                return STSAnswers.json(200, Self.json(hostile, tokenField: "Token"))
            default: return nil
            }
        }
        expectRefused(fixture, hostile, naming: "the instance metadata service") {
            _ = try fixture.broker().credentials(for: makeRole(source: .ec2InstanceMetadata))
        }
        #expect(fixture.transport.actions.isEmpty, "STS must not be called with them")
    }

    @Test("the container credentials endpoint", arguments: hostile.prefix(3) + hostile.suffix(1))
    func container(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture(environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/c"]) { request in
            request.url == "http://169.254.170.2/c" ? STSAnswers.json(200, Self.json(hostile, tokenField: "Token")) : nil
        }
        expectRefused(fixture, hostile, naming: "the container credentials endpoint") {
            _ = try fixture.broker().credentials(for: makeRole(source: .ecsContainer))
        }
        #expect(fixture.transport.actions.isEmpty)
    }

    @Test("a credential_process source", arguments: hostile.prefix(3) + hostile.suffix(2))
    func credentialProcess(_ hostile: Hostile) throws {
        let fixture = try SourcesFixture { _ in nil }
        let output = try fixture.write("helper-output.json",
                                       #"{"Version":1,"#.appending(Self.json(hostile, tokenField: "SessionToken").dropFirst()))
        let role = makeRole(source: .credentialProcess(profile: "sso", command: "cat '\(output)'"))
        expectRefused(fixture, hostile, naming: #"credential_process of profile "sso""#) {
            _ = try fixture.broker().credentials(for: role)
        }
        #expect(fixture.transport.actions.isEmpty)
    }

    @Test("the user's own keys are not checked: short example keys still sign")
    func ownKeysUnchecked() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: SourcesFixture.now))
        // staticBase is AKIDBASE / base-secret: too short for the rule, and nobody's business but the user's.
        let credentials = try fixture.broker().credentials(for: makeRole())
        #expect(credentials.accessKeyId == "ASIAROLE1EXAMPLEKEY")
    }
}
