import StscacheSupport

/// A shared config file as the lines it was written in, for editing it without changing a byte
/// of what the edit does not touch.
///
/// `INIDocument` answers what a file *means*; this answers where each thing *is*: every line's
/// bytes (terminator included) and what the reader makes of it. The classification follows
/// `INIDocument`'s reader rule for rule (universal newlines, `#`/`;` full-line comments that
/// change nothing, a line indented deeper than its key line continues that key, blank lines
/// inside a value), so an edit plan built on it removes exactly the lines that make up a key.
/// Build it only from bytes `INIDocument.parse` accepted: it assumes a well-formed file.
public struct ConfigText: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Empty or whitespace only.
        case blank
        /// A `#` or `;` full-line comment.
        case comment
        /// `[name]`; `name` as the reader sees it (between `[` and the last `]`).
        case header(name: String)
        /// `key = value`; the key lower-cased, as the reader stores it.
        case key(name: String)
        /// A line continuing the value of the key above it.
        case continuation
    }

    public struct Line: Sendable, Equatable {
        public var kind: Kind
        /// The line's bytes in `bytes`, terminator included.
        public var range: Range<Int>
        /// Where the terminator starts (== `range.upperBound` for a last line without one).
        public var contentEnd: Int
        /// The index of the header line of the section this line is in; nil before the first header.
        public var headerLine: Int?
    }

    /// One `key = value` with its continuation lines (and any blank or comment line between them).
    public struct Entry: Sendable, Equatable {
        public var key: String
        /// Index of the key line.
        public var first: Int
        /// Index of the last line of its value.
        public var last: Int
    }

    public let bytes: [UInt8]
    public let lines: [Line]
    /// The line ending most lines use (`\n`, `\r\n` or `\r`), for lines an edit adds.
    public let newline: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var lines: [Line] = []
        var start = 0
        let count = bytes.count
        if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var keyPending = false
        var indentLevel = 0
        var header: Int?
        var counts = (lf: 0, crlf: 0, cr: 0)
        while start < count {
            var end = start
            while end < count, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
            var next = end
            if end < count {
                if bytes[end] == 0x0D, end + 1 < count, bytes[end + 1] == 0x0A {
                    next = end + 2
                    counts.crlf += 1
                } else {
                    next = end + 1
                    if bytes[end] == 0x0A { counts.lf += 1 } else { counts.cr += 1 }
                }
            }
            // The byte order mark belongs to the first line, so nothing before it is lost.
            let lineStart = lines.isEmpty ? 0 : start
            defer { start = next }
            var first = start
            while first < end, isBlank(bytes[first]) { first += 1 }
            var last = end
            while last > first, isBlank(bytes[last - 1]) { last -= 1 }

            let kind: Kind
            if first == last {
                kind = .blank
            } else if bytes[first] == UInt8(ascii: "#") || bytes[first] == UInt8(ascii: ";") {
                kind = .comment
            } else if keyPending, first - start > indentLevel {
                kind = .continuation
            } else {
                indentLevel = first - start
                if bytes[first] == UInt8(ascii: "[") {
                    var close = last - 1
                    while close > first, bytes[close] != UInt8(ascii: "]") { close -= 1 }
                    let name = close > first + 1
                        ? String(decoding: bytes[(first + 1)..<close], as: UTF8.self) : ""
                    kind = .header(name: name)
                    keyPending = false
                    header = lines.count
                } else {
                    var delimiter = first
                    while delimiter < last, bytes[delimiter] != UInt8(ascii: "="), bytes[delimiter] != UInt8(ascii: ":") {
                        delimiter += 1
                    }
                    var keyEnd = delimiter
                    while keyEnd > first, isBlank(bytes[keyEnd - 1]) { keyEnd -= 1 }
                    let key = bytes[first..<keyEnd].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
                    kind = .key(name: String(decoding: key, as: UTF8.self))
                    keyPending = true
                }
            }
            lines.append(Line(kind: kind, range: lineStart..<next, contentEnd: end, headerLine: header))
        }
        self.lines = lines
        if counts.crlf > counts.lf && counts.crlf >= counts.cr {
            newline = [0x0D, 0x0A]
        } else if counts.cr > counts.lf && counts.cr > counts.crlf {
            newline = [0x0D]
        } else {
            newline = [0x0A]
        }
    }

    /// The line's text without its terminator (and without a byte order mark).
    public func content(of index: Int) -> String {
        var from = lines[index].range.lowerBound
        if from == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { from = 3 }
        return String(decoding: bytes[from..<lines[index].contentEnd], as: UTF8.self)
    }

    /// Indices of the header lines whose section name is `name`, in file order.
    public func headerLines(named name: String) -> [Int] {
        lines.indices.filter { lines[$0].kind == .header(name: name) }
    }

    /// The keys of the section starting at header line `header`, in file order.
    public func entries(inSectionAt header: Int) -> [Entry] {
        var entries: [Entry] = []
        var index = header + 1
        while index < lines.count, lines[index].headerLine == header {
            if case .key(let name) = lines[index].kind {
                entries.append(Entry(key: name, first: index, last: index))
            } else if lines[index].kind == .continuation, !entries.isEmpty {
                entries[entries.count - 1].last = index
            }
            index += 1
        }
        return entries
    }

    /// The last line that belongs to the section's settings: its last key or continuation line
    /// (the header itself when it has none). Blank lines and comments after it are left to
    /// whatever follows, as a reader of the file would take them.
    public func lastSettingLine(inSectionAt header: Int) -> Int {
        var last = header
        var index = header + 1
        while index < lines.count, lines[index].headerLine == header {
            switch lines[index].kind {
            case .key, .continuation: last = index
            default: break
            }
            index += 1
        }
        return last
    }
}

