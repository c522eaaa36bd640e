/// Text from outside (cache headers, config names, paths, an endpoint's error message) made
/// safe to show on a terminal.
public enum TerminalText {
    /// Control characters (C0, DEL, C1), and the bidirectional overrides and isolates that can
    /// make a line read differently from what it holds, as `\u{...}`; with `backslashes`, a
    /// backslash as `\\` too, so the escaping is unambiguous (`list` cells). Everything else is
    /// kept, non-ASCII letters included. ASCII text without controls costs one byte scan.
    public static func escaped(_ text: String, backslashes: Bool = true) -> String {
        if !text.utf8.contains(where: {
            $0 < 0x20 || $0 == 0x7F || $0 >= 0xC2 || (backslashes && $0 == UInt8(ascii: "\\"))
        }) {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            if backslashes && scalar == "\\" {
                out += "\\\\"
            } else if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}

/// A message as one line for stderr: line breaks folded into single spaces (each line trimmed,
/// blank ones dropped), and any other control or bidi character escaped, so text that came from
/// outside (an endpoint's error message, a file name) cannot move the cursor or retitle the
/// terminal.
public func oneLine(_ text: String) -> String {
    let folded = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        .map { $0.trimmingWhitespace() }
        .filter { !$0.isEmpty }
        .joined(separator: " ")
    return TerminalText.escaped(folded, backslashes: false)
}

extension StringProtocol {
    /// Without leading and trailing white space of any kind (line endings included).
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Seconds from `900`, `900s`, `15m` or `1h` (the number may have a fraction unless
/// `wholeSeconds`); nil for anything else, negative or not finite.
public func parseDuration(_ text: String, wholeSeconds: Bool = false) -> Double? {
    var digits = Substring(text)
    var unit: Double = 1
    switch digits.last {
    case "s": digits = digits.dropLast()
    case "m": unit = 60; digits = digits.dropLast()
    case "h": unit = 3600; digits = digits.dropLast()
    default: break
    }
    if wholeSeconds {
        guard !digits.isEmpty, digits.utf8.count <= 9, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
    }
    guard let value = Double(digits), value >= 0, value.isFinite else { return nil }
    return value * unit
}

/// JSON text for values from anywhere.
public enum JSONText {
    /// JSON string literal. AWS values are ASCII, but escape properly anyway; besides what JSON
    /// requires, DEL, C1 controls and bidirectional overrides are written as `\u` escapes, so
    /// `list --json | jq -r` cannot put them on a terminal either.
    public static func quoted(_ value: String) -> String {
        // The common case, in one piece: appending a 1 KB session token scalar by scalar was
        // 400K instructions, a tenth of a cache hit.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + value + "\""
        }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where TerminalText.needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// An AWS account id: twelve ASCII digits. The one check every output that prints one applies
/// (`AccountId`, `AWS_ACCOUNT_ID`), and the one way to take it from an ARN.
public enum AccountID {
    /// Concrete, not generic over `StringProtocol`: unspecialised across modules, a generic
    /// `utf8` walk cost the hit path ~380K instructions of runtime type lookups.
    public static func isValid(_ text: String) -> Bool { isValid(text[...]) }

    public static func isValid(_ text: Substring) -> Bool {
        var count = 0
        for byte in text.utf8 {
            guard byte >= 0x30 && byte <= 0x39 else { return false }
            count += 1
        }
        return count == 12
    }

    /// `123456789012` from `arn:aws:iam::123456789012:role/Name`; nil when that field is not an account id.
    /// A byte scan (it runs on every cache hit): `split` cost about 14K instructions more.
    public static func ofArn(_ arn: String) -> String? {
        var arn = arn
        return arn.withUTF8 { bytes -> String? in
            guard let fields = ARNFields(bytes), fields.account.count == 12,
                  fields.account.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return String(decoding: fields.account, as: UTF8.self)
        }
    }
}

/// The six colon-separated fields of an ARN (`arn:partition:service:region:account:resource`),
/// as byte ranges of one buffer; the resource keeps any further colons. nil with fewer fields.
public struct ARNFields {
    public let prefix, partition, service, region, account, resource: Slice<UnsafeBufferPointer<UInt8>>

    public init?(_ bytes: UnsafeBufferPointer<UInt8>) {
        var starts = [Int](repeating: 0, count: 6)
        var field = 1, index = 0
        while index < bytes.count, field < 6 {
            if bytes[index] == UInt8(ascii: ":") {
                starts[field] = index + 1
                field += 1
            }
            index += 1
        }
        guard field == 6 else { return nil }
        func range(_ n: Int) -> Slice<UnsafeBufferPointer<UInt8>> {
            bytes[starts[n]..<(n == 5 ? bytes.count : starts[n + 1] - 1)]
        }
        (prefix, partition, service, region, account, resource) = (range(0), range(1), range(2), range(3), range(4), range(5))
    }
}
