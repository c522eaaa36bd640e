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

/// `word` as one word for `shellWords` (and for a POSIX shell): unchanged when it is plain,
/// else in single quotes. The inverse of `shellWords` for one word.
public func shellQuoted(_ word: String) -> String {
    let plain = !word.isEmpty && word.utf8.allSatisfy { byte in
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ":")
            || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "=") || byte == UInt8(ascii: ",")
    }
    if plain { return word }
    return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\"'\"'") + "'"
}
