/// One `key = value` from a shared config file, with where it was written.
/// Which settings a message may quote. A message that names a setting by a key it did not
/// pick itself (a conflict between two sections, say) shows the value only for the keys below,
/// whose values are names, identifiers, URLs or numbers; any other key, a secret key above all
/// (`aws_secret_access_key`, `aws_session_token`, a token or password some tool added, a
/// `credential_process` whose arguments may hold one), is named with its `file:line` only.
public enum SettingText {
    public static let quotableKeys: Set<String> = [
        "region", "output", "role_arn", "source_profile", "credential_source", "role_session_name",
        "duration_seconds", "mfa_serial", "mfa_session_duration", "external_id", "sso_session", "sso_start_url",
        "sso_region", "sso_account_id", "sso_role_name", "sso_registration_scopes", "endpoint_url", "services",
        "sts_regional_endpoints", "ca_bundle", "ignore_configured_endpoint_urls", "aws_access_key_id",
        "login_session", "aws_account_id",
    ]

    /// `key = value` when the value may be shown, else `key` alone.
    public static func shown(_ key: String, _ value: INIValue) -> String {
        quotableKeys.contains(key) ? "\(key) = \(value.text)" : key
    }
}

public struct INIValue: Sendable, Equatable {
    /// The value, surrounding whitespace trimmed. Indented continuation lines are joined with
    /// `"\n"` (configparser's multi-line values); empty when the value is a sub-section.
    public var text: String
    /// The line holding `key =`.
    public var location: FileLocation
    /// For `key =` followed by indented `name = value` lines (botocore's nested sections such
    /// as `s3 =` or `sts =` under `[services x]`): those names and values. nil otherwise.
    public var subValues: [String: INIValue]?

    public init(text: String, location: FileLocation, subValues: [String: INIValue]? = nil) {
        self.text = text
        self.location = location
        self.subValues = subValues
    }
}

/// One `[section]` of a file. A header repeated later in the same file adds to the same section.
public struct INISection: Sendable, Equatable {
    /// The text between `[` and `]`, exactly as written (configparser does not trim it).
    public var name: String
    /// The first header line for this name.
    public var location: FileLocation
    /// Keys are lower-cased, as configparser's `optionxform` does; a later duplicate key wins.
    public var values: [String: INIValue]

    public init(name: String, location: FileLocation, values: [String: INIValue] = [:]) {
        self.name = name
        self.location = location
        self.values = values
    }

    public subscript(key: String) -> INIValue? { values[key] }
}

/// A parsed shared config or credentials file.
///
/// Reads the files the way botocore does (Python's `configparser.RawConfigParser` plus
/// botocore's `raw_config_parse` nesting), so a file means the same here as to the CLI:
/// - full-line comments start with `#` or `;` (after optional indentation); there are no inline
///   comments — `region = eu-west-1 # x` has the value `eu-west-1 # x`, as in botocore;
/// - `key = value`, `key=value` and `key: value` (the first `=` or `:` splits);
/// - a line indented deeper than the key line before it continues that key's value; when the key
///   line's own value is empty the continuation lines are a nested `name = value` block;
/// - text after the closing `]` of a header is ignored, as configparser does.
/// Departures, deliberate: a repeated section merges and a repeated key replaces the earlier one
/// (configparser's strict mode rejects both, other AWS SDKs accept them); a UTF-8 byte order mark
/// is skipped; a line starting `[` without a `]` is an error rather than a key named `[...`.
public struct INIDocument: Sendable {
    public let path: String
    /// In order of first appearance.
    public private(set) var sections: [INISection]
    private var indexByName: [String: Int]

    public init(path: String, sections: [INISection]) {
        self.path = path
        self.sections = []
        self.indexByName = [:]
        for section in sections {
            if let index = indexByName[section.name] {
                self.sections[index].values.merge(section.values) { _, new in new }
            } else {
                indexByName[section.name] = self.sections.count
                self.sections.append(section)
            }
        }
    }

    public func section(named name: String) -> INISection? {
        indexByName[name].map { sections[$0] }
    }

    /// Parses raw file bytes. Bytes that are not UTF-8 are an `invalid-encoding` error naming the line.
    public static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> INIDocument {
        let result: Result<INIDocument, ConfigError> = bytes.withUnsafeBufferPointer { buffer in
            if let bad = firstInvalidUTF8(buffer) {
                let line = lineNumber(ofOffset: bad, in: buffer)
                return .failure(ConfigError(
                    .invalidEncoding,
                    "\(path):\(line): the file is not UTF-8 text (invalid byte at offset \(bad)); "
                        + "save it as UTF-8, or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at the right file.",
                    location: FileLocation(file: path, line: line)))
            }
            return Result { () throws(ConfigError) in try parseValidated(buffer, path: path) }
        }
        return try result.get()
    }