/// A line-based change to a `ConfigText`: lines removed and lines added, everything else kept
/// byte for byte.
public struct ConfigTextEdit: Sendable {
    /// Indices of original lines to drop.
    public private(set) var removed: Set<Int> = []
    /// New lines (text without terminators) to put before the original line at the index;
    /// the index `lines.count` means the end of the file.
    public private(set) var insertions: [Int: [String]] = [:]

    public init() {}

    public mutating func remove(_ lines: ClosedRange<Int>) {
        removed.formUnion(lines)
    }

    /// Adds `lines` before original line `index` (after anything added there before).
    public mutating func insert(_ lines: [String], before index: Int) {
        insertions[index, default: []].append(contentsOf: lines)
    }

    public var isEmpty: Bool { removed.isEmpty && insertions.values.allSatisfy(\.isEmpty) }

    /// The edit that turns `text` into `newBytes`, line by line (a longest common subsequence of
    /// the lines' text), for showing a whole-file change as a diff. A file too large for the
    /// table is shown as every line removed and added.
    public static func replacing(_ text: ConfigText, with newBytes: [UInt8]) -> ConfigTextEdit {
        let new = ConfigText(newBytes)
        let old = text.lines.indices.map { text.content(of: $0) }
        let added = new.lines.indices.map { new.content(of: $0) }
        var edit = ConfigTextEdit()
        guard old.count * added.count <= 4_000_000 else {
            if !old.isEmpty { edit.remove(0...(old.count - 1)) }
            edit.insert(added, before: old.count)
            return edit
        }
        // lengths[i][j]: the longest common subsequence of old[i...] and added[j...].
        let width = added.count + 1
        var lengths = [Int](repeating: 0, count: (old.count + 1) * width)
        for i in stride(from: old.count - 1, through: 0, by: -1) {
            for j in stride(from: added.count - 1, through: 0, by: -1) {
                lengths[i * width + j] = old[i] == added[j]
                    ? lengths[(i + 1) * width + j + 1] + 1
                    : max(lengths[(i + 1) * width + j], lengths[i * width + j + 1])
            }
        }
        var i = 0
        var j = 0
        while i < old.count || j < added.count {
            if i < old.count, j < added.count, old[i] == added[j] {
                i += 1
                j += 1
            } else if j < added.count, i == old.count || lengths[i * width + j + 1] >= lengths[(i + 1) * width + j] {
                edit.insert([added[j]], before: i)
                j += 1
            } else {
                edit.remove(i...i)
                i += 1
            }
        }
        return edit
    }

