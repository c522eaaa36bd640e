import Foundation
import Testing

/// Real interpreters reading the shell words stscache writes: sh, bash and zsh (as a user's
/// shell reads an `eval`ed line) and Python's `shlex.split` (as botocore reads a
/// `credential_process` line). What each returns is what the program it starts would get.
///
/// The interpreters must be installed (scripts/bootstrap installs them); under CI=true a
/// missing one is a failure, not a skip (`Interpreters.available`).
public enum Interpreters {
    /// The shells a POSIX-quoted word must survive: dash as `sh`, bash, and zsh (whose `=cmd`
    /// and `~` expansions at the start of a word are the strictest).
    public static let posixShells = ["sh", "bash", "zsh"]

    /// As the e2e harness reads it (harness.IN_CI).
    public static let isCI = ["true", "1", "yes"].contains(
        (ProcessInfo.processInfo.environment["CI"] ?? "").trimmingCharacters(in: .whitespaces).lowercased())

    /// True when every named interpreter is on PATH, or under CI (where a missing one must fail).
    public static func available(_ names: [String]) -> Bool {
        isCI || names.allSatisfy { find($0) != nil }
    }

    public static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func executable(_ name: String) throws -> String {
        guard let found = find(name) else {
            Issue.record("\(name) is not installed: scripts/bootstrap installs it")
            throw CancellationError()
        }
        return found
    }

    /// The words each line is, after everything `shell` does to it (quote removal, `~` and `=`
    /// expansion, globbing, parameter expansion): each word's bytes followed by a NUL, from
    /// `printf '%s\0' <line>` evaluated in `shell`, one subshell per line. A line that does not
    /// parse gives what was printed before the error, usually nothing.
    ///
    /// `marker`: the path a `touch pwned` payload in a line would create (the working directory
    /// is the harness's own, fresh one), so a caller can tell that a line ran code.
    public static func shellWords(_ lines: [String], shell: String) throws -> (words: [[UInt8]], payloadRan: Bool) {
        let executable = try executable(shell)
        let directory = try TemporaryDirectory(prefix: "stscache-words")
        for (index, line) in lines.enumerated() {
            try Data("printf '%s\\0' \(line)\n".utf8).write(to: URL(fileURLWithPath: directory.sub("in.\(index)")))
        }
        let script = """
            i=0
            while [ $i -lt \(lines.count) ]; do
                ( eval "$(cat "$1/in.$i")" ) > "$1/out.$i" 2>/dev/null
                i=$((i + 1))
            done
            """
        let arguments = switch shell {
        case "zsh": ["-f", "-c", script, "zsh", directory.path]
        case "bash": ["--norc", "--noprofile", "-c", script, "bash", directory.path]
        default: ["-c", script, shell, directory.path]
        }
        try run(executable, arguments, in: directory.path)
        let words = lines.indices.map { index in
            [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: directory.sub("out.\(index)")))) ?? Data())
        }
        return (words, FileManager.default.fileExists(atPath: directory.sub("pwned")))
    }

    /// Python's `shlex.split(line)` for each line (botocore's reading of `credential_process`
    /// and of `[profile "name"]` headers); nil where it raises.
    public static func shlexSplit(_ lines: [String]) throws -> [[String]?] {
        let results = try python("""
            def split(line):
                try:
                    return shlex.split(line)
                except ValueError:
                    return None
            result = [split(line) for line in value]
            """, lines)
        guard let lists = results as? [Any], lists.count == lines.count else {
            Issue.record("python3 answered something other than one result per line")
            throw CancellationError()
        }
        return lists.map { $0 as? [String] }
    }

    /// Runs `program` in python3 (isolated mode; configparser, json and shlex imported) with the JSON
    /// value `input` as `value`, and returns what it left in `result`.
    public static func python(_ program: String, _ input: Any) throws -> Any {
        let executable = try executable("python3")
        let directory = try TemporaryDirectory(prefix: "stscache-python")
        let inputPath = directory.sub("in.json"), outputPath = directory.sub("out.json")
        try JSONSerialization.data(withJSONObject: input).write(to: URL(fileURLWithPath: inputPath))
        let wrapped = """
            import configparser, json, shlex, sys
            with open(sys.argv[1], encoding="utf-8") as source:
                value = json.load(source)
            result = None
            \(program)
            with open(sys.argv[2], "w", encoding="utf-8") as sink:
                json.dump(result, sink)
            """
        try run(executable, ["-I", "-c", wrapped, inputPath, outputPath], in: directory.path)
        return try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outputPath)),
                                                options: .fragmentsAllowed)
    }

    /// `words` as `shellWords` prints them: each word's UTF-8, then a NUL.
    public static func expectedBytes(_ words: [String]) -> [UInt8] {
        words.flatMap { Array($0.utf8) + [0] }
    }

    static func run(_ executable: String, _ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": directory]
        // Payloads `touch pwned` relative to here: the marker.
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }
}

