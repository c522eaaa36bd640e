import Foundation
import Testing
import AWSConfig
import CredentialCache
import Transport
@testable import Credentials
@testable import StscacheCommands
import TestSupport

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The fixed "now" of every test here.
let now = testNow

let prodRoleArn = "arn:aws:iam::123456789012:role/Admin"
let devRoleArn = "arn:aws:iam::210987654321:role/Dev"

/// The README's layout: `prod` delegates to `prod-role`; `dev-role` is a second role; `env-role`
/// takes its source from the environment; `base` holds keys; `[default]` delegates to dev-role.
let standardConfig = """
    [default]
    credential_process = stscache credential-process --profile dev-role

    [profile prod]
    credential_process = stscache credential-process --profile prod-role
    region = eu-west-1

    [profile prod-role]
    role_arn = \(prodRoleArn)
    source_profile = base
    role_session_name = alice

    [profile dev-role]
    role_arn = \(devRoleArn)
    source_profile = base
    role_session_name = alice
    region = us-west-2

    [profile env-role]
    role_arn = arn:aws:iam::123456789012:role/FromEnvironment
    credential_source = Environment
    role_session_name = ci

    [profile base]
    region = eu-west-1

    """

let standardCredentials = """
    [base]
    aws_access_key_id = AKIAEXAMPLEBASE00001
    aws_secret_access_key = base/secret+key

    """

/// A throw-away HOME (mode 0700, removed afterwards) with `~/.aws` files, a cache key in the
/// environment (never the user's keyring) and helpers to pre-write cache entries.
/// Unchecked Sendable: each test case has its own, and only its test changes it.
final class TestHome: @unchecked Sendable {
    let root: String
    private let directory: TemporaryDirectory
    let encryptionKey: [UInt8]
    /// The environment every command sees, before per-run additions.
    var environment: [String: String]

    init(config: String? = standardConfig, credentials: String? = standardCredentials) throws {
        directory = try TemporaryDirectory(prefix: "stscache-command-tests")
        root = directory.path
        encryptionKey = (0..<32).map { _ in UInt8.random(in: 0...255) }
        environment = [
            "HOME": root,
            "PATH": "/usr/bin:/bin",
            "STSCACHE_CACHE_KEY": Data(encryptionKey).base64EncodedString(),
        ]
        try FileManager.default.createDirectory(atPath: root + "/.aws", withIntermediateDirectories: true)
        if let config { try write(config, to: ".aws/config") }
        if let credentials { try write(credentials, to: ".aws/credentials") }
    }

    var cacheDirectory: String { root + "/.cache/stscache" }
    var configPath: String { root + "/.aws/config" }

    func path(_ relative: String) -> String { root + "/" + relative }

    func write(_ text: String, to relative: String) throws {
        try text.write(toFile: path(relative), atomically: true, encoding: .utf8)
    }

    func context(terminal: Bool = false, clock: Date = now, extra: [String: String] = [:],
                 output: CapturedOutput) -> Context {
        Context(environment: environment.merging(extra) { _, new in new },
                now: { clock }, homeDirectory: root, userName: "tester",
                makeTransport: { NetworkForbidden() }, output: output.sinks(terminal: terminal),
                sleep: { _ in })
    }

    /// Runs `stscache <arguments>` in-process, as the binary would.
    func run(_ arguments: [String], terminal: Bool = false, clock: Date = now,
             extra: [String: String] = [:]) -> RunResult {
        let output = CapturedOutput()
        let status = StscacheMain.run(arguments: arguments,
                                      context: context(terminal: terminal, clock: clock, extra: extra, output: output))
        return RunResult(status: status, stdout: output.stdout, stderr: output.stderr)
    }

    /// The role a profile resolves to with this home's files (as the broker would see it).
    func role(_ profile: String) throws -> RoleProfile {
        let files = try ConfigFiles.load(configPath: configPath, credentialsPath: path(".aws/credentials"))
        var environment = self.environment
        environment["AWS_ACCESS_KEY_ID"] = environment["AWS_ACCESS_KEY_ID"] ?? "AKIAFROMENVIRONMENT0"
        environment["AWS_SECRET_ACCESS_KEY"] = environment["AWS_SECRET_ACCESS_KEY"] ?? "env-secret"
        return try ProfileResolver.resolve(profile: profile, files: files, environment: environment, userName: "tester")
    }

    /// Writes a cache entry for the role profile, as the broker would have after STS answered.
    @discardableResult
    func cacheSession(for profile: String, expiresIn seconds: Double, lifetime: Double = 3600,
                      credentials: CachedCredentials? = nil) throws -> CacheKey {
        let role = try role(profile)
        let key = CredentialBroker.cacheKey(for: role)
        let expiration = now.addingTimeInterval(seconds)
        let stored = credentials ?? sampleCredentials(expiration: expiration, tag: profile)
        let cache = try CredentialCache.open(environment: environment, home: root)
        try cache.write(stored, for: key, issuedAt: expiration.addingTimeInterval(-lifetime), encryptionKey: encryptionKey,
                        principal: CredentialBroker.principalBinding(for: role, encryptionKey: encryptionKey))
        return key
    }

    func entryPath(_ key: CacheKey) -> String { cacheDirectory + "/" + key.entryFileName }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func cacheFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory)) ?? []).sorted()
    }
}

extension TestHome {
    @TaskLocal fileprivate static var scoped: TestHome?

    /// The home of the running test case (`@Test(.testHome())` or on its suite).
    static var current: TestHome { scopedValue(scoped, trait: ".testHome()") }
}

extension Trait where Self == FreshForEachTestCase<TestHome> {
    /// A fresh `TestHome` with these files for each test case, `TestHome.current`, removed when
    /// the case ends.
    static func testHome(config: String? = standardConfig, credentials: String? = standardCredentials) -> Self {
        Self(TestHome.$scoped) { try TestHome(config: config, credentials: credentials) }
    }
}

func sampleCredentials(expiration: Date, tag: String) -> CachedCredentials {
    CachedCredentials(accessKeyId: "ASIA" + String(tag.uppercased().filter(\.isLetter).prefix(8)) + "EXAMPLE",
                      secretAccessKey: "secret/\(tag)+key", sessionToken: "token-\(tag)-" + String(repeating: "x", count: 40),
                      expiration: expiration)
}

/// The failure contract: non-zero, nothing on stdout, one `stscache: ` line on stderr.
func expectCleanFailure(_ result: RunResult, status: Int32? = nil, mentioning needles: [String] = [],
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status != 0, sourceLocation: sourceLocation)
    if let status { #expect(result.status == status, sourceLocation: sourceLocation) }
    #expect(result.stdout == "", sourceLocation: sourceLocation)
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.count == 2 && lines[1] == "" && lines[0].hasPrefix("stscache: "), "\(result.stderr)",
            sourceLocation: sourceLocation)
    for needle in needles {
        #expect(result.stderr.contains(needle), "\(needle) not in \(result.stderr)", sourceLocation: sourceLocation)
    }
}
