import Foundation
import Testing
@testable import Credentials
@testable import StscacheCommands
import StscacheSupport
import TestSupport

private let loginARN = "arn:aws:iam::123456789012:user/alice"

/// `[profile console]` signed in with `aws login`, `[profile app]` delegating to it.
private let loginConfig = """
    [profile console]
    login_session = \(loginARN)
    region = eu-west-1

    [profile app]
    credential_process = stscache credential-process --profile console

    """

/// A session file as the CLI writes it (json.dumps layout).
private func sessionJSON(expiresAt: String, extra: String = "") -> String {
    #"{"accessToken": {"accessKeyId": "ASIALOGIN0000001", "secretAccessKey": "login-secret-1", "#
        + #""sessionToken": "login-token-1", "accountId": "123456789012", "expiresAt": "\#(expiresAt)"}, "#
        + #""tokenType": "aws_sigv4", "clientId": "arn:aws:signin:::devtools/same-device", "refreshToken": "rt-1", "#
        + #""idToken": "id.token.sig", "dpopKey": "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n""#
        + extra + "}"
}

@Suite("stscache prompt on an aws login profile", .testHome(config: loginConfig, credentials: nil))
struct PromptLoginSessionTests {
    let home = TestHome.current

    var sessionPath: String { home.path(".aws/login/cache/" + LoginSessionFile.fileName(forSession: loginARN)) }

    func writeSession(_ text: String, mode: mode_t = 0o600) throws {
        let directory = home.path(".aws/login/cache")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(home.path(".aws/login"), 0o700)
        chmod(directory, 0o700)
        try text.write(toFile: sessionPath, atomically: false, encoding: .utf8)
        #expect(chmod(sessionPath, mode) == 0)
    }

    @Test("shows the session file's accessToken.expiresAt, on the login profile and one delegating to it")
    func showsExpiresAt() throws {
        try writeSession(sessionJSON(expiresAt: Timestamps.formatRFC3339(now.addingTimeInterval(12 * 60 + 30))))
        let result = home.run(["prompt", "--profile", "console"])
        #expect(result.status == 0 && result.stderr == "")
        #expect(result.stdout == "console 12m\n")
        #expect(home.run(["prompt"], extra: ["AWS_PROFILE": "app"]).stdout == "app 12m\n")
        #expect(home.run(["prompt", "--profile", "console", "--format", "{role_arn} {session} {seconds} {state} {expires}"])
            .stdout == "\(loginARN) login-session 750 valid \(Timestamps.formatRFC3339(now.addingTimeInterval(750)))\n")
        // Within the refresh window of the login's 15-minute credentials, then past them.
        #expect(home.run(["prompt", "--profile", "console", "--format", "{remaining} {state}"],
                         clock: now.addingTimeInterval(600)).stdout == "2m refresh-due\n")
        #expect(home.run(["prompt", "--profile", "console"], clock: now.addingTimeInterval(751)).stdout
            == "console expired\n")
        // No stscache cache was needed or made.
        #expect(!home.exists(home.cacheDirectory))
    }

    @Test("the file's owner and mode are checked as for a refresh: a file others can read shows nothing")
    func modeChecked() throws {
        try writeSession(sessionJSON(expiresAt: Timestamps.formatRFC3339(now.addingTimeInterval(600))), mode: 0o644)
        let quiet = home.run(["prompt", "--profile", "console"])
        #expect(quiet.status == 0 && quiet.stdout == "" && quiet.stderr == "")
        let verbose = home.run(["prompt", "--profile", "console", "--verbose"])
        #expect(verbose.status == 0 && verbose.stdout == "")
        #expect(verbose.stderr.hasPrefix("stscache: prompt: ") && verbose.stderr.contains(sessionPath), "\(verbose.stderr)")
        #expect(verbose.stderr.split(separator: "\n").count == 1)
    }

    @Test("no session file, or one without a usable expiresAt: nothing, and --verbose says why")
    func missingOrBroken() throws {
        let none = home.run(["prompt", "--profile", "console", "--verbose"])
        #expect(none.status == 0 && none.stdout == "" && none.stderr.contains("no aws login session file"), "\(none.stderr)")
        try writeSession(sessionJSON(expiresAt: "tomorrow"))
        let bad = home.run(["prompt", "--profile", "console", "--verbose"])
        #expect(bad.stdout == "" && bad.stderr.contains("accessToken.expiresAt"), "\(bad.stderr)")
    }

    @Test("a login_session with a control character is refused by the config rules: nothing shown, none echoed")
    func controlCharacters() throws {
        try home.write(loginConfig + "[profile evil]\nlogin_session = arn:aws:iam::123456789012:user/\u{1B}[31mx\n",
                       to: ".aws/config")
        let result = home.run(["prompt", "--profile", "evil", "--verbose"])
        #expect(result.status == 0 && result.stdout == "")
        #expect(result.stderr.contains("login_session") && !result.stderr.contains("\u{1B}"), "\(result.stderr)")
    }
}

