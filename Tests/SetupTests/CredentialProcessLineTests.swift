import Foundation
import Testing

import AWSConfig
import TestSupport
@testable import Setup

/// The `credential_process` line setup writes, over crafted and random hostile program paths
/// and profile names, read back by what reads it: botocore (Python's `shlex.split`), a shell
/// (`sh -c`, for a user who pastes it), and stscache itself (`shellWords`, doctor and the loop
/// check). Each must see exactly the program and its four words.
@Suite("setup's credential_process line splits back into the same words", .serialized)
struct CredentialProcessLineTests {
    static let caseCount = 300

    /// (program path, role profile) pairs: the crafted words in both places, then random ones.
    static func cases(seed: UInt64) -> [(program: String, role: String)] {
        var generator = HostileStrings(seed: seed)
        var cases = (HostileStrings.crafted + HostileStrings.shellCrafted).filter { !$0.isEmpty }.map {
            ("/opt/" + $0 + "/stscache", $0 + "-role")
        }
        cases += HostileStrings.shellCrafted.filter { !$0.isEmpty }.map { ($0, "prod-role") }
        while cases.count < caseCount {
            cases.append((generator.nextWord() + "/stscache", generator.nextWord() + "-role"))
        }
        return cases
    }

    static func expected(_ pair: (program: String, role: String)) -> [String] {
        [pair.program, "credential-process", "--profile", pair.role]
    }

    static func line(_ pair: (program: String, role: String)) -> String {
        DelegationSetup.credentialProcessCommand(programPath: pair.program, roleProfile: pair.role)
    }

    @Test("stscache's own shellWords")
    func ownReader() {
        let seed = HostileStrings.seed()
        let failures = Self.cases(seed: seed).filter { shellWords(Self.line($0)) != Self.expected($0) }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(3).map(Self.line))")
    }

    @Test("Python's shlex.split, as botocore splits it", .enabled(if: Interpreters.available(["python3"]), "python3 is needed"))
    func shlex() throws {
        let seed = HostileStrings.seed()
        let cases = Self.cases(seed: seed)
        let split = try Interpreters.shlexSplit(cases.map(Self.line))
        let failures = cases.indices.filter { split[$0] != Self.expected(cases[$0]) }.map { Self.line(cases[$0]) }
        #expect(failures.isEmpty, "seed \(seed) (STSCACHE_PROPERTY_SEED replays it): \(failures.prefix(3))")
    }

    @Test("sh -c, bash and zsh, running none of it",
          .enabled(if: Interpreters.available(Interpreters.posixShells), "sh, bash and zsh are needed"),
          arguments: Interpreters.posixShells)
    func shells(shell: String) throws {
        let seed = HostileStrings.seed()
        let cases = Self.cases(seed: seed)
        let result = try Interpreters.shellWords(cases.map(Self.line), shell: shell)
        let failures = cases.indices.filter { result.words[$0] != Interpreters.expectedBytes(Self.expected(cases[$0])) }
            .map { Self.line(cases[$0]) }
        #expect(failures.isEmpty, "\(shell), seed \(seed) (STSCACHE_PROPERTY_SEED replays it): \(failures.prefix(3))")
        #expect(!result.payloadRan, "a program path ran as shell code in \(shell)")
    }

    /// The whole way: setup writes the config file, botocore's INI reader (RawConfigParser) reads
    /// the line, shlex.split splits it. Program paths only (setup refuses odd profile names),
    /// and none with a line break (an INI value is one line).
    @Test("through the config file setup writes, read the way botocore reads it",
          .enabled(if: Interpreters.available(["python3"]), "python3 is needed"))
    func throughTheConfigFile() throws {
        let seed = HostileStrings.seed()
        var generator = HostileStrings(seed: seed)
        var programs = HostileStrings.shellCrafted.map { "/opt/" + $0 + "/stscache" }
        while programs.count < 60 { programs.append("/opt/" + generator.next() + "/stscache") }
        programs = programs.filter { program in
            !program.unicodeScalars.contains { $0.properties.isWhitespace && $0 != " " || $0.value < 0x20 || $0.value == 0x7F }
        }
        let config = "[profile prod]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = base\n[profile base]\n"
        var texts: [String] = []
        for program in programs {
            let directory = try TempAWSDirectory()
            try directory.write(config: config)
            let plan = try DelegationSetup.plan(configBytes: Array(config.utf8), files: try directory.load(),
                                                profiles: ["prod"], programPath: program)
            texts.append(String(decoding: plan.bytes, as: UTF8.self))
        }
        let read = try Interpreters.python("""
            def read(text):
                parser = configparser.RawConfigParser()
                parser.read_string(text)
                return shlex.split(parser.get("profile prod", "credential_process"))
            result = [read(text) for text in value]
            """, texts)
        let words = (read as? [Any])?.map { $0 as? [String] } ?? []
        #expect(words.count == programs.count)
        let failures = zip(programs, words).filter { $0.1 != [$0.0, "credential-process", "--profile", "prod-role"] }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(3))")
    }
}
