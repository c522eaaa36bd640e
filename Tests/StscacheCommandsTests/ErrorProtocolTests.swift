import AWSConfig
import CredentialCache
import Foundation
import KeepWarm
import LocalEndpoint
import OpenSSLCrypto
import Setup
@testable import Credentials
@testable import SignIn
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
        // The domain may be kebab-case too (`identity-center`).
        code.range(of: #"^[a-z0-9]+(-[a-z0-9]+)*\.[a-z0-9]+(-[a-z0-9]+)*$"#, options: .regularExpression) != nil
    }

    /// One error of every type (every domain of `CodedError`), made the way the code makes
    /// them where that is reachable from here. `everyTypeHasASample` keeps the list complete.
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
            SetupError(.nameTaken, "profile \"prod-role\" already exists; remove it or rename it, then run setup again"),
            IdentityCenterError(.notLoggedIn, "not signed in to https://example.awsapps.com/start; run 'stscache login'"),
            LoginSessionError(.loginExpired, "AWS Sign-In ended the aws login session of profile \"console\"; sign in again"),
            CachingAgent.Failure(.alreadyRunning, "an agent already runs on the cache /tmp/cache (pid 42)"),
            EndpointServer.Failure(.socket, "could not listen on 127.0.0.1 for the local credentials endpoint"),
        ]
        func thrown(_ body: () throws -> Void) {
            do { try body() } catch { errors.append(error) }
        }
        thrown { _ = try STSEndpoint.resolve(region: "eu west", endpointURL: nil, stsRegionalEndpoints: nil) }
        thrown {
            _ = try ProfileResolver.resolve(profile: "missing", files: ConfigFiles(config: nil, credentials: nil, configPath: "/nowhere/config", credentialsPath: "/nowhere/credentials"),
                                            environment: [:], userName: "alice")
        }
        thrown { _ = try ConsoleSignIn.checkDestination("javascript:alert(1)") }
        thrown { _ = try BrowserLaunch.opener(environment: ["BROWSER": "'unterminated"], fallback: "--no-browser") }
        thrown { _ = try LoginSessionSignIn.Authorization(verifier: "v", state: "s").pastedCode("") }
        return errors
    }

    /// `Module.Type` for every type declared in Sources/ that conforms to `UserFacingError` or
    /// `ErrorCode`, read from the source text (a type the build knows but no test names cannot be
    /// found at run time). The generic `CodedError` is left out: its domains are listed instead.
    static func declaredErrorTypes() throws -> Set<String> {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") } ?? []
        let declaration = try NSRegularExpression(
            pattern: #"\b(?:struct|enum|class|actor|extension)\s+([A-Za-z_][\w.]*)(<[^>{]*>)?\s*:([^{]*)\{"#)
        var found: Set<String> = []
        for file in files {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false)
                .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
                .joined(separator: "\n")
            let module = String(file.prefix { $0 != "/" })
            for match in declaration.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let name = Range(match.range(at: 1), in: text).map({ String(text[$0]) }),
                      let conformances = Range(match.range(at: 3), in: text).map({ String(text[$0]) }),
                      match.range(at: 2).location == NSNotFound,
                      conformances.range(of: #"\b(UserFacingError|ErrorCode)\b"#, options: .regularExpression) != nil
                else { continue }
                found.insert(module + "." + (name.split(separator: ".").last.map(String.init) ?? name))
            }
        }
        return found
    }

    /// The `Module.Type` names a sample's type is made of: `KeepWarm.CachingAgent.Failure`, or
    /// for a `CodedError`, `StscacheSupport.CodedError` and its codes' type.
    static func sampledTypes(_ error: any Error) -> Set<String> {
        let reflected = String(reflecting: type(of: error))
        var names: Set<String> = []
        var rest = Substring(reflected)
        while let range = rest.range(of: #"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"#, options: .regularExpression) {
            let parts = rest[range].split(separator: ".")
            if let module = parts.first, let name = parts.last { names.insert(module + "." + name) }
            rest = rest[range.upperBound...]
        }
        return names
    }

    @Test("every user-facing error type and every code domain in Sources/ has a sample")
    func everyTypeHasASample() throws {
        let declared = try Self.declaredErrorTypes()
        // The scan itself works: it sees an enum, a struct, a nested type and a domain of codes.
        #expect(declared.isSuperset(of: ["Transport.TransportError", "AWSConfig.ConfigError", "Setup.SetupErrorCode",
                                         "KeepWarm.AgentErrorCode", "SignIn.BrowserErrorCode"]), "\(declared.sorted())")
        let sampled = try Self.samples().reduce(into: Set<String>()) { $0.formUnion(Self.sampledTypes($1)) }
        for name in declared.subtracting(sampled).sorted() {
            Issue.record("\(name) has no sample: add one to ErrorProtocolTests.samples()")
        }
    }

    @Test("every user-facing error type conforms, with a code in the one spelling and its own one-line message")
    func everyTypeConforms() throws {
        let samples = try Self.samples()
        for error in samples {
            let userFacing = try #require(error as? any UserFacingError, "\(type(of: error)) is not a UserFacingError")
            #expect(Self.isOneSpelling(userFacing.errorCode), "\(type(of: error)): \(userFacing.errorCode)")
            let line = describe(error)
            #expect(!line.contains("unexpected error"), "\(line)")
            #expect(line == oneLine(userFacing.message) && !line.isEmpty)
        }
    }

    @Test("every code of the enumerable error kinds is spelled one way; no two domains share a name")
    func allCodes() throws {
        for code in ConfigError.Code.allCases {
            #expect(Self.isOneSpelling("config." + code.rawValue), "\(code.rawValue)")
        }
        var domains: [String: String] = ["config": "ConfigError"]
        for error in try Self.samples() {
            guard let coded = type(of: error) as? any ListsCodes.Type else { continue }
            let name = String(reflecting: type(of: error))
            #expect(domains[coded.domain, default: name] == name, "\(name) and \(domains[coded.domain] ?? "") share \(coded.domain)")
            domains[coded.domain] = name
            for code in coded.everyCode {
                #expect(Self.isOneSpelling(code) && code.hasPrefix(coded.domain + "."), "\(name): \(code)")
            }
        }
        #expect(domains["browser"] != nil && domains["console"] != nil)
    }

    @Test("an exit status other than 1 comes with the code, wherever it is thrown")
    func exitStatusFollowsTheCode() {
        #expect(SourceError(.mfaNotAsked, "x").exitStatus == StscacheExitStatus.mfaNotAsked)
        #expect(CommandError(.commandNotFound, "x").exitStatus == 127)
        #expect(CommandError(.commandNotExecutable, "x").exitStatus == 126)
        #expect(CommandError(.spawnFailed, "x").exitStatus == 1 && SetupError(.noBackup, "x").exitStatus == 1)
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

/// Every code of a `CodedError`'s domain, from its type alone (a sample is one value).
private protocol ListsCodes {
    static var domain: String { get }
    static var everyCode: [String] { get }
}

extension CodedError: ListsCodes {
    fileprivate static var domain: String { Code.domain }
    fileprivate static var everyCode: [String] { Code.allCases.map { Code.domain + "." + $0.rawValue } }
}
