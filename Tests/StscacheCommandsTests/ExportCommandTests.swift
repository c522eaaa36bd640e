import Foundation
import Testing
import AWSConfig
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

@Suite("stscache export")
struct ExportCommandTests {
    /// A secret holding every character the quoting has to survive.
    static let awkward = CachedCredentials(
        accessKeyId: "ASIAAWKWARDEXAMPLE01", secretAccessKey: #"it's a \secret/ with "quotes" $HOME `x` ‘curly’"#,
        sessionToken: "token+with/slashes=", expiration: now.addingTimeInterval(1800))

    func home(credentials: CachedCredentials = awkward) throws -> TestHome {
        let home = try TestHome()
        try home.cacheSession(for: "prod-role", expiresIn: 1800, credentials: credentials)
        return home
    }

    @Test("env: export lines, single-quoted with '\\'' for a quote")
    func env() throws {
        let result = try home().run(["export", "--profile", "prod"])

        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "")
        #expect(result.stdout == #"""
            export AWS_ACCESS_KEY_ID='ASIAAWKWARDEXAMPLE01'
            export AWS_SECRET_ACCESS_KEY='it'\''s a \secret/ with "quotes" $HOME `x` ‘curly’'
            export AWS_SESSION_TOKEN='token+with/slashes='
            export AWS_CREDENTIAL_EXPIRATION='2030-03-17T18:16:40Z'
            export AWS_ACCOUNT_ID='123456789012'
            export AWS_REGION='eu-west-1'
            export AWS_DEFAULT_REGION='eu-west-1'
            export STSCACHE_PROFILE='prod'

