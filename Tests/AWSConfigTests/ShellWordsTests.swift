import Foundation
import Testing

@testable import AWSConfig
import TestSupport

@Suite("Shell words")
struct ShellWordsTests {
    @Test("splits words as Python's shlex.split does in POSIX mode")
    func shlexCompatibility() {
        #expect(shellWords("a b\tc\n d") == ["a", "b", "c", "d"])
        #expect(shellWords("profile \"my profile\"") == ["profile", "my profile"])
        #expect(shellWords("a'b c'd") == ["ab cd"])
        #expect(shellWords(#"'a\b'"#) == [#"a\b"#])
        #expect(shellWords(#""a\b" "c\"d" "e\\f""#) == [#"a\b"#, #"c"d"#, #"e\f"#])
        #expect(shellWords(##"a\ b \#c"##) == ["a b", "#c"])
        #expect(shellWords("'' x") == ["", "x"])
        #expect(shellWords("   ") == [])
        #expect(shellWords("é 'ü ö'") == ["é", "ü ö"])
        #expect(shellWords("'open") == nil)
        #expect(shellWords("\"open") == nil)
        #expect(shellWords("trailing\\") == nil)
    }
}

/// The one quoter every shell word stscache writes goes through (`ShellQuote`), read back by
/// the real readers: stscache's own `shellWords`, Python's `shlex.split` (botocore) and sh, bash
/// and zsh, over crafted and random hostile words.
@Suite("ShellQuote.word: one word for every reader", .serialized)
struct ShellQuoteWordTests {
    static let caseCount = 400

    static func words(seed: UInt64) -> [String] {
        var generator = HostileStrings(seed: seed)
        var words = HostileStrings.crafted + HostileStrings.shellCrafted
        while words.count < caseCount { words.append(generator.next()) }
        return words
    }

    @Test("the rule: bare only when every byte is a letter, a digit or one of _-.,:/@+")
    func rule() {
        for plain in ["prod", "prod-eu_1.x", "/usr/local/bin/stscache", "user@host:/p+q,r", "A9"] {
            #expect(ShellQuote.word(plain) == plain)
        }
        // zsh expands a word starting with `=` (`=ls` is /usr/bin/ls): `=` is never bare.
        #expect(ShellQuote.word("=ls") == "'=ls'")
        #expect(ShellQuote.word("a=b") == "'a=b'")
        #expect(!ShellQuote.isPlainPOSIXWord("="))
        for special in ["~", "~root", "%1", "!", "$HOME", "*", "a b", "é", "", "x\ny", "\\"] {
            #expect(ShellQuote.word(special) == ShellQuote.posix(special), "\(special)")
        }
        #expect(ShellQuote.word("it's") == #"'it'\''s'"#)
        // By scalar: a quote inside a grapheme cluster is escaped too.
        #expect(ShellQuote.word("a'\u{301}") == "'a'\\''\u{301}'")
    }

    @Test("stscache's shellWords reads each quoted word back as that one word")
    func ownReader() {
        let seed = HostileStrings.seed()
        let failures = Self.words(seed: seed).filter { shellWords(ShellQuote.word($0)) != [$0] }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5).map { Array($0.unicodeScalars) })")
    }

    @Test("Python's shlex.split (botocore) reads each quoted word back as that one word",
          .enabled(if: Interpreters.available(["python3"]), "python3 is needed"))
    func shlex() throws {
        let seed = HostileStrings.seed()
        let words = Self.words(seed: seed)
        let split = try Interpreters.shlexSplit(words.map(ShellQuote.word))
        let failures = words.indices.filter { split[$0] != [words[$0]] }.map { Array(words[$0].unicodeScalars) }
        #expect(failures.isEmpty, "seed \(seed) (STSCACHE_PROPERTY_SEED replays it): \(failures.prefix(5))")
    }

    @Test("sh, bash and zsh read each quoted word back byte for byte, and run none of it",
          .enabled(if: Interpreters.available(Interpreters.posixShells), "sh, bash and zsh are needed"),
          arguments: Interpreters.posixShells)
    func shells(shell: String) throws {
        let seed = HostileStrings.seed()
        let words = Self.words(seed: seed)
        let result = try Interpreters.shellWords(words.map(ShellQuote.word), shell: shell)
        let failures = words.indices.filter { result.words[$0] != Interpreters.expectedBytes([words[$0]]) }
            .map { Array(words[$0].unicodeScalars) }
        #expect(failures.isEmpty, "\(shell), seed \(seed) (STSCACHE_PROPERTY_SEED replays it): \(failures.prefix(5))")
        #expect(!result.payloadRan, "a word ran as shell code in \(shell)")
    }

    /// Control: the harness sees zsh's `=cmd` expansion, so the property above fails if `=`
    /// is ever made plain again.
    @Test("control: zsh expands a bare =sh, and not the quoted one",
          .enabled(if: Interpreters.available(["zsh"]), "zsh is needed"))
    func zshEqualsExpansion() throws {
        let result = try Interpreters.shellWords(["=sh", "~", ShellQuote.word("=sh"), ShellQuote.word("~")], shell: "zsh")
        #expect(result.words[0] != Interpreters.expectedBytes(["=sh"]))
        #expect(result.words[1] != Interpreters.expectedBytes(["~"]))
        #expect(result.words[2] == Interpreters.expectedBytes(["=sh"]))
        #expect(result.words[3] == Interpreters.expectedBytes(["~"]))
    }

    @Test("the login command a missing token names splits into stscache's own words",
          .enabled(if: Interpreters.available(["sh"]), "sh is needed"))
    func loginCommand() throws {
        let seed = HostileStrings.seed()
        let names = Self.words(seed: seed).filter { !$0.isEmpty }
        var lines: [String] = [], expected: [[String]] = []
        for (index, name) in names.enumerated() {
            let settings = IdentityCenterSettings(
                profile: name, startURL: "https://example.awsapps.com/start", region: "eu-west-1", accountId: "123456789012",
                roleName: "Dev", sessionName: index % 2 == 0 ? name : nil, registrationScopes: [])
            let option = index % 2 == 0 ? "--sso-session" : "--profile"
            // "stscache login X (or aws sso login X)": the first command, cut by length (X may
            // hold anything, the separator included).
            let scalars = Array(settings.loginCommand.unicodeScalars)
            let head = "stscache login ".unicodeScalars.count
            let optionLength = (scalars.count - head - " (or aws sso login ".unicodeScalars.count - 1) / 2
            var optionText = String.UnicodeScalarView()
            optionText.append(contentsOf: scalars[head..<(head + optionLength)])
            let firstCommand = "stscache login " + String(optionText)
            #expect(settings.loginCommand == firstCommand + " (or aws sso login " + String(optionText) + ")")
            lines.append(firstCommand)
            expected.append(["stscache", "login", option, name])
        }
        let result = try Interpreters.shellWords(lines, shell: "sh")
        let failures = lines.indices.filter { result.words[$0] != Interpreters.expectedBytes(expected[$0]) }
            .map { lines[$0] }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
        #expect(!result.payloadRan)
    }
}
