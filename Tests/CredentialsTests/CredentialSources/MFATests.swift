import AWSConfig
import Foundation
@testable import Credentials
import Testing
import Transport
import TestSupport

private let serial = "arn:aws:iam::1:mfa/alice"

@Suite("MFA codes")
struct MFACodeSourceTests {
    func source(_ environment: [String: String] = [:], terminal: ScriptedTerminal? = nil) -> MFACodeSource {
        MFACodeSource(environment: environment, openTerminal: { terminal })
    }

    @Test("mfa_process comes first: its trimmed stdout is the code")
    func processFirst() throws {
        let terminal = ScriptedTerminal([])
        let code = try source(["STSCACHE_MFA_TOKEN": "222222"], terminal: terminal)
            .code(serial: serial, mfaProcess: "printf ' 111111\\n'", purpose: "profile \"prod\"")
        #expect(code == "111111")
        #expect(terminal.written.isEmpty)
    }

    @Test("STSCACHE_MFA_TOKEN comes before the prompt")
    func environmentSecond() throws {
        let terminal = ScriptedTerminal([])
        #expect(try source(["STSCACHE_MFA_TOKEN": "222222"], terminal: terminal)
            .code(serial: serial, mfaProcess: nil, purpose: "p") == "222222")
        #expect(terminal.written.isEmpty)
    }

    @Test("the prompt names the device and what it is for, and reads one line")
    func prompt() throws {
        let terminal = ScriptedTerminal(["333333"])
        #expect(try source(terminal: terminal).code(serial: serial, mfaProcess: nil, purpose: "profile \"prod\"") == "333333")
        #expect(terminal.written == "stscache: MFA code for \(serial) (profile \"prod\"): ")
    }

    @Test("no terminal and no other source is an immediate error that says what to set")
    func noTerminal() {
        let error = expectSourceError(.mfaNoTerminal) {
            _ = try source().code(serial: serial, mfaProcess: nil, purpose: "profile \"prod\"")
        }
        #expect(error?.message.contains("mfa_process") == true)
        #expect(error?.message.contains("STSCACHE_MFA_TOKEN") == true)
        #expect(error?.message.contains(serial) == true)
    }

    @Test("STSCACHE_NONINTERACTIVE=1: neither mfa_process nor the terminal is asked; a given token still works")
    func nonInteractive() throws {
        let terminal = ScriptedTerminal(["333333"])
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("mfa-process-ran-\(UUID().uuidString)").path
        let error = expectSourceError(.mfaNotAsked) {
            _ = try source(["STSCACHE_NONINTERACTIVE": "1"], terminal: terminal)
                .code(serial: serial, mfaProcess: "touch \(marker)", purpose: "profile \"prod\"")
        }
        #expect(error?.message.contains(serial) == true)
        #expect(error?.exitStatus == 75, "the agent tells a session that needs a person by this status")
        #expect(SourceError(.mfaInvalidCode, "x").exitStatus == 1)
        #expect(terminal.written.isEmpty, "nothing was shown on the terminal")
        #expect(!FileManager.default.fileExists(atPath: marker), "the mfa_process did not run")
        #expect(try source(["STSCACHE_NONINTERACTIVE": "1", "STSCACHE_MFA_TOKEN": "222222"], terminal: terminal)
            .code(serial: serial, mfaProcess: nil, purpose: "p") == "222222")
        #expect(try source(["STSCACHE_NONINTERACTIVE": "0"], terminal: terminal)
            .code(serial: serial, mfaProcess: nil, purpose: "p") == "333333", "only 1 turns it on")
    }

    @Test("codes that are not six digits are refused without being echoed", arguments: ["12345", "1234567", "12a456", "", "123 456"])
    func invalidCodes(_ text: String) {
        let error = expectSourceError(.mfaInvalidCode) {
            _ = try source(terminal: ScriptedTerminal([text])).code(serial: serial, mfaProcess: nil, purpose: "p")
        }
        if text.count >= 5 { #expect(error?.message.contains(text) == false) }
    }

    @Test("end of input at the prompt is an error, not an empty code")
    func endOfInput() {
        expectSourceError(.mfaInvalidCode) {
            _ = try source(terminal: ScriptedTerminal([nil])).code(serial: serial, mfaProcess: nil, purpose: "p")
        }
    }

    @Test("a failing mfa_process reports its exit status")
    func processFails() {
        let error = expectSourceError(.mfaProcessFailed) {
            _ = try source().code(serial: serial, mfaProcess: sh("echo oops >&2; exit 3"), purpose: "profile \"prod\"")
        }
        #expect(error?.message.contains("exit status 3") == true)
    }

    @Test("an mfa_process printing something else is an invalid code")
    func processPrintsGarbage() {
        expectSourceError(.mfaInvalidCode) {
            _ = try source().code(serial: serial, mfaProcess: "echo not-a-code", purpose: "p")
        }
    }

    @Test("the same code is never sent twice for one device")
    func neverReused() throws {
        let codes = source(["STSCACHE_MFA_TOKEN": "444444"])
        #expect(try codes.code(serial: serial, mfaProcess: nil, purpose: "p") == "444444")
        expectSourceError(.mfaCodeReused) { _ = try codes.code(serial: serial, mfaProcess: nil, purpose: "p") }
        // Another device may take the same digits.
        #expect(try codes.code(serial: "arn:aws:iam::1:mfa/other", mfaProcess: nil, purpose: "p") == "444444")
    }
}

