/// A small, strict XML reader for STS responses.
///
/// FoundationEssentials has no XMLParser, and STS answers are tiny documents of nested elements
/// with text, so this reads exactly that: elements, attributes (checked, then ignored), character
/// data, the five predefined entities, numeric character references, CDATA sections, comments and
/// processing instructions. It refuses DOCTYPE and other markup declarations outright — no DTD, no
/// custom entities, so no entity-expansion bombs — and bounds input size, nesting depth and
/// element count. It never recurses, so hostile nesting cannot exhaust the stack.
struct XMLElement: Equatable, Sendable {
    /// The local name (any `prefix:` removed).
    var name: String
    var children: [XMLElement] = []
    /// Character data directly inside this element (CDATA included), entities decoded.
    var text: String = ""

    /// The first child element with this local name.
    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

    /// The child's text, trimmed of surrounding XML whitespace; nil when there is no such child.
    func childText(_ name: String) -> String? { child(name).map { trimXMLWhitespace($0.text) } }
}

struct XMLLimits: Sendable, Equatable {
    var maxBytes: Int = 1 << 20
    var maxDepth: Int = 32
    var maxElements: Int = 10_000
}

enum XMLScanError: Error, Equatable, Sendable {
    case tooLarge(limit: Int)
    case tooDeep(limit: Int)
    case tooManyElements(limit: Int)
    case invalidUTF8
    /// `<!DOCTYPE`, `<!ENTITY` and the like: refused so no entity can expand.
    case declarationForbidden
    case unknownEntity(String)
    case invalidCharacterReference(String)
    case mismatchedEndTag(expected: String, found: String)
    case malformed(String, offset: Int)
    case empty

    var message: String {
        switch self {
        case .tooLarge(let limit): return "the document is larger than \(limit) bytes"
        case .tooDeep(let limit): return "elements are nested deeper than \(limit) levels"
        case .tooManyElements(let limit): return "the document has more than \(limit) elements"
        case .invalidUTF8: return "the document is not valid UTF-8"
        case .declarationForbidden:
            return "the document contains a DOCTYPE or ENTITY declaration, which is refused"
        case .unknownEntity(let name): return "unknown entity '&\(name);'"
        case .invalidCharacterReference(let ref): return "invalid character reference '&\(ref);'"
        case .mismatchedEndTag(let expected, let found):
            return "end tag </\(found)> does not close <\(expected)>"
        case .malformed(let what, let offset): return "\(what) at byte \(offset)"
        case .empty: return "the document has no root element"
        }
    }
}

func trimXMLWhitespace(_ s: String) -> String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
    guard let start = s.firstIndex(where: { !isSpace($0) }),
          let end = s.lastIndex(where: { !isSpace($0) })
    else { return "" }
    return String(s[start...end])
}

enum XMLScanner {
    static func parse(_ input: [UInt8], limits: XMLLimits = XMLLimits()) throws(XMLScanError) -> XMLElement {
        guard input.count <= limits.maxBytes else { throw .tooLarge(limit: limits.maxBytes) }
        // Validating once up front means every slice cut at an ASCII delimiter is valid UTF-8 too.
        guard String(validating: input, as: UTF8.self) != nil else { throw .invalidUTF8 }
        var reader = Reader(bytes: input, limits: limits)
        return try reader.document()
    }

    private struct OpenElement {
        var name: String
        var children: [XMLElement] = []
        var text: [UInt8] = []
    }

    private struct Reader {
        let bytes: [UInt8]
        let limits: XMLLimits
        var pos = 0
        var stack: [OpenElement] = []
        var root: XMLElement?
        var elementCount = 0

        init(bytes: [UInt8], limits: XMLLimits) {
            self.bytes = bytes
            self.limits = limits
        }

