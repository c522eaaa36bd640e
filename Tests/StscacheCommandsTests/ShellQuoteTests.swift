import Testing
import AWSConfig
@testable import Credentials
@testable import StscacheCommands
import TestSupport

/// The quoting `export` writes, checked by scalars: a quote hidden in a grapheme cluster (a
/// combining mark after it, a prepend character before it) must be escaped like any other.
@Suite("ShellQuote works on Unicode scalars")
struct ShellQuoteTests {
    @Test("posix: every ' scalar is written as '\\'' and the rest is inside quotes", arguments: HostileStrings.crafted)
    func posix(_ value: String) {
        let quoted = ShellQuote.posix(value)
        #expect(Self.posixUnquote(quoted) == Array(value.unicodeScalars), "\(quoted.unicodeScalars.map(\.value))")
    }

    @Test("fish: every ' and \\ scalar is escaped", arguments: HostileStrings.crafted)
    func fish(_ value: String) {
        let quoted = ShellQuote.fish(value)
        #expect(Self.fishUnquote(quoted) == Array(value.unicodeScalars), "\(quoted.unicodeScalars.map(\.value))")
    }

    @Test("powershell: every quote scalar (' and U+2018 to U+201B) is doubled", arguments: HostileStrings.crafted)
    func powershell(_ value: String) {
        let quoted = ShellQuote.powershell(value)
        #expect(Self.powershellUnquote(quoted) == Array(value.unicodeScalars), "\(quoted.unicodeScalars.map(\.value))")
    }

    /// Control: the quoting as it was (by `Character`) fails these very checks, so they can fail.
    @Test("control: the old Character-based quoting leaves a quote open on the crafted values")
    func oldQuotingFails() {
        for value in ["tok'\u{301}; touch /tmp/pwned; #", "tok\u{600}'; touch /tmp/pwned; #"] {
            #expect(Self.posixUnquote(CharacterQuote.posix(value)) == nil)
            #expect(Self.fishUnquote(CharacterQuote.fish(value)) == nil)
        }
        #expect(Self.powershellUnquote(CharacterQuote.powershell("\u{2019}\u{301}")) == nil)
        // A prepend character takes the backslash into its cluster: the backslash is not doubled.
        #expect(Self.fishUnquote(CharacterQuote.fish("\u{600}\\'")) == nil)
    }

    @Test("the export refusal's eval hint quotes the profile only when it must")
    func refusalHint() {
        #expect(ExportCommand.profileWord("prod-eu_1.x") == "prod-eu_1.x")
        #expect(ExportCommand.profileWord("my prof") == "'my prof'")
        #expect(ExportCommand.profileWord("a'\u{301}$(x)") == "'a'\\''\u{301}$(x)'")
        #expect(ExportCommand.profileWord("=ls") == "'=ls'")
        #expect(ExportCommand.profileWord("two\nlines") == "PROFILE")
    }

    // MARK: Reading the quoting back, as each shell does, by scalars

    /// sh: `'...'` segments joined by `\'`; nil when anything is left unquoted.
    static func posixUnquote(_ text: String) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = [], inQuote = false, escaped = false
        for scalar in text.unicodeScalars {
            if inQuote {
                if scalar == "'" { inQuote = false } else { out.append(scalar) }
            } else if escaped {
                guard scalar == "'" else { return nil }
                out.append(scalar)
                escaped = false
            } else if scalar == "'" {
                inQuote = true
            } else if scalar == "\\" {
                escaped = true
            } else {
                return nil
            }
        }
        return inQuote || escaped ? nil : out
    }

    /// fish: one `'...'` with `\'` and `\\` inside; nil when the quote closes early.
    static func fishUnquote(_ text: String) -> [Unicode.Scalar]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 2, scalars.first == "'", scalars.last == "'" else { return nil }
        var out: [Unicode.Scalar] = [], index = 1
        while index < scalars.count - 1 {
            let scalar = scalars[index]
            if scalar == "\\", scalars[index + 1] == "'" || scalars[index + 1] == "\\" {
                // fish reads `\'` as a quote even right before the closing one, which then is not closing.
                guard index + 1 < scalars.count - 1 else { return nil }
                out.append(scalars[index + 1])
                index += 2
                continue
            }
            if scalar == "'" { return nil }
            out.append(scalar)
            index += 1
        }
        return out
    }

    /// PowerShell: one `'...'` where each quote character inside is doubled.
    static func powershellUnquote(_ text: String) -> [Unicode.Scalar]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 2, ShellQuote.powershellQuotes.contains(scalars[0]),
              ShellQuote.powershellQuotes.contains(scalars[scalars.count - 1]) else { return nil }
        var out: [Unicode.Scalar] = [], index = 1
        while index < scalars.count - 1 {
            let scalar = scalars[index]
            if ShellQuote.powershellQuotes.contains(scalar) {
                guard index + 1 < scalars.count - 1, ShellQuote.powershellQuotes.contains(scalars[index + 1]) else { return nil }
                out.append(scalar)
                index += 2
                continue
            }
            out.append(scalar)
            index += 1
        }
        return out
    }
}

/// The quoting as it was before issue 10, by `Character`: kept here only as the controls'
/// attack surface (the property test evaluates it too, to show the shells run the payload).
enum CharacterQuote {
    static func posix(_ value: String) -> String { "'" + replacing(value, "'", "'\\''") + "'" }
    static func fish(_ value: String) -> String { "'" + replacing(replacing(value, "\\", "\\\\"), "'", "\\'") + "'" }
    static func powershell(_ value: String) -> String {
        var out = "'"
        for character in value {
            if ["'", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}"].contains(character) { out.append(character) }
            out.append(character)
        }
        return out + "'"
    }

    static func replacing(_ value: String, _ target: Character, _ replacement: String) -> String {
        var out = ""
        for character in value {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }
}
