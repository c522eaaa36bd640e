import Foundation
import Testing
import ArgumentParser
import CredentialCache
import Transport
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// The hand-written fast path must mean exactly what the parser means: every shape it accepts
/// parses to the same options through swift-argument-parser, everything else falls through to
/// the parser, and both routes produce the same output, errors and exit status.
@Suite("fast entry path")
struct FastPathTests {
    static let acceptedShapes: [[String]] = [
        ["credential-process", "--profile", "prod-role"],
        ["credential-process", "--profile", "prod role with spaces"],
        ["credential-process", "--force-refresh", "--profile", "p"],
        ["credential-process", "--profile", "p", "--refresh-window", "15m"],
        ["credential-process", "--verbose", "--refresh-window", "900", "--profile", "p", "--force-refresh"],
        // The caching agent's refresh children.
        ["credential-process", "--profile", "p", "--refresh-window", "905", "--refresh-only"],
    ]

    @Test("accepts the plain shapes and parses them as the parser does", arguments: acceptedShapes)
    func acceptedShapesMatchTheParser(_ arguments: [String]) throws {
        let fast = try #require(FastPath.match(arguments))
        let parsed = try #require(try StscacheCommand.parseAsRoot(arguments) as? CredentialProcessCommand)
        #expect(fast == .credentialProcess(parsed.options))
    }

    @Test("reads each option and flag into its own field")
    func fields() throws {
        let match = FastPath.match(["credential-process", "--refresh-window", "1h", "--profile", "x", "--verbose"])
        #expect(match == .credentialProcess(CredentialProcessOptions(profile: "x", forceRefresh: false,
                                                                     refreshWindow: "1h", verbose: true)))
    }

    @Test("leaves every other shape to the parser", arguments: [
        [],
        ["--help"],
        ["--version"],
        ["help", "credential-process"],
        ["credential-process"],
        ["credential-process", "--help"],
        ["credential-process", "-h"],
        ["credential-process", "--profile"],
        ["credential-process", "--profile", ""],
        ["credential-process", "--profile", "--verbose"],
        ["credential-process", "--profile=prod"],
        ["credential-process", "--profile", "a", "--profile", "b"],
        ["credential-process", "--profile", "a", "--verbose", "--verbose"],
        ["credential-process", "--profile", "a", "--refresh-window", "-5"],
        ["credential-process", "--profile", "a", "extra"],
        ["credential-process", "--profile", "a", "--"],
        ["credential-process", "--profle", "a"],
        ["credential-proces", "--profile", "a"],
        ["--verbose", "credential-process", "--profile", "a"],
    ])
    func otherShapesFallThrough(_ arguments: [String]) {
        #expect(FastPath.match(arguments) == nil)
    }

    @Test("the fast path and the parser give the same output, errors and status", arguments: [
        ["credential-process", "--profile", "prod-role"],
        ["credential-process", "--profile", "prod-role", "--verbose"],
        ["credential-process", "--profile", "missing"],
        ["credential-process", "--profile", "prod-role", "--refresh-window", "soon"],
        ["credential-process", "--profile", "not-a-role"],
    ])
    func sameResultBothWays(_ arguments: [String]) throws {
        let world = try FastPathWorld()
        #expect(FastPath.match(arguments) != nil)
        let fast = world.run { StscacheMain.run(arguments: arguments, context: $0) }
        let parsed = world.run { StscacheMain.runParsed(arguments: arguments, context: $0) }
        #expect(fast.status == parsed.status)
        #expect(fast.stdout == parsed.stdout)
        #expect(fast.stderr == parsed.stderr)
        if arguments == ["credential-process", "--profile", "prod-role"] {
            #expect(fast.status == 0)
            #expect(fast.stdout.contains("\"AccessKeyId\":\"ASIAFASTPATHEXAMPLE1\""))
        }
    }
}