        mutating func document() throws(XMLScanError) -> XMLElement {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3 }
            while pos < bytes.count {
                let b = bytes[pos]
                if b == UInt8(ascii: "<") {
                    try markup()
                } else if b == UInt8(ascii: "&") {
                    guard !stack.isEmpty else { throw malformed("a reference outside the root element") }
                    let decoded = try reference()
                    stack[stack.count - 1].text.append(contentsOf: decoded)
                } else {
                    try characterData()
                }
            }
            guard stack.isEmpty else {
                throw malformed("the document ends inside <\(stack[stack.count - 1].name)>")
            }
            guard let root else { throw .empty }
            return root
        }

        private func malformed(_ what: String) -> XMLScanError { .malformed(what, offset: pos) }

        private func hasPrefix(_ prefix: String) -> Bool {
            var i = pos
            for b in prefix.utf8 {
                guard i < bytes.count, bytes[i] == b else { return false }
                i += 1
            }
            return true
        }

        /// Index just past `terminator`, searching from `pos`.
        private func find(_ terminator: String) -> Int? {
            let t = Array(terminator.utf8)
            var i = pos
            search: while i + t.count <= bytes.count {
                for k in 0..<t.count where bytes[i + k] != t[k] {
                    i += 1
                    continue search
                }
                return i + t.count
            }
            return nil
        }

        private mutating func markup() throws(XMLScanError) {
            if hasPrefix("<?") {
                guard let end = find("?>") else { throw malformed("unterminated processing instruction") }
                pos = end
            } else if hasPrefix("<!--") {
                guard let end = find("-->") else { throw malformed("unterminated comment") }
                pos = end
            } else if hasPrefix("<![CDATA[") {
                guard !stack.isEmpty else { throw malformed("CDATA outside the root element") }
                let start = pos + 9
                pos = start
                guard let end = find("]]>") else { throw malformed("unterminated CDATA section") }
                try checkCharacters(start..<(end - 3))
                stack[stack.count - 1].text.append(contentsOf: bytes[start..<(end - 3)])
                pos = end
            } else if hasPrefix("<!") {
                // <!DOCTYPE, <!ENTITY, <!ELEMENT, <!ATTLIST, <!NOTATION: none belong in an STS answer.
                throw .declarationForbidden
            } else if hasPrefix("</") {
                try endTag()
            } else {
                try startTag()
            }
        }

        private mutating func startTag() throws(XMLScanError) {
            guard root == nil else { throw malformed("content after the root element") }
            pos += 1
            let name = try self.name()
            var sawSpace = false
            while true {
                if skipWhitespace() { sawSpace = true }
                guard pos < bytes.count else { throw malformed("unterminated start tag <\(name)>") }
                if bytes[pos] == UInt8(ascii: ">") {
                    pos += 1
                    try open(name)
                    return
                }
                if hasPrefix("/>") {
                    pos += 2
                    try open(name)
                    close()
                    return
                }
                guard sawSpace else { throw malformed("expected whitespace before an attribute") }
                try attribute()
                sawSpace = false
            }
        }

        private mutating func open(_ name: String) throws(XMLScanError) {
            guard stack.count < limits.maxDepth else { throw .tooDeep(limit: limits.maxDepth) }
            elementCount += 1
            guard elementCount <= limits.maxElements else { throw .tooManyElements(limit: limits.maxElements) }
            stack.append(OpenElement(name: localName(name)))
        }

        private mutating func close() {
            let open = stack.removeLast()
            let element = XMLElement(
                name: open.name, children: open.children, text: String(decoding: open.text, as: UTF8.self))
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }

