/// Splits a line into words the way Python's `shlex.split` does in POSIX mode, which is how
/// botocore reads both `[profile "name"]` headers and `credential_process` commands (it runs
/// the words directly, without a shell).
///
/// Whitespace separates words; `'...'` is literal; inside `"..."` a backslash escapes only `"`
/// and `\`; outside quotes a backslash escapes any character; adjacent pieces join into one
/// word (`a'b c'` is `ab c`). Returns nil for an unterminated quote or a trailing backslash,
/// where shlex raises.
public func shellWords(_ line: String) -> [String]? {
    enum State { case plain, single, double }
    let bytes = Array(line.utf8)
    var words: [String] = []
    var word: [UInt8] = []
    var inWord = false
    var state = State.plain
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        switch state {
        case .plain:
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D:
                if inWord {
                    words.append(String(decoding: word, as: UTF8.self))
                    word.removeAll(keepingCapacity: true)
                    inWord = false
                }
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { return nil }
                word.append(bytes[index])
                inWord = true
            case UInt8(ascii: "'"):
                state = .single
                inWord = true
            case UInt8(ascii: "\""):
                state = .double
                inWord = true
            default:
                word.append(byte)
                inWord = true
            }
        case .single:
            if byte == UInt8(ascii: "'") { state = .plain } else { word.append(byte) }
        case .double:
            if byte == UInt8(ascii: "\"") {
                state = .plain
            } else if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count else { return nil }
                let escaped = bytes[index + 1]
                if escaped != UInt8(ascii: "\"") && escaped != UInt8(ascii: "\\") { word.append(byte) }
                word.append(escaped)
                index += 1
            } else {
                word.append(byte)
            }
        }
        index += 1
    }
    guard state == .plain else { return nil }
    if inWord { words.append(String(decoding: word, as: UTF8.self)) }
    return words
}

/// Quoting for shells, and for `shellWords` (botocore's `shlex.split`): the shell words
/// stscache writes (`export`'s lines and its `eval` hint, setup's `credential_process` line,
/// the login command a missing Identity Center token names) are all quoted here, by one rule.
///
/// Everything here works on Unicode scalars, never on `Character`s. A `Character` is a
/// grapheme cluster: `'` followed by a combining mark (U+0301), or preceded by a prepend
/// character (U+0600), is one cluster that is not equal to `"'"`, so a comparison by
/// `Character` leaves that quote unescaped and the rest of the value runs as shell code.
/// Shells read bytes (or code points), not clusters.
package enum ShellQuote {
    /// `word` as one word for sh, bash, zsh and `shlex.split`: bare when every byte is plain
    /// (`isPlainPOSIXWord`), else `posix(word)`.
    package static func word(_ word: String) -> String {
        isPlainPOSIXWord(word) ? word : posix(word)
    }

    /// sh, bash, zsh and `shlex.split`: always in single quotes, inside which nothing is special
    /// but the quote itself; each `'` is written close, escaped quote, reopen: `'\''`.
    package static func posix(_ value: String) -> String {
        "'" + value.replacingScalars { $0 == "'" ? "'\\''" : nil } + "'"
    }

    /// fish: `\'` and `\\` are the only escapes inside single quotes.
    ///
    /// fish keeps bytes it cannot decode as code points U+F600 to U+F6FF and turns them back
    /// into bytes on the way out; it reads a real U+F6xx in its input the same way (as the
    /// three bytes of its UTF-8), so those survive `source` byte for byte too and need no escape.
    package static func fish(_ value: String) -> String {
        "'" + value.replacingScalars { scalar in
            switch scalar {
            case "\\": return "\\\\"
            case "'": return "\\'"
            default: return nil
            }
        } + "'"
    }

    /// PowerShell's single-quote characters: the ASCII one and the typographic U+2018 to U+201B.
    package static let powershellQuotes: Set<Unicode.Scalar> = ["'", "\u{2018}", "\u{2019}", "\u{201A}", "\u{201B}"]

    /// PowerShell: a quote is doubled. PowerShell also takes the typographic single quotes
    /// (U+2018 to U+201B) as quotes, so those are doubled too.
    package static func powershell(_ value: String) -> String {
        "'" + value.replacingScalars { powershellQuotes.contains($0) ? String($0) + String($0) : nil } + "'"
    }

    /// Characters every POSIX shell, zsh included, and `shlex.split` read as themselves outside
    /// quotes, wherever they stand in a word (ASCII only). Not `=`: zsh expands a word starting
    /// with `=` (`=ls` is `/usr/bin/ls`); not `~` (a home directory at the start), `%` (a job in
    /// zsh), nor anything that globs, expands or separates.
    package static func isPlainPOSIXWord(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "_-.,:/@+".utf8.contains(byte)
            }
        }
    }
}

extension String {
    /// Each Unicode scalar for which `replacement` answers a string is replaced by it; the
    /// others are kept as they are. By scalar, not by `Character`: see `ShellQuote`.
    package func replacingScalars(_ replacement: (Unicode.Scalar) -> String?) -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if let text = replacement(scalar) { out.append(contentsOf: text.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}
