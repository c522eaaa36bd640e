import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import TestSupport

@Suite("stscache prompt", .testHome())
struct PromptCommandTests {
    let home = TestHome.current

    @Test("shows the delegated role's session under the selected profile's name")
    func followsDelegation() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 42 * 60 + 30)

        let result = home.run(["prompt"], extra: ["AWS_PROFILE": "prod"])

        #expect(result.status == 0)
        #expect(result.stdout == "prod 42m\n")
        #expect(result.stderr == "")
    }

    @Test("--profile wins over AWS_PROFILE, and a role profile shows its own session")
    func explicitProfile() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 65 * 60 + 10)
        try home.cacheSession(for: "dev-role", expiresIn: 5 * 60)

        #expect(home.run(["prompt", "--profile", "prod-role"], extra: ["AWS_PROFILE": "dev-role"]).stdout
            == "prod-role 1h05m\n")
        #expect(home.run(["prompt"], extra: ["AWS_PROFILE": "dev-role"]).stdout == "dev-role 5m\n")
    }

    @Test("without AWS_PROFILE: the profile stscache exec started the shell with, else default")
    func profileFallbacks() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        try home.cacheSession(for: "dev-role", expiresIn: 1200)

        #expect(home.run(["prompt"]).stdout == "default 20m\n")  // [default] delegates to dev-role
        #expect(home.run(["prompt"], extra: ["STSCACHE_PROFILE": "prod"]).stdout == "prod 10m\n")
        #expect(home.run(["prompt"], extra: ["STSCACHE_PROFILE": "prod", "AWS_PROFILE": "dev-role"]).stdout
            == "dev-role 20m\n")
    }

    @Test("after export: the marked profile, whose keys the environment holds, before AWS_PROFILE")
    func exportedKeysWin() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        try home.cacheSession(for: "dev-role", expiresIn: 1200)
        let exported = ["STSCACHE_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE01"]
        #expect(home.run(["prompt"], extra: exported).stdout == "prod 10m\n")
        // The SDKs take the keys before AWS_PROFILE, so the prompt does too.
        #expect(home.run(["prompt"], extra: exported.merging(["AWS_PROFILE": "dev-role"]) { $1 }).stdout == "prod 10m\n")
        #expect(home.run(["prompt", "--profile", "dev-role"], extra: exported).stdout == "dev-role 20m\n")
        // A marker left behind after the keys were unset no longer speaks for the environment.
        #expect(home.run(["prompt"], extra: ["STSCACHE_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "", "AWS_PROFILE": "dev-role"])
            .stdout == "dev-role 20m\n")
    }

    @Test("seconds under a minute, then expired")
    func shortAndExpired() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 59.9)
        #expect(home.run(["prompt", "--profile", "prod"]).stdout == "prod 59s\n")
        #expect(home.run(["prompt", "--profile", "prod"], clock: now.addingTimeInterval(60)).stdout == "prod expired\n")
        #expect(home.run(["prompt", "--profile", "prod"], clock: now.addingTimeInterval(86_400)).stdout
            == "prod expired\n")
    }

    @Test("remaining time is rounded down: 1h05m, 42m, 59s, expired", arguments: [
        (3900, "1h05m"), (3959, "1h05m"), (36_000, "10h00m"), (3600, "1h00m"), (3599, "59m"),
        (2520, "42m"), (60, "1m"), (59, "59s"), (1, "1s"), (0, "expired"),
    ])
    func remainingFormat(seconds: Int, expected: String) {
        #expect(SessionDisplay.remaining(seconds) == expected)
    }

    @Test("--format fills every placeholder and keeps unknown ones")
    func template() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600, lifetime: 3600)

        let result = home.run([
            "prompt", "--profile", "prod", "--format",
            "{profile}|{role_arn}|{session}|{remaining}|{seconds}|{expires}|{state}|{nope}|{",
        ])

        #expect(result.status == 0)
        #expect(result.stdout
            == "prod|\(prodRoleArn)|alice|10m|600|2030-03-17T17:56:40Z|refresh-due|{nope}|{\n")
    }

    @Test("state placeholder: valid, refresh-due inside the window, expired in the last minute")
    func states() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 3000, lifetime: 7200)
        let args = ["prompt", "--profile", "prod", "--format", "{state}"]
        #expect(home.run(args).stdout == "valid\n")
        #expect(home.run(args, clock: now.addingTimeInterval(2400)).stdout == "refresh-due\n")
        #expect(home.run(args, clock: now.addingTimeInterval(2950)).stdout == "expired\n")
        #expect(home.run(args, extra: ["STSCACHE_REFRESH_WINDOW": "1h"]).stdout == "refresh-due\n")
    }

    @Test("render(), the fast path's entry, gives what the command prints")
    func renderFunction() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 42 * 60)
        let output = CapturedOutput()
        let context = home.context(extra: ["AWS_PROFILE": "prod"], output: output)

        #expect(PromptCommand.render(context: context, profile: nil, format: nil) == "prod 42m")
        #expect(PromptCommand.render(context: context, profile: "prod-role", format: "{seconds}") == "2520")
        #expect(PromptCommand.render(context: context, profile: "base", format: nil) == nil)
        #expect(output.stdout == "" && output.stderr == "")
    }

    @Test("the parser-free path takes --profile, --format (one or two words) and --verbose, nothing else")
    func withoutParser() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        let output = CapturedOutput()
        let context = home.context(output: output)

        #expect(PromptCommand.runWithoutParser(["--profile=prod", "--format", "{profile}:{seconds}"], context: context) == 0)
        #expect(PromptCommand.runWithoutParser(["--verbose", "--profile", "nosuch"], context: context) == 0)
        #expect(output.stdout == "prod:600\n")
        #expect(output.stderr.hasPrefix("stscache: prompt: profile \"nosuch\""))
        for unknown in [["--help"], ["-h"], ["--profile"], ["--profile", "a", "--profile", "b"], ["--bogus", "x"], ["extra"]] {
            #expect(PromptCommand.runWithoutParser(unknown, context: context) == nil, "\(unknown)")
        }
        // Those go to the parser: help on stdout, a mistake as one line on stderr.
        #expect(home.run(["prompt", "--help"]).stdout.contains("{remaining}"))
        expectCleanFailure(home.run(["prompt", "--bogus"]), status: 64)
    }

    @Test("never opens the key store: works with a key store setting that could not be opened")
    func noKeyStore() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 600)
        let result = home.run(["prompt", "--profile", "prod"],
                              extra: ["STSCACHE_KEY_STORE": "env", "STSCACHE_CACHE_KEY": ""])
        #expect(result.stdout == "prod 10m\n")
        #expect(home.run(["prompt", "--profile", "prod"], extra: ["STSCACHE_KEY_STORE": "bogus"]).stdout == "prod 10m\n")
    }

    @Test("a credential_source = Environment role shows without the keys in the environment")
    func environmentSource() throws {
        try home.cacheSession(for: "env-role", expiresIn: 600)
        #expect(home.environment["AWS_ACCESS_KEY_ID"] == nil)
        #expect(home.run(["prompt", "--profile", "env-role"]).stdout == "env-role 10m\n")
    }

    // MARK: - Never fails the prompt

    @Test("nothing, exit 0, no stderr", arguments: [
        "missing config", "garbled entry", "truncated entry", "unknown profile", "not an stscache role",
        "nothing cached", "malformed config", "config is a directory", "insecure cache directory",
        "another role's entry copied over",
    ])
    func silentFailures(case name: String) throws {
        let key = try home.cacheSession(for: "prod-role", expiresIn: 600)
        var profile = "prod"
        switch name {
        case "missing config":
            try FileManager.default.removeItem(atPath: home.configPath)
        case "garbled entry":
            try Data((0..<300).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: home.entryPath(key)))
        case "truncated entry":
            let bytes = try Data(contentsOf: URL(fileURLWithPath: home.entryPath(key)))
            try bytes.prefix(20).write(to: URL(fileURLWithPath: home.entryPath(key)))
        case "unknown profile":
            profile = "nosuch"
        case "not an stscache role":
            profile = "base"
        case "nothing cached":
            try FileManager.default.removeItem(atPath: home.entryPath(key))
        case "malformed config":
            try home.write("[profile prod\nthis is = = not ini\n", to: ".aws/config")
        case "config is a directory":
            try FileManager.default.removeItem(atPath: home.configPath)
            try FileManager.default.createDirectory(atPath: home.configPath, withIntermediateDirectories: false)
        case "insecure cache directory":
            chmod(home.cacheDirectory, 0o755)
        case "another role's entry copied over":
            let dev = try home.cacheSession(for: "dev-role", expiresIn: 900)
            try FileManager.default.removeItem(atPath: home.entryPath(key))
            try FileManager.default.copyItem(atPath: home.entryPath(dev), toPath: home.entryPath(key))
        default:
            Issue.record("unknown case \(name)")
        }

        let quiet = home.run(["prompt", "--profile", profile])
        #expect(quiet.status == 0)
        #expect(quiet.stdout == "")
        #expect(quiet.stderr == "")

        let verbose = home.run(["prompt", "--profile", profile, "--verbose"])
        #expect(verbose.status == 0)
        #expect(verbose.stdout == "")
        #expect(verbose.stderr.hasPrefix("stscache: prompt: "), "\(verbose.stderr)")
        #expect(verbose.stderr.split(separator: "\n").count == 1)
    }

    @Test("does not create the cache directory")
    func noCacheDirectoryCreated() throws {
        let result = home.run(["prompt", "--profile", "prod"])
        #expect(result.status == 0 && result.stdout == "")
        #expect(!home.exists(home.cacheDirectory))
    }
}