@Suite("LoginSessionFile.accessTokenExpiresAt: one member, nothing else decoded")
struct LoginSessionExpiresAtTests {
    func expiresAt(_ text: String) -> Date? { LoginSessionFile.accessTokenExpiresAt(in: Array(text.utf8)) }

    @Test("the CLI's file, and the forms of expiresAt the full parse takes")
    func found() {
        #expect(expiresAt(sessionJSON(expiresAt: "2026-12-07T17:00:00Z")) == Timestamps.parseRFC3339("2026-12-07T17:00:00Z"))
        #expect(expiresAt(#"{"accessToken":{"expiresAt":"2026-12-07T17:00:00Z"}}"#) != nil)
        // Whitespace, escapes and nesting elsewhere are stepped over.
        #expect(expiresAt(" {\n \"x\\\"\" : [1, -2.5e3, true, null, {\"a\": [\"\\u00e9\\n\"]}],\t\"accessToken\" : "
            + "{ \"expiresAt\" : \"2026-12-07T17:00:00Z\" } } ") != nil)
    }

    @Test("only accessToken.expiresAt counts: a look-alike inside another value or deeper is not it", arguments: [
        #"{"refreshToken": "\"accessToken\": {\"expiresAt\": \"2030-01-01T00:00:00Z\"}"}"#,
        #"{"other": {"accessToken": {"expiresAt": "2030-01-01T00:00:00Z"}}}"#,
        #"{"accessToken": {"other": {"expiresAt": "2030-01-01T00:00:00Z"}}}"#,
        #"{"expiresAt": "2030-01-01T00:00:00Z"}"#,
        #"{"accessToken": "2030-01-01T00:00:00Z"}"#,
        #"{"accessToken": {"expiresAt": 1893456000}}"#,
        #"{"accessToken": {"expiresAt": "2030-01-01T00:00:00\u005A"}}"#,
    ])
    func notFound(text: String) {
        #expect(expiresAt(text) == nil)
    }

    @Test("a member named twice counts by its first occurrence, as the full parse reads it", arguments: [
        #"{"accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}, "accessToken": {"expiresAt": "2030-01-01T00:00:00Z"}}"#,
        #"{"accessToken": {"expiresAt": "2026-12-07T17:00:00Z", "expiresAt": "2030-01-01T00:00:00Z"}}"#,
    ])
    func firstWins(text: String) {
        #expect(expiresAt(text) == Timestamps.parseRFC3339("2026-12-07T17:00:00Z"))
        #expect(JSONValue.parseObject(Array(text.utf8))?["accessToken"]?.object?["expiresAt"]?.string
            == "2026-12-07T17:00:00Z")
    }

    @Test("anything that is not one well-formed JSON object is refused", arguments: [
        "", "[]", "{", #"{"accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}"#,
        #"{"accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}} trailing"#,
        #"{"accessToken": {"expiresAt": "2026-12-07T17:00:00Z"},}"#,
        #"{"a": "unterminated, "accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}}"#,
        "{\"a\": \"raw\ncontrol\", \"accessToken\": {\"expiresAt\": \"2026-12-07T17:00:00Z\"}}",
        #"{"a": "\q", "accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}}"#,
        #"{"a": tru, "accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}}"#,
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        #"{"a": "#  + String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            + #", "accessToken": {"expiresAt": "2026-12-07T17:00:00Z"}}"#,
    ])
    func malformed(text: String) {
        #expect(expiresAt(text) == nil)
    }

    @Test("a file over the size limit is not read at all")
    func tooLarge() {
        let padding = String(repeating: "x", count: LoginSessionFile.sizeLimit)
        #expect(expiresAt(sessionJSON(expiresAt: "2026-12-07T17:00:00Z", extra: #", "pad": "\#(padding)""#)) == nil)
    }
}