        private mutating func endTag() throws(XMLScanError) {
            pos += 2
            let name = localName(try self.name())
            _ = skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ">") else {
                throw malformed("unterminated end tag </\(name)>")
            }
            pos += 1
            guard let top = stack.last else { throw malformed("end tag </\(name)> without a start tag") }
            guard top.name == name else { throw .mismatchedEndTag(expected: top.name, found: name) }
            close()
        }

        private mutating func attribute() throws(XMLScanError) {
            _ = try name()
            _ = skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "=") else {
                throw malformed("expected '=' in an attribute")
            }
            pos += 1
            _ = skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") || bytes[pos] == UInt8(ascii: "'") else {
                throw malformed("expected a quoted attribute value")
            }
            let quote = bytes[pos]
            pos += 1
            while pos < bytes.count, bytes[pos] != quote {
                if bytes[pos] == UInt8(ascii: "<") { throw malformed("'<' in an attribute value") }
                if bytes[pos] == UInt8(ascii: "&") {
                    _ = try reference()
                } else {
                    pos += 1
                }
            }
            guard pos < bytes.count else { throw malformed("unterminated attribute value") }
            pos += 1
        }

        private mutating func name() throws(XMLScanError) -> String {
            let start = pos
            while pos < bytes.count, isNameByte(bytes[pos], first: pos == start) { pos += 1 }
            guard pos > start else { throw malformed("expected a name") }
            return String(decoding: bytes[start..<pos], as: UTF8.self)
        }

        private func isNameByte(_ b: UInt8, first: Bool) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...0xFF:
                return true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
                return !first
            default:
                return false
            }
        }

        private func localName(_ name: String) -> String {
            guard let colon = name.lastIndex(of: ":") else { return name }
            return String(name[name.index(after: colon)...])
        }

        /// Skips XML whitespace; true when it skipped any.
        private mutating func skipWhitespace() -> Bool {
            let start = pos
            while pos < bytes.count, isWhitespace(bytes[pos]) { pos += 1 }
            return pos > start
        }

        private func isWhitespace(_ b: UInt8) -> Bool {
            b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D
        }

        private mutating func characterData() throws(XMLScanError) {
            let start = pos
            while pos < bytes.count, bytes[pos] != UInt8(ascii: "<"), bytes[pos] != UInt8(ascii: "&") {
                pos += 1
            }
            if stack.isEmpty {
                guard bytes[start..<pos].allSatisfy({ isWhitespace($0) }) else {
                    pos = start
                    throw malformed("text outside the root element")
                }
                return
            }
            try checkCharacters(start..<pos)
            stack[stack.count - 1].text.append(contentsOf: bytes[start..<pos])
        }

        /// XML 1.0 forbids C0 controls other than tab, LF and CR.
        private func checkCharacters(_ range: Range<Int>) throws(XMLScanError) {
            for i in range where bytes[i] < 0x20 && !isWhitespace(bytes[i]) {
                throw XMLScanError.malformed("control character 0x\(String(bytes[i], radix: 16))", offset: i)
            }
        }

        /// `&...;` at `pos`: the predefined entities and numeric character references.
        private mutating func reference() throws(XMLScanError) -> [UInt8] {
            let start = pos + 1
            var end = start
            // The longest legal reference is `&#x10FFFF;` (plus leading zeros, which we cap).
            while end < bytes.count, end - start <= 16, bytes[end] != UInt8(ascii: ";") { end += 1 }
            guard end < bytes.count, bytes[end] == UInt8(ascii: ";") else {
                throw malformed("an '&' that does not start a reference")
            }
            let ref = String(decoding: bytes[start..<end], as: UTF8.self)
            pos = end + 1
            switch ref {
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "amp": return [UInt8(ascii: "&")]
            case "apos": return [UInt8(ascii: "'")]
            case "quot": return [UInt8(ascii: "\"")]
            default: break
            }
            guard ref.hasPrefix("#") else { throw .unknownEntity(ref) }
            let digits = ref.dropFirst()
            let value: UInt32?
            if digits.hasPrefix("x") {
                let hex = digits.dropFirst()
                value = hex.isEmpty || !hex.allSatisfy(\.isHexDigit) ? nil : UInt32(hex, radix: 16)
            } else {
                value = digits.isEmpty || !digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) ? nil : UInt32(digits, radix: 10)
            }
            guard let value, isXMLChar(value), let scalar = Unicode.Scalar(value) else {
                throw .invalidCharacterReference(ref)
            }
            return Array(String(scalar).utf8)
        }

        /// XML 1.0 `Char`.
        private func isXMLChar(_ v: UInt32) -> Bool {
            v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v)
                || (0xE000...0xFFFD).contains(v) || (0x10000...0x10FFFF).contains(v)
        }
    }
}