@Suite("MFA through the broker")
struct MFABrokerTests {
    @Test("a role with mfa_serial and long-term keys: GetSessionToken with the code, then AssumeRole without it")
    func sessionThenRole() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: SourcesFixture.now))
        let terminal = ScriptedTerminal(["123456"])
        let broker = try fixture.broker(terminal: terminal)
        let settings = MFASessionSettings(serialNumber: serial, durationSeconds: 7200, serialProfile: "prod")
        let credentials = try broker.credentials(for: makeRole(mfaSerial: serial, mfaSession: settings))
        #expect(credentials.accessKeyId == "ASIAROLE2EXAMPLEKEY")
        #expect(fixture.transport.actions == ["GetSessionToken", "AssumeRole"])
        let getSession = fixture.transport.form(fixture.transport.requests[0])
        #expect(getSession["SerialNumber"] == serial)
        #expect(getSession["TokenCode"] == "123456")
        #expect(getSession["DurationSeconds"] == "7200")
        let assume = fixture.transport.form(fixture.transport.requests[1])
        #expect(assume["SerialNumber"] == nil)
        #expect(assume["TokenCode"] == nil)
        // AssumeRole is signed with the MFA session, not the long-term keys.
        let authorization = fixture.transport.requests[1].headers.first { $0.name == "Authorization" }?.value ?? ""
        #expect(authorization.contains("Credential=ASIAMFA1EXAMPLEKEY/"))
        #expect(fixture.transport.requests[1].headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == "token-ASIAMFA1EXAMPLEKEY" })
        #expect(terminal.prompts == 1)
    }

    @Test("two MFA roles from one source ask for one code: the MFA session is cached")
    func twoRolesOneCode() throws {
        let fixture = try SourcesFixture(route: STSAnswers.sts(now: SourcesFixture.now))
        let terminal = ScriptedTerminal(["123456"])
        let settings = MFASessionSettings(serialNumber: serial, serialProfile: "base")
        let first = makeRole("dev", arn: "arn:aws:iam::1:role/Dev", mfaSession: settings)
        let second = makeRole("ops", arn: "arn:aws:iam::1:role/Ops", mfaSession: settings)
        _ = try fixture.broker(terminal: terminal).credentials(for: first)
        // A new process: new broker, same cache directory.
        _ = try fixture.broker(terminal: ScriptedTerminal([])).credentials(for: second)
        #expect(fixture.transport.actions == ["GetSessionToken", "AssumeRole", "AssumeRole"])
        #expect(terminal.prompts == 1)
        let roles = fixture.transport.requests(action: "AssumeRole").map { fixture.transport.form($0)["RoleArn"] }
        #expect(roles == ["arn:aws:iam::1:role/Dev", "arn:aws:iam::1:role/Ops"])
    }

    @Test("the MFA session entry is keyed by device and source name, apart from role entries; keys never in its name")
    func sessionKey() {
        let settings = MFASessionSettings(serialNumber: serial, serialProfile: "base")
        let role = makeRole(mfaSession: settings)
        let key = CredentialBroker.mfaSessionKey(for: role, settings: settings)
        #expect(key.roleArn == serial)
        #expect(key != CredentialBroker.cacheKey(for: role))
        #expect(!(key.sourceIdentity ?? "").contains("AKID"))
    }

    @Test("an MFA session fetched with one source's keys is not served to other keys under the same profile name")
    func sessionBoundToSourceKeys() throws {
        let fixture = try SourcesFixture(environment: ["STSCACHE_MFA_TOKEN": "123456"], route: STSAnswers.sts(now: SourcesFixture.now))
        let settings = MFASessionSettings(serialNumber: serial, serialProfile: "base")
        _ = try fixture.broker().credentials(for: makeRole(mfaSession: settings))
        // The same profile name with other keys (another AWS_SHARED_CREDENTIALS_FILE): the MFA
        // session of the first keys must not sign for them; they make their own.
        let other = CredentialSource.staticKeys(profile: "base", StaticKeys(accessKeyId: "AKIDOTHER", secretAccessKey: "other-secret"))
        fixture.environment = ["STSCACHE_MFA_TOKEN": "654321"]
        _ = try fixture.broker().credentials(for: makeRole("dev", arn: "arn:aws:iam::1:role/Dev", source: other, mfaSession: settings))
        let signers = fixture.transport.requests.map(signingKeyId)
        #expect(fixture.transport.actions == ["GetSessionToken", "AssumeRole", "GetSessionToken", "AssumeRole"])
        #expect(signers[0] == "AKIDBASE")
        #expect(signers[2] == "AKIDOTHER")
    }

    @Test("a chained role with mfa_serial sends the code on AssumeRole itself")
    func codeOnAssumeRole() throws {
        let fixture = try SourcesFixture(environment: ["STSCACHE_MFA_TOKEN": "654321"], route: STSAnswers.sts(now: SourcesFixture.now))
        let jump = makeRole("jump", arn: "arn:aws:iam::1:role/Jump")
        let target = makeRole("target", arn: "arn:aws:iam::1:role/Target", source: .role(jump), mfaSerial: serial)
        _ = try fixture.broker().credentials(for: target)
        #expect(fixture.transport.actions == ["AssumeRole", "AssumeRole"])
        let second = fixture.transport.form(fixture.transport.requests[1])
        #expect(second["RoleArn"] == "arn:aws:iam::1:role/Target")
        #expect(second["SerialNumber"] == serial)
        #expect(second["TokenCode"] == "654321")
        #expect(fixture.transport.form(fixture.transport.requests[0])["TokenCode"] == nil)
    }

    @Test("a code STS refuses gives a retry hint, and nothing is cached")
    func rejectedCode() throws {
        let fixture = try SourcesFixture(environment: ["STSCACHE_MFA_TOKEN": "000000"]) { request in
            STSAnswers.error(403, code: "AccessDenied", message: "MultiFactorAuthentication failed with invalid MFA one time pass code.")
        }
        let settings = MFASessionSettings(serialNumber: serial, serialProfile: "base")
        let error = expectSourceError(.mfaCodeRejected) {
            _ = try fixture.broker().credentials(for: makeRole(mfaSession: settings))
        }
        #expect(error?.message.contains("Wait for the next code") == true)
        #expect(error?.message.contains("000000") == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.path + "/cache").filter { $0.hasSuffix(".entry") }.isEmpty)
    }

    @Test("an AccessDenied that is not about MFA stays STS's error")
    func otherAccessDenied() throws {
        let fixture = try SourcesFixture(environment: ["STSCACHE_MFA_TOKEN": "000000"]) { _ in
            STSAnswers.error(403, code: "AccessDenied", message: "User is not authorized to perform: sts:AssumeRole")
        }
        #expect(throws: (any Error).self) {
            do {
                _ = try fixture.broker().credentials(for: makeRole(source: .role(makeRole("jump")), mfaSerial: serial))
            } catch let error as SourceError {
                Issue.record("unexpected SourceError \(error.code)")
                throw error
            }
        }
    }
}

/// The access key id in a SigV4 `Authorization` header's `Credential=`.
func signingKeyId(_ request: HTTPRequest) -> String? {
    guard let authorization = request.headers.first(where: { $0.0.lowercased() == "authorization" })?.1,
          let range = authorization.range(of: "Credential=") else { return nil }
    return String(authorization[range.upperBound...].prefix(while: { $0 != "/" }))
}