/// `prompt`'s own parser-free route (PromptCommand.runWithoutParser) against the parser.
@Suite("prompt without the parser")
struct PromptFastPathTests {
    @Test("the parser-free route and the parser give the same output and status", arguments: [
        ["prompt"],
        ["prompt", "--profile", "prod-role"],
        ["prompt", "--profile=prod-role"],
        ["prompt", "--profile", "prod-role", "--format", "{profile} {expires} {state} {seconds}"],
        ["prompt", "--format={role_arn}", "--profile", "prod-role"],
        ["prompt", "--verbose", "--profile", "missing"],
        ["prompt", "--profile", "not-a-role", "--verbose"],
        ["prompt", "--profile", "prod-role", "--verbose", "--verbose"],
        ["prompt", "--profile", "prod-role", "--format", "-{remaining}"],
        ["prompt", "--profile", "prod-role", "--format=-{remaining}"],
        ["prompt", "--profile", "prod-role", "--format", "-"],
        ["prompt", "--profile", "prod-role", "--format", ""],
        ["prompt", "--profile"],
        ["prompt", "--profile", "a", "--profile", "b"],
        ["prompt", "--help"],
        ["prompt", "extra"],
    ])
    func sameResultBothWays(_ arguments: [String]) throws {
        let world = try FastPathWorld()
        let fast = world.run { StscacheMain.run(arguments: arguments, context: $0) }
        let parsed = world.run { StscacheMain.runParsed(arguments: arguments, context: $0) }
        #expect(fast.status == parsed.status)
        #expect(fast.stdout == parsed.stdout)
        #expect(fast.stderr == parsed.stderr)
        if arguments == ["prompt", "--profile", "prod-role"] {
            #expect(fast.stdout == "prod-role 1h00m\n")
        }
    }
}

/// A temporary HOME with a role profile and its session already cached (env key store), so a
/// hit needs no network; the transport fails the test if anything tries.
struct FastPathWorld {
    private let directory: TemporaryDirectory
    let home: URL
    let environment: [String: String]

    init() throws {
        directory = try TemporaryDirectory(prefix: "stscache-fastpath")
        home = URL(fileURLWithPath: directory.path)
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        try """
            [profile prod-role]
            role_arn = arn:aws:iam::123456789012:role/Admin
            source_profile = base
            role_session_name = alice

            [profile not-a-role]
            region = eu-west-1

            [profile base]
            region = eu-west-1

            """.write(to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)
        try "[base]\naws_access_key_id = AKIAEXAMPLEBASE00001\naws_secret_access_key = base/secret\n"
            .write(to: home.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        let key = [UInt8](repeating: 42, count: 32)
        environment = ["HOME": home.path, "STSCACHE_CACHE_KEY": Data(key).base64EncodedString()]

        let cache = try CredentialCache.open(environment: environment, home: home.path)
        let role = try CommandResources.open(context: context(CapturedOutput()), verbose: false).resolve(profile: "prod-role")
        let cacheKey = CredentialBroker.cacheKey(for: role)
        #expect(cacheKey.roleArn == "arn:aws:iam::123456789012:role/Admin" && cacheKey.sessionName == "alice")
        try cache.write(CachedCredentials(accessKeyId: "ASIAFASTPATHEXAMPLE1", secretAccessKey: "secret",
                                          sessionToken: "token", expiration: testNow.addingTimeInterval(3600)),
                        for: cacheKey, issuedAt: testNow, encryptionKey: key,
                        principal: CredentialBroker.principalBinding(for: role, encryptionKey: key))
    }

    func context(_ output: CapturedOutput) -> Context {
        Context(environment: environment, now: { testNow }, homeDirectory: home.path, userName: "alice",
                makeTransport: { NetworkForbidden() }, output: output.sinks(), sleep: { _ in })
    }

    func run(_ body: (Context) -> Int32) -> (status: Int32, stdout: String, stderr: String) {
        let output = CapturedOutput()
        let status = body(context(output))
        return (status, output.stdout, output.stderr)
    }
}