    /// The sections of a file without their settings: every header, read by the same rules as
    /// `parse`, but no value is decoded or kept (the credentials file's secrets among them).
    /// For shell completion, which offers names and must not hold a secret.
    public static func parseHeaders(_ bytes: [UInt8], path: String) throws(ConfigError) -> INIDocument {
        let result: Result<INIDocument, ConfigError> = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(ConfigError) in try parseValidated(buffer, path: path, headersOnly: true) }
        }
        return try result.get()
    }

    /// Parses text already known to be valid UTF-8.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> INIDocument {
        var text = text
        let result: Result<INIDocument, ConfigError> = text.withUTF8 { buffer in
            Result { () throws(ConfigError) in try parseValidated(buffer, path: path) }
        }
        return try result.get()
    }

    private mutating func add(section name: String, at location: FileLocation) -> Int {
        if let index = indexByName[name] { return index }
        indexByName[name] = sections.count
        sections.append(INISection(name: name, location: location))
        return sections.count - 1
    }

    private mutating func set(_ value: INIValue, forKey key: String, inSection index: Int) {
        sections[index].values[key] = value
    }

    // MARK: - Reader

    /// A key whose value may still grow by continuation lines.
    private struct PendingValue {
        var section: Int
        var key: String
        var first: String
        var line: Int
        var continuation: [(text: String, line: Int)] = []
    }

    /// `headersOnly`: keep the sections, skip every value (it is never decoded). Valid UTF-8 is
    /// not required then: header bytes that are not are replaced, as `String(decoding:)` does.
    private static func parseValidated(_ all: UnsafeBufferPointer<UInt8>, path: String,
                                       headersOnly: Bool = false) throws(ConfigError) -> INIDocument {
        var document = INIDocument(path: path, sections: [])
        var current: Int?
        var pending: PendingValue?
        var indentLevel = 0
        var lineNumber = 0
        var start = 0
        let count = all.count
        if count >= 3, all[0] == 0xEF, all[1] == 0xBB, all[2] == 0xBF { start = 3 }

        func location(_ line: Int) -> FileLocation { FileLocation(file: path, line: line) }
        func text(_ from: Int, _ to: Int) -> String {
            String(decoding: UnsafeBufferPointer(rebasing: all[from..<to]), as: UTF8.self)
        }
        func malformed(_ line: Int, _ what: String) -> ConfigError {
            ConfigError(.malformedLine, "\(path):\(line): \(what)", location: location(line))
        }

        while start < count {
            lineNumber += 1
            // Universal newlines, as Python reads text files: \n, \r\n and a lone \r.
            var end = start
            while end < count, all[end] != 0x0A, all[end] != 0x0D { end += 1 }
            let next = end < count && all[end] == 0x0D && end + 1 < count && all[end + 1] == 0x0A ? end + 2 : end + 1
            defer { start = next }

            var first = start
            while first < end, isBlank(all[first]) { first += 1 }
            var last = end
            while last > first, isBlank(all[last - 1]) { last -= 1 }

            if first == last {
                // configparser keeps blank lines inside a multi-line value (trimmed at the end).
                pending?.continuation.append(("", lineNumber))
                continue
            }
            let lead = all[first]
            if lead == UInt8(ascii: "#") || lead == UInt8(ascii: ";") { continue }

            let indent = first - start
            if pending != nil, indent > indentLevel {
                if !headersOnly { pending!.continuation.append((text(first, last), lineNumber)) }
                continue
            }
            if let finished = pending {
                if !headersOnly { try document.finish(finished, path: path) }
                pending = nil
            }
            indentLevel = indent

            if lead == UInt8(ascii: "[") {
                // configparser's header pattern is `\[(.+)\]` matched at the start: the name runs
                // to the last `]` on the line and anything after it is ignored.
                var close = last - 1
                while close > first, all[close] != UInt8(ascii: "]") { close -= 1 }
                guard close > first else {
                    throw malformed(lineNumber, "section header has no closing `]`; write it as `[profile name]`.")
                }
                guard close > first + 1 else {
                    throw malformed(lineNumber, "section header `[]` has no name; write it as `[profile name]`.")
                }
                current = document.add(section: text(first + 1, close), at: location(lineNumber))
                continue
            }

            guard let section = current else {
                throw malformed(lineNumber, "a setting comes before any section header; "
                    + "put it under a header such as `[default]` or `[profile name]`.")
            }
            var delimiter = first
            while delimiter < last, all[delimiter] != UInt8(ascii: "="), all[delimiter] != UInt8(ascii: ":") {
                delimiter += 1
            }
            guard delimiter < last else {
                throw malformed(lineNumber, "expected `key = value`, a `[section]` header or a `#` comment; "
                    + "this line has no `=`. Fix or remove it.")
            }
            var keyEnd = delimiter
            while keyEnd > first, isBlank(all[keyEnd - 1]) { keyEnd -= 1 }
            guard keyEnd > first else {
                throw malformed(lineNumber, "a setting has no name before its `=`; write it as `key = value`.")
            }
            var valueStart = delimiter + 1
            while valueStart < last, isBlank(all[valueStart]) { valueStart += 1 }
            pending = headersOnly
                ? PendingValue(section: section, key: "", first: "", line: lineNumber)
                : PendingValue(section: section, key: lowercasedKey(first, keyEnd, all), first: text(valueStart, last),
                               line: lineNumber)
        }
        if let finished = pending, !headersOnly {
            try document.finish(finished, path: path)
        }
        return document
    }

    /// Turns a key and its continuation lines into a value, as configparser joins them and
    /// botocore then splits a value that starts with a newline into a nested block.
    private mutating func finish(_ pending: PendingValue, path: String) throws(ConfigError) {
        let location = FileLocation(file: path, line: pending.line)
        let hasMore = pending.continuation.contains { !$0.text.isEmpty }
        let value: INIValue
        if !hasMore {
            value = INIValue(text: pending.first, location: location)
        } else if pending.first.isEmpty {
            var nested: [String: INIValue] = [:]
            for part in pending.continuation where !part.text.isEmpty {
                let utf8 = part.text.utf8
                guard let equals = utf8.firstIndex(of: UInt8(ascii: "=")) else {
                    throw ConfigError(
                        .malformedLine,
                        "\(path):\(part.line): an indented line under `\(pending.key) =` must be `name = value`; "
                            + "fix it, or un-indent it if it is a setting of its own.",
                        location: FileLocation(file: path, line: part.line))
                }
                let name = trimmed(part.text[..<equals])
                let text = trimmed(part.text[utf8.index(after: equals)...])
                nested[name] = INIValue(text: text, location: FileLocation(file: path, line: part.line))
            }
            value = INIValue(text: "", location: location, subValues: nested)
        } else {
            var lines = [pending.first]
            lines.append(contentsOf: pending.continuation.map(\.text))
            while lines.last?.isEmpty == true { lines.removeLast() }
            value = INIValue(text: lines.joined(separator: "\n"), location: location)
        }
        set(value, forKey: pending.key, inSection: pending.section)
    }
}

