import AWSConfig
import CredentialCache
import Foundation
import OpenSSLCrypto
@testable import Credentials
@testable import StscacheCommands
import STS
import StscacheSupport
import Testing
import Transport
import TestSupport

/// One error protocol: every error a user can meet has a code in the one spelling and reaches
/// the terminal as its own message, never as "unexpected error".
@Suite("One error protocol")
struct ErrorProtocolTests {
    static func isOneSpelling(_ code: String) -> Bool {
        code.range(of: #"^[a-z0-9]+\.[a-z0-9]+(-[a-z0-9]+)*$"#, options: .regularExpression) != nil
    }

    /// One error of every type, made the way the code makes them where that is public.
    static func samples() throws -> [any Error] {
        var errors: [any Error] = [
            TransportError.couldNotConnect("Failed to connect to 127.0.0.1 port 9"),
            TransportError.libraryUnavailable("libcurl.so.4: cannot open shared object file"),
            CryptoError.randomUnavailable(errno: EIO),
            CacheError.environmentKeyMissing,
            CacheError.lockTimeout(roleArn: "arn:aws:iam::1:role/R", path: "/tmp/x.lock", seconds: 3),
            SourceError(.imdsNoRole, "no role is attached to this instance"),
            CommandError(.terminalRefused, "not printing credentials to a terminal"),
            BrokerError.incompleteCredentials("arn:aws:iam::1:role/R"),
            UsageError(.invalidSetting, "refresh window 'soon' is not a duration"),
            AccessKeyStoreError.tampered(path: "/tmp/access-keys", profile: "base"),
            KeysError.notStored(profile: "base", roleProfile: "prod-role"),
        ]
        do {
            _ = try STSEndpoint.resolve(region: "eu west", endpointURL: nil, stsRegionalEndpoints: nil)
        } catch {
            errors.append(error)
        }
        do {
            _ = try ProfileResolver.resolve(profile: "missing", files: ConfigFiles(config: nil, credentials: nil, configPath: "/nowhere/config", credentialsPath: "/nowhere/credentials"),
                                            environment: [:], userName: "alice")
        } catch {
            errors.append(error)
        }
        return errors
    }

    @Test("every user-facing error type conforms, with a code in the one spelling and its own one-line message")
    func everyTypeConforms() throws {
        let samples = try Self.samples()
        #expect(samples.count == 13)
        for error in samples {
            let userFacing = try #require(error as? any UserFacingError, "\(type(of: error)) is not a UserFacingError")
            #expect(Self.isOneSpelling(userFacing.errorCode), "\(type(of: error)): \(userFacing.errorCode)")
            let line = describe(error)
            #expect(!line.contains("unexpected error"), "\(line)")
            #expect(line == oneLine(userFacing.message) && !line.isEmpty)
        }
    }

    @Test("every code of the enumerable error kinds is spelled one way")
    func allCodes() {
        for code in ConfigError.Code.allCases {
            #expect(Self.isOneSpelling("config." + code.rawValue), "\(code.rawValue)")
        }
    }

    @Test("a transport error that escapes a source reaches the user with its own message and exit status 1")
    func transportErrorIsReported() throws {
        let home = try TestHome()
        let output = CapturedOutput()
        let status = StscacheMain.report(TransportError.couldNotConnect("Failed to connect"),
                                         context: home.context(output: output))
        #expect(status == 1)
        #expect(output.stderr == "stscache: could not connect: Failed to connect\n")
    }

    @Test("an endpoint's error message reaches stderr as one line with its control characters escaped")
    func hostileErrorMessageEscaped() throws {
        let fixture = try SourcesFixture { _ in
            // ESC itself is not an XML character (the decoder refuses the document); a C1 CSI
            // and a bidi override are, and terminals act on both.
            STSAnswers.error(403, code: "AccessDenied", message: "denied\u{9b}2J\u{202e}nimda\nsecond line")
        }
        let error = #expect(throws: (any Error).self) { try fixture.broker().credentials(for: makeRole()) }
        let line = describe(try #require(error))
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{202e}" })
        #expect(line.contains(#"denied\u{9b}2J\u{202e}nimda second line"#), "\(line)")
    }
}
