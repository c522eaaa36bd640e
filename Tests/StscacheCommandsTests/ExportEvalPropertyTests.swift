import Foundation
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
        let seed = ProcessInfo.processInfo.environment["STSCACHE_PROPERTY_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
        var generator = HostileStrings(seed: seed)
        var cases = ShellQuoteTests.crafted.map { ($0, "x" + $0, $0 + "\\") }
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

/// Random strings built to break quoting that works by grapheme cluster.
struct HostileStrings {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    /// SplitMix64: small, seedable, good enough to pick characters.
    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(nextUInt64() % UInt64(bound)) }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Every combining mark: Mn, Mc (spacing marks) and Me.
    static let marks: [Unicode.Scalar] = (0...0x10FFFF).compactMap { value -> Unicode.Scalar? in
        guard let scalar = Unicode.Scalar(UInt32(value)) else { return nil }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return scalar
        default: return nil
        }
    }

    /// Grapheme_Cluster_Break=Prepend (Unicode 15).
    static let prepend: [Unicode.Scalar] = scalars([0x0600...0x0605, 0x06DD...0x06DD, 0x070F...0x070F,
        0x0890...0x0891, 0x08E2...0x08E2, 0x0D4E...0x0D4E, 0x110BD...0x110BD, 0x110CD...0x110CD,
        0x111C2...0x111C3, 0x1193F...0x1193F, 0x11941...0x11941, 0x11A3A...0x11A3A, 0x11A84...0x11A89,
        0x11D46...0x11D46, 0x11F02...0x11F02])

    /// ZWNJ, ZWJ, CGJ, variation selectors, emoji modifiers, tags, regional indicators, Hangul jamo.
    static let joiners: [Unicode.Scalar] = scalars([0x200C...0x200D, 0x034F...0x034F, 0xFE00...0xFE0F,
        0xE0100...0xE01EF, 0x1F3FB...0x1F3FF, 0xE0020...0xE007F, 0x1F1E6...0x1F1FF, 0x1100...0x115F,
        0x1160...0x11A7, 0x11A8...0x11FF, 0xAC00...0xAC01])

    static let quotes: [Unicode.Scalar] = Array("'\"`\u{2018}\u{2019}\u{201A}\u{201B}\u{201C}\u{201D}\u{201E}\u{201F}\u{2032}\u{2033}\u{2035}\u{FF07}\u{FF02}\u{2039}\u{203A}\u{AB}\u{BB}\u{300C}\u{300D}\u{2BC}\u{2B9}\u{2C8}\u{7F4}\u{7F5}".unicodeScalars)

    static let metacharacters: [Unicode.Scalar] = Array("\\$%!;&|<>(){}[]*?~#= \t^@,:-+/.".unicodeScalars)

    /// Control characters except NUL (an environment variable cannot hold one), line breaks of
    /// every kind, and fish's private-use range for undecodable bytes.
    static let controls: [Unicode.Scalar] = scalars([0x01...0x1F, 0x7F...0x9F, 0x2028...0x2029, 0xFEFF...0xFEFF,
        0xFFFD...0xFFFD])
    static let fishPrivateUse: [Unicode.Scalar] = scalars([0xF600...0xF6FF])

    static func scalars(_ ranges: [ClosedRange<UInt32>]) -> [Unicode.Scalar] {
        ranges.flatMap { $0.compactMap(Unicode.Scalar.init) }
    }

    mutating func anyScalar() -> Unicode.Scalar {
        while true {
            if let scalar = Unicode.Scalar(UInt32(1 + below(0x10FFFF))) { return scalar }
        }
    }

    mutating func next() -> String {
        var out = String.UnicodeScalarView()
        let length = below(24)
        for _ in 0..<length {
            switch below(20) {
            case 0...3: out.append(pick(Self.marks))
            case 4...5: out.append(pick(Self.prepend))
            case 6...7: out.append(pick(Self.joiners))
            case 8...10: out.append(pick(Self.quotes))
            case 11...12: out.append(pick(Self.metacharacters))
            case 13: out.append(pick(Self.controls))
            case 14: out.append(pick(Self.fishPrivateUse))
            case 15: out.append(anyScalar())
            case 16:
                // A quote or backslash glued into a cluster, both ways round.
                out.append(pick(Self.prepend))
                out.append(pick(["'", "\\"] as [Unicode.Scalar]))
                out.append(pick(Self.marks))
            case 17: out.append(contentsOf: "; touch pwned; #".unicodeScalars)
            default: out.append(Unicode.Scalar(UInt8(0x41 + below(26))))
            }
        }
        return String(out)
    }
}
