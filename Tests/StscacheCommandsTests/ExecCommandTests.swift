import Foundation
import Testing
import CredentialCache
@testable import Credentials
@testable import StscacheCommands
import StscacheSupport
import TestSupport

/// Serialized: `exec` installs process-wide signal handlers while its child runs.
@Suite("stscache exec", .serialized, .testHome())
struct ExecCommandTests {
    let home = TestHome.current

    /// Caches prod-role's session, so that `exec --profile prod` needs no network.
    func cacheProd() throws {
        try home.cacheSession(for: "prod-role", expiresIn: 1800)
    }

    @Test("passes the child's exit status through")
    func exitStatus() throws {
        try cacheProd()
        let result = home.run(["exec", "--profile", "prod", "--", "/bin/sh", "-c", "exit 3"])
        #expect(result.status == 3)
        #expect(result.stdout == "" && result.stderr == "")
        #expect(home.run(["exec", "--profile", "prod", "--", "true"]).status == 0)
    }

    @Test("a child killed by a signal: 128 + the signal")
    func killedBySignal() throws {
        try cacheProd()
        #expect(home.run(["exec", "--profile", "prod", "--", "sh", "-c", "kill -TERM $$"]).status == 128 + SIGTERM)
        #expect(home.run(["exec", "--profile", "prod", "--", "sh", "-c", "kill -KILL $$"]).status == 128 + SIGKILL)
    }

    /// Runs `env` as the child, writing to a file; returns the child's environment.
    func childEnvironment(profile: String = "prod", extra: [String: String] = [:]) throws -> [String: String] {
        let file = home.path("child-env")
        let result = home.run(["exec", "--profile", profile, "--", "sh", "-c", #"env > "$0""#, file], extra: extra)
        #expect(result.status == 0, "\(result.stderr)")
        var environment: [String: String] = [:]
        for line in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            environment[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return environment
    }

    @Test("the child sees the role's credentials, the marker and the region, and not AWS_PROFILE")
    func environment() throws {
        try cacheProd()
        let expected = sampleCredentials(expiration: now.addingTimeInterval(1800), tag: "prod-role")

        let env = try childEnvironment(extra: [
            "AWS_PROFILE": "prod", "AWS_DEFAULT_PROFILE": "prod", "AWS_SECURITY_TOKEN": "stale",
            "AWS_SESSION_TOKEN": "stale", "UNRELATED": "kept", "AWS_ACCOUNT_ID": "999999999999",
        ])

        #expect(env["AWS_ACCESS_KEY_ID"] == expected.accessKeyId)
        #expect(env["AWS_SECRET_ACCESS_KEY"] == expected.secretAccessKey)
        #expect(env["AWS_SESSION_TOKEN"] == expected.sessionToken)
        #expect(env["AWS_CREDENTIAL_EXPIRATION"] == "2030-03-17T18:16:40Z")
        // The role's account replaces another profile's left in the shell.
        #expect(env["AWS_ACCOUNT_ID"] == "123456789012")
                #expect(env["STSCACHE_PROFILE"] == "prod")
        #expect(env["AWS_REGION"] == "eu-west-1")
        #expect(env["AWS_DEFAULT_REGION"] == "eu-west-1")
        #expect(env["AWS_PROFILE"] == nil)
        #expect(env["AWS_DEFAULT_PROFILE"] == nil)
        #expect(env["AWS_SECURITY_TOKEN"] == nil)
        #expect(env["UNRELATED"] == "kept")
        #expect(env["HOME"] == home.root)
    }

    @Test("a region already chosen is kept; the role profile's region is the fallback")
    func region() throws {
        try cacheProd()
        let chosen = try childEnvironment(extra: ["AWS_DEFAULT_REGION": "ap-south-1"])
        #expect(chosen["AWS_DEFAULT_REGION"] == "ap-south-1")
        #expect(chosen["AWS_REGION"] == nil)

        try home.cacheSession(for: "dev-role", expiresIn: 1800)
        let fromRole = try childEnvironment(profile: "default")  // [default] has no region
        #expect(fromRole["AWS_REGION"] == "us-west-2")
        #expect(fromRole["STSCACHE_PROFILE"] == "default")
    }

    @Test("the command is looked up in the context's PATH, not the process's")
    func pathFromContext() throws {
        try cacheProd()
        try FileManager.default.createDirectory(atPath: home.path("bin"), withIntermediateDirectories: true)
        try "#!/bin/sh\nexit 7\n".write(toFile: home.path("bin/only-here"), atomically: true, encoding: .utf8)
        chmod(home.path("bin/only-here"), 0o755)

        let result = home.run(["exec", "--profile", "prod", "--", "only-here"], extra: ["PATH": home.path("bin") + ":/usr/bin:/bin"])

        #expect(result.status == 7, "\(result.stderr)")
    }

    @Test("a command that is not found: exit 127 before any credentials are fetched")
    func notFound() throws {
        // Nothing cached: fetching would reach for the network, which fails the test.
        expectCleanFailure(home.run(["exec", "--profile", "prod", "--", "no-such-command-here"]), status: 127,
                           mentioning: ["no-such-command-here"])
        expectCleanFailure(home.run(["exec", "--profile", "prod", "--", home.path("missing")]), status: 127)
    }

    @Test("a file that is not executable: exit 126")
    func notExecutable() throws {
        try cacheProd()
        try "echo hi\n".write(toFile: home.path("plain"), atomically: true, encoding: .utf8)
        chmod(home.path("plain"), 0o644)
        expectCleanFailure(home.run(["exec", "--profile", "prod", "--", home.path("plain")]), status: 126)
    }

    @Test("the command may follow the options without --, and its own options are its own")
    func withoutSeparator() throws {
        try cacheProd()
        let result = home.run(["exec", "--profile", "prod", "sh", "-c", #"test "$0" = --profile"#, "--profile"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("credential failures: one line, and the command never runs")
    func credentialFailure() throws {
        let marker = home.path("ran")
        expectCleanFailure(home.run(["exec", "--profile", "nosuch", "--", "touch", marker]), mentioning: ["nosuch"])
        #expect(!home.exists(marker))
    }

    @Test("wait statuses decode as a shell reports them", arguments: [
        (0, 0), (3 << 8, 3), (255 << 8, 255), (SIGTERM, 143), (SIGKILL | 0x80, 137),
    ] as [(Int32, Int32)])
    func decode(waitStatus: Int32, expected: Int32) {
        #expect(Termination(waitStatus: waitStatus).shellStatus == expected)
    }
}
