import Foundation
import AWSConfig
import SigV4
@testable import Credentials
@testable import StscacheCommands
import Testing
import TestSupport

/// Issue 10, item 1, the property: whatever the values, `export`'s lines evaluated by bash,
/// zsh and fish set the variables to exactly those bytes.
///
/// The values are random Unicode drawn heavily from what breaks quoting by grapheme cluster
/// (combining marks of every class, prepend characters, joiners, variation selectors, flags),
/// quotes of every kind, shell metacharacters and control characters. The binary itself can no
/// longer print such values (arriving credentials are checked), so this drives the very
/// renderer `export` uses, `ExportCommand.render`, and hands its text to the real shells the way
/// docs/exec-and-endpoint.md says to: `eval "$(...)"` in bash and zsh, `... | source` in fish. Each shell then
/// runs `printenv`, so what is compared is what a child process (the AWS CLI) would get.
///
/// The shells must be installed (scripts/bootstrap installs them); under CI=true a missing
/// shell is a failure, not a skip. `STSCACHE_PROPERTY_SEED` replays a failing run.
@Suite("export lines survive eval in bash, zsh and fish, byte for byte", .serialized)
struct ExportEvalPropertyTests {
    static let shells = ["bash", "zsh", "fish"]
    /// As the e2e harness reads it (harness.IN_CI).
    static let isCI = ["true", "1", "yes"].contains(
        (ProcessInfo.processInfo.environment["CI"] ?? "").trimmingCharacters(in: .whitespaces).lowercased())
    static let allShellsPresent = shells.allSatisfy { ShellRunner.find($0) != nil }
    static let caseCount = 300

    @Test("random values: the variables come back byte for byte",
          .enabled(if: allShellsPresent || isCI, "bash, zsh and fish are needed (scripts/bootstrap installs them)"),
          arguments: shells)
    func property(shell: String) throws {
        let seed = HostileStrings.seed()
        var generator = HostileStrings(seed: seed)
        var cases = HostileStrings.crafted.map { ($0, "x" + $0, $0 + "\\") }
        while cases.count < Self.caseCount {
            cases.append((generator.next(), generator.next(), generator.next()))
        }
        let credentials = cases.map {
            AWSCredentials(accessKeyId: $0.0, secretAccessKey: $0.1, sessionToken: $0.2,
                           expiration: Date(timeIntervalSince1970: 1_900_000_000))
        }
        let runner = try ShellRunner(shell: shell)
        let results = try runner.evaluate(credentials.map { ExportCommand.render($0, format: shell == "fish" ? .fish : .env) })
        var failures: [String] = []
        for (index, credential) in credentials.enumerated() {
            let expected = Array((credential.accessKeyId + "\n" + credential.secretAccessKey + "\n"
                + credential.sessionToken! + "\n").utf8)
            if results[index] != expected {
                failures.append("case \(index): scalars \(credential.accessKeyId.unicodeScalars.map { String($0.value, radix: 16) }) / "
                    + "\(credential.secretAccessKey.unicodeScalars.map { String($0.value, radix: 16) }) / "
                    + "\(credential.sessionToken!.unicodeScalars.map { String($0.value, radix: 16) })")
            }
        }
        #expect(failures.isEmpty, "\(shell), seed \(seed) (STSCACHE_PROPERTY_SEED=\(seed) replays it): \(failures.prefix(5))")
        #expect(!runner.payloadRan, "a value ran as shell code in \(shell)")
    }