/// Random strings built to break quoting: by grapheme cluster (combining marks of every class,
/// prepend characters, joiners, variation selectors, flags), and by what a shell expands or
/// splits (quotes of every kind, metacharacters, `=` and `~` at the start of a word, control
/// characters, line breaks, non-ASCII).
public struct HostileStrings {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A seed from `STSCACHE_PROPERTY_SEED` (replaying a failing run), else a random one.
    public static func seed() -> UInt64 {
        ProcessInfo.processInfo.environment["STSCACHE_PROPERTY_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
    }

    /// Values where a `Character` walk sees no quote, or no backslash, though the shell does.
    public static let crafted: [String] = [
        "'\u{301}", "tok'\u{301}; touch /tmp/pwned; #", "\u{600}'", "tok\u{600}'; touch /tmp/pwned; #",
        "\u{110BD}'", "\u{0D4E}'x", "'\u{20DD}", "'\u{200D}'", "👩\u{200D}💻'\u{200D}👩", "'\u{FE0F}", "'\u{E0100}",
        "\u{1100}'\u{1161}", "🇺🇸'🇬🇧", "🇺'🇸", "\\\u{301}", "\\\u{301}'\u{301}", "a\\", "\\'", "'\\", "\r\n'", "'\n\u{301}",
        "\u{2019}\u{301}", "\u{2018}\u{200D}'", "\u{201B}\u{600}", "'", "''", "",
    ]

    /// Words a shell changes when they stand bare: zsh's `=cmd` (`=sh` becomes /usr/bin/sh) and
    /// `~user`, globs, parameters, history, jobs, separators, line breaks, non-ASCII.
    public static let shellCrafted: [String] = [
        "=sh", "=ls", "=", "a=b", "=sh=", "~", "~root", "~/x", "x~", "!", "!!", "!$", "a!b", "$HOME", "${HOME}", "$(id)",
        "`id`", "*", "?", "[a]", "{a,b}", "a b", "\t", "\n", "a\nb", "#x", "%1", "%", "^x", "-n", "--", "&", ";", "|",
        "<x", ">x", "(x)", "\\", "\"", "'", "é", "日本", "Ω=1", "\u{A0}", "prod-eu_1.x", "user@host:/p+q,r",
        "x; touch pwned; #", "'; touch pwned; '",
    ]

    /// SplitMix64: small, seedable, good enough to pick characters.
    public mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int { Int(nextUInt64() % UInt64(bound)) }

    public mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

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

    public mutating func next() -> String {
        var out = String.UnicodeScalarView()
        let length = below(24)
        for position in 0..<length {
            switch below(21) {
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
            case 18 where position == 0:
                // What zsh and every shell expand only at the start of a word.
                out.append(contentsOf: pick(["=sh", "~", "~root", "=", "-"]).unicodeScalars)
            default: out.append(Unicode.Scalar(UInt8(0x41 + below(26))))
            }
        }
        return String(out)
    }

    /// A word from the crafted lists or a random one, half and half.
    public mutating func nextWord() -> String {
        below(2) == 0 ? pick(Self.crafted + Self.shellCrafted) : next()
    }
}