// MARK: - Byte helpers

/// Python's `str.strip()` whitespace, restricted to what can appear inside one line here.
@inline(__always)
func isBlank(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0B || byte == 0x0C
}

func trimmed(_ text: Substring) -> String {
    var slice = text[...]
    while let first = slice.utf8.first, isBlank(first) { slice = slice.dropFirst() }
    while let last = slice.utf8.last, isBlank(last) { slice = slice.dropLast() }
    return String(slice)
}

/// configparser lower-cases option names; config keys are ASCII, so ASCII folding is enough.
private func lowercasedKey(_ from: Int, _ to: Int, _ all: UnsafeBufferPointer<UInt8>) -> String {
    let slice = UnsafeBufferPointer(rebasing: all[from..<to])
    if !slice.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
        return String(decoding: slice, as: UTF8.self)
    }
    return String(decoding: slice.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
}

/// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence
/// (no overlong forms, no surrogates, nothing past U+10FFFF), or nil when all of it is UTF-8.
func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
    var index = 0
    let count = bytes.count
    while index < count {
        let lead = bytes[index]
        if lead < 0x80 {
            index += 1
            continue
        }
        let trailing: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: trailing = 1
        case 0xE0: trailing = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
        case 0xED: trailing = 2; high = 0x9F
        case 0xF0: trailing = 3; low = 0x90
        case 0xF1...0xF3: trailing = 3
        case 0xF4: trailing = 3; high = 0x8F
        default: return index
        }
        guard index + trailing < count else { return index }
        let second = bytes[index + 1]
        guard second >= low, second <= high else { return index }
        var offset = 2
        while offset <= trailing {
            guard bytes[index + offset] & 0xC0 == 0x80 else { return index }
            offset += 1
        }
        index += trailing + 1
    }
    return nil
}

/// The 1-based line holding `offset`, counting line breaks the way the reader does.
func lineNumber(ofOffset offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var line = 1
    var index = 0
    while index < offset {
        let byte = bytes[index]
        if byte == 0x0A || (byte == 0x0D && !(index + 1 < bytes.count && bytes[index + 1] == 0x0A)) {
            line += 1
        }
        index += 1
    }
    return line
}