    /// Control: the same harness catches the attack when the quoting is the old one, so a
    /// pass above means something. The old, Character-based quoting really runs `touch`.
    @Test("control: the old Character-based quoting runs the payload in each shell",
          .enabled(if: allShellsPresent || isCI, "bash, zsh and fish are needed (scripts/bootstrap installs them)"),
          arguments: shells)
    func oldQuotingRunsThePayload(shell: String) throws {
        let runner = try ShellRunner(shell: shell)
        for token in ["tok'\u{301}; touch \(runner.marker); #", "tok\u{600}'; touch \(runner.marker); #"] {
            let line: String
            if shell == "fish" {
                line = "set -gx AWS_SESSION_TOKEN " + CharacterQuote.fish(token) + "\n"
            } else {
                line = "export AWS_SESSION_TOKEN=" + CharacterQuote.posix(token) + "\n"
            }
            _ = try runner.evaluate([line])
            #expect(runner.payloadRan, "\(shell) did not run the payload through the old quoting: \(token.unicodeScalars.map(\.value))")
            try? FileManager.default.removeItem(atPath: runner.marker)

            // And the new quoting of the same token does not.
            let fixed = ExportCommand.render(AWSCredentials(accessKeyId: "A", secretAccessKey: "s", sessionToken: token),
                                             format: shell == "fish" ? .fish : .env)
            _ = try runner.evaluate([fixed])
            #expect(!runner.payloadRan, "\(shell) ran the payload through the new quoting")
        }
    }

    /// The refusal's hint, `eval "$(stscache export --profile WORD)"`: WORD is read by the
    /// shell inside `$(...)` exactly as at top level, so each shell must read it back as the
    /// profile. (A profile with a control character is shown as PROFILE, not quoted.)
    @Test("the refusal's eval hint: the profile word reads back as the profile in sh, bash and zsh",
          .enabled(if: Interpreters.available(Interpreters.posixShells), "sh, bash and zsh are needed"),
          arguments: Interpreters.posixShells)
    func refusalHint(shell: String) throws {
        let seed = HostileStrings.seed()
        var generator = HostileStrings(seed: seed)
        var profiles = HostileStrings.crafted + HostileStrings.shellCrafted
        while profiles.count < Self.caseCount { profiles.append(generator.nextWord()) }
        profiles = profiles.filter { ExportCommand.profileWord($0) != "PROFILE" }
        let result = try Interpreters.shellWords(profiles.map(ExportCommand.profileWord), shell: shell)
        let failures = profiles.indices.filter { result.words[$0] != Interpreters.expectedBytes([profiles[$0]]) }
            .map { Array(profiles[$0].unicodeScalars) }
        #expect(failures.isEmpty, "\(shell), seed \(seed) (STSCACHE_PROPERTY_SEED replays it): \(failures.prefix(5))")
        #expect(!result.payloadRan, "a profile ran as shell code in \(shell)")
    }
}

/// Evaluates export text in a real shell, one case after another in one shell process, and
/// returns what `printenv AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN` printed for each.
struct ShellRunner {
    let shell: String
    let executable: String
    let directory: URL
    /// A file the attack payloads `touch`; its existence means a value ran as code.
    var marker: String { directory.appendingPathComponent("pwned").path }
    var payloadRan: Bool { FileManager.default.fileExists(atPath: marker) }

    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    init(shell: String) throws {
        guard let executable = Self.find(shell) else {
            Issue.record("\(shell) is not installed: scripts/bootstrap installs bash, zsh and fish")
            throw CancellationError()
        }
        self.shell = shell
        self.executable = executable
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("stscache-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func evaluate(_ texts: [String]) throws -> [[UInt8]] {
        for (index, text) in texts.enumerated() {
            try Data(text.utf8).write(to: directory.appendingPathComponent("in.\(index)"))
        }
        let names = "AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN"
        let script: String
        let arguments: [String]
        switch shell {
        case "fish":
            script = """
                for i in (seq 0 \(texts.count - 1))
                    set -e \(names)
                    cat $argv[1]/in.$i | source
                    printenv \(names) > $argv[1]/out.$i
                end
                """
            arguments = ["--no-config", "-c", script, directory.path]
        default:
            script = """
                i=0
                while [ $i -lt \(texts.count) ]; do
                    unset \(names)
                    eval "$(cat "$1/in.$i")"
                    printenv \(names) > "$1/out.$i"
                    i=$((i + 1))
                done
                """
            arguments = shell == "zsh" ? ["-f", "-c", script, "zsh", directory.path] : ["--norc", "--noprofile", "-c", script, "bash", directory.path]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": directory.path]
        // Payloads `touch pwned` relative to here: the marker.
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return texts.indices.map { index in
            let url = directory.appendingPathComponent("out.\(index)")
            defer { try? FileManager.default.removeItem(at: url) }
            return [UInt8]((try? Data(contentsOf: url)) ?? Data())
        }
    }
}