            """#)
    }

    @Test("env output evaluated by /bin/sh gives back the exact values")
    func envRoundTrip() throws {
        let home = try home()
        let script = home.path("export.sh")
        try home.run(["export", "--profile", "prod"]).stdout.write(toFile: script, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #". "$1"; printf '%s\n' "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN""#, "sh", script]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus == 0)
        #expect(output == Self.awkward.secretAccessKey + "\n" + Self.awkward.sessionToken + "\n")
    }

    @Test("fish: set -gx, with \\' and \\\\ inside single quotes")
    func fish() throws {
        let result = try home().run(["export", "--profile", "prod", "--format", "fish"])
        #expect(result.stdout.split(separator: "\n")[1]
            == #"set -gx AWS_SECRET_ACCESS_KEY 'it\'s a \\secret/ with "quotes" $HOME `x` ‘curly’'"#)
        #expect(result.stdout.hasPrefix("set -gx AWS_ACCESS_KEY_ID 'ASIAAWKWARDEXAMPLE01'\n"))
        #expect(result.stdout.hasSuffix("set -gx AWS_CREDENTIAL_EXPIRATION '2030-03-17T18:16:40Z'\n"
            + "set -gx AWS_ACCOUNT_ID '123456789012'\n"
            + "set -gx AWS_REGION 'eu-west-1'\n"
            + "set -gx AWS_DEFAULT_REGION 'eu-west-1'\n"
            + "set -gx STSCACHE_PROFILE 'prod'\n"))
    }

    @Test("powershell: $Env: assignments, a quote doubled (typographic ones too)")
    func powershell() throws {
        let result = try home().run(["export", "--profile", "prod", "--format", "powershell"])
        #expect(result.stdout.split(separator: "\n")[1]
            == #"$Env:AWS_SECRET_ACCESS_KEY = 'it''s a \secret/ with "quotes" $HOME `x` ‘‘curly’’'"#)
        #expect(result.stdout.hasPrefix("$Env:AWS_ACCESS_KEY_ID = 'ASIAAWKWARDEXAMPLE01'\n"))
        #expect(result.stdout.split(separator: "\n").count == 8)
        #expect(result.stdout.contains("\n$Env:AWS_REGION = 'eu-west-1'\n$Env:AWS_DEFAULT_REGION = 'eu-west-1'\n"))
        #expect(result.stdout.hasSuffix("$Env:STSCACHE_PROFILE = 'prod'\n"))
    }

    @Test("the region as exec passes it: the profile's, else the role profile's; none over a region already set")
    func region() throws {
        let home = try home()
        try home.cacheSession(for: "dev-role", expiresIn: 1800)
        func regionLines(_ arguments: [String], extra: [String: String] = [:]) -> [Substring] {
            let result = home.run(arguments, extra: extra)
            #expect(result.status == 0 && result.stderr == "", "\(result.stderr)")
            return result.stdout.split(separator: "\n").filter { $0.contains("REGION") }
        }
        #expect(regionLines(["export", "--profile", "prod"])
            == ["export AWS_REGION='eu-west-1'", "export AWS_DEFAULT_REGION='eu-west-1'"])
        // [default] has no region of its own: dev-role's.
        #expect(regionLines(["export", "--profile", "default"])
            == ["export AWS_REGION='us-west-2'", "export AWS_DEFAULT_REGION='us-west-2'"])
        // The shell's own region stands (either name), as in exec's child.
        #expect(regionLines(["export", "--profile", "prod"], extra: ["AWS_REGION": "ap-south-1"]).isEmpty)
        #expect(regionLines(["export", "--profile", "prod"], extra: ["AWS_DEFAULT_REGION": "ap-south-1"]).isEmpty)
        #expect(regionLines(["export", "--profile", "prod", "--format", "json"]).isEmpty)
        // exec sets the same pair.
        let fetched = try RoleCredentials.fetch(context: home.context(output: CapturedOutput()), profile: "prod", refreshWindow: nil, verbose: false)
        let child = try ExecCommand.childEnvironment([:], fetched)
        #expect(child["AWS_REGION"] == "eu-west-1" && child["AWS_DEFAULT_REGION"] == "eu-west-1")
    }

    @Test("a region that is not a region name is not printed (shell text from the config stays names only)")
    func hostileRegion() throws {
        let home = try home()
        try home.write(standardConfig.replacingOccurrences(of: "region = eu-west-1\n\n[profile prod-role]",
                                                           with: "region = eu-west-1'; touch /tmp/x; '\n\n[profile prod-role]"),
                       to: ".aws/config")
        let result = home.run(["export", "--profile", "prod"])
        #expect(!result.stdout.contains("REGION") && !result.stdout.contains("touch"), "\(result.stdout)")
    }

    @Test("json: the credential_process document")
    func json() throws {
        let result = try home().run(["export", "--profile", "prod", "--format", "json"])
        let object = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["Version"] as? Int == 1)
        #expect(object["SecretAccessKey"] as? String == Self.awkward.secretAccessKey)
        #expect(object["Expiration"] as? String == "2030-03-17T18:16:40Z")
        #expect(object["AccountId"] as? String == "123456789012")
        #expect(result.stdout.split(separator: "\n").count == 1)
    }

    @Test("refuses a terminal without --force, before any lookup; prints with --force")
    func terminal() throws {
        let home = try home()
        let refused = home.run(["export", "--profile", "prod"], terminal: true)
        expectCleanFailure(refused, status: 1, mentioning: ["terminal", "scrollback", "--force"])
        #expect(!refused.stderr.contains("it's a"))

        // Nothing is looked up for a refused export: not even a missing profile is noticed.
        expectCleanFailure(home.run(["export", "--profile", "nosuch"], terminal: true), mentioning: ["scrollback"])

        let forced = home.run(["export", "--profile", "prod", "--force"], terminal: true)
        #expect(forced.status == 0)
        #expect(forced.stdout.hasPrefix("export AWS_ACCESS_KEY_ID='ASIAAWKWARDEXAMPLE01'\n"))
    }

    @Test("the role profile itself works as well as the delegating one")
    func roleProfile() throws {
        let home = try home()
        let role = home.run(["export", "--profile", "prod-role"]).stdout
        let delegating = home.run(["export", "--profile", "prod"]).stdout
        // The same credentials; each marked with the profile named, with its own region (prod-role has none).
        #expect(role.replacingOccurrences(of: "STSCACHE_PROFILE='prod-role'", with: "STSCACHE_PROFILE='prod'")
            == delegating.replacingOccurrences(of: "export AWS_REGION='eu-west-1'\nexport AWS_DEFAULT_REGION='eu-west-1'\n",
                                               with: ""))
        #expect(role.hasSuffix("export STSCACHE_PROFILE='prod-role'\n"))
    }

    @Test("failures print nothing on stdout: unknown profile, a profile that is not a role")
    func failures() throws {
        let home = try home()
        expectCleanFailure(home.run(["export", "--profile", "nosuch"]), mentioning: ["nosuch"])
        expectCleanFailure(home.run(["export", "--profile", "base"]), mentioning: ["role_arn"])
        expectCleanFailure(home.run(["export", "--profile", "prod", "--format", "csh"]), status: 64)
    }

    @Test("quoting helpers", arguments: [
        ("", "''", "''", "''"),
        ("'", #"''\'''"#, #"'\''"#, "''''"),
        (#"a\'b"#, #"'a\'\''b'"#, #"'a\\\'b'"#, #"'a\''b'"#),
        ("line\nbreak", "'line\nbreak'", "'line\nbreak'", "'line\nbreak'"),
    ])
    func quoting(value: String, posix: String, fish: String, powershell: String) {
        #expect(ShellQuote.posix(value) == posix)
        #expect(ShellQuote.fish(value) == fish)
        #expect(ShellQuote.powershell(value) == powershell)
    }
}