    /// The edited file. New lines end with the file's usual line ending; when the file's last
    /// line has none and lines are added after it, one is added to it first.
    public func apply(to text: ConfigText) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.bytes.count + 256)
        var endsOpen = false
        func emitInsertions(_ index: Int) {
            guard let added = insertions[index], !added.isEmpty else { return }
            if endsOpen {
                out += text.newline
                endsOpen = false
            }
            for line in added {
                out += Array(line.utf8)
                out += text.newline
            }
        }
        // A byte order mark on a removed first line stays: it belongs to the file, not the line.
        if let first = text.lines.first, removed.contains(0), text.bytes.starts(with: [0xEF, 0xBB, 0xBF]),
           first.range.lowerBound == 0 {
            out += [0xEF, 0xBB, 0xBF]
        }
        for (index, line) in text.lines.enumerated() {
            emitInsertions(index)
            guard !removed.contains(index) else { continue }
            out += text.bytes[line.range]
            endsOpen = line.contentEnd == line.range.upperBound
        }
        emitInsertions(text.lines.count)
        return out
    }

    /// A unified diff (3 lines of context) of the edit, for `--dry-run`. Values of keys in
    /// `maskedKeys` are shown as `****` so a secret in the file is not printed.
    public func unifiedDiff(of text: ConfigText, oldName: String, newName: String,
                            maskedKeys: Set<String> = []) -> String {
        enum Tag { case same, removed, added }
        struct Row { var tag: Tag; var old: Int; var new: Int; var text: String }
        func shown(_ index: Int) -> String {
            if case .key(let name) = text.lines[index].kind, maskedKeys.contains(name) {
                let content = text.content(of: index)
                let cut = content.firstIndex(where: { $0 == "=" || $0 == ":" }) ?? content.endIndex
                return content[..<cut] + (cut < content.endIndex ? String(content[cut]) + " ****" : "")
            }
            return text.content(of: index)
        }
        var rows: [Row] = []
        var old = 0
        var new = 0
        // An added line that sets a masked key is masked too (an undo may put one back).
        func maskedAdded(_ line: String) -> String {
            guard let cut = line.firstIndex(where: { $0 == "=" || $0 == ":" }), !line.hasPrefix(" "), !line.hasPrefix("\t"),
                  maskedKeys.contains(line[..<cut].trimmingWhitespace().lowercased()) else { return line }
            return line[..<cut] + String(line[cut]) + " ****"
        }
        func added(_ index: Int) {
            for line in insertions[index] ?? [] {
                new += 1
                rows.append(Row(tag: .added, old: old, new: new, text: maskedAdded(line)))
            }
        }
        for index in text.lines.indices {
            added(index)
            old += 1
            if removed.contains(index) {
                rows.append(Row(tag: .removed, old: old, new: new, text: shown(index)))
            } else {
                new += 1
                rows.append(Row(tag: .same, old: old, new: new, text: shown(index)))
            }
        }
        added(text.lines.count)

        let changed = rows.indices.filter { rows[$0].tag != .same }
        guard !changed.isEmpty else { return "" }
        var hunks: [ClosedRange<Int>] = []
        for index in changed {
            let range = max(0, index - 3)...min(rows.count - 1, index + 3)
            if let last = hunks.last, range.lowerBound <= last.upperBound + 1 {
                hunks[hunks.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                hunks.append(range)
            }
        }
        var out = "--- \(oldName)\n+++ \(newName)\n"
        for hunk in hunks {
            let slice = rows[hunk]
            let oldCount = slice.filter { $0.tag != .added }.count
            let newCount = slice.filter { $0.tag != .removed }.count
            // A side with no lines in the hunk is numbered by the line before it, as diff(1) does.
            let oldStart = slice.first { $0.tag != .added }?.old ?? slice.first!.old
            let newStart = slice.first { $0.tag != .removed }?.new ?? slice.first!.new
            out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n"
            for row in slice {
                // The file's own text, but a control character in it is not sent to a terminal
                // (tabs stay: they are common in config files, harmless, and patch(1) needs them).
                let text = row.text.split(separator: "\t", omittingEmptySubsequences: false)
                    .map { TerminalText.escaped(String($0), backslashes: false) }.joined(separator: "\t")
                switch row.tag {
                case .same: out += " " + text + "\n"
                case .removed: out += "-" + text + "\n"
                case .added: out += "+" + text + "\n"
                }
            }
        }
        return out
    }
}
