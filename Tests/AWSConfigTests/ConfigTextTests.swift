import Foundation
import Testing

@testable import AWSConfig
import TestSupport

/// Inputs the reader accepts that an editor easily gets wrong.
private let nastyInputs: [(name: String, bytes: [UInt8])] = [
    ("CRLF", Array("[profile a]\r\nregion = x\r\n\r\n[profile b]\r\nrole_arn = y\r\n".utf8)),
    ("lone CR", Array("[profile a]\rregion = x\r".utf8)),
    ("tabs and odd spacing", Array("[profile\ta]\n\tregion\t=\tx \t\n  output :json\n".utf8)),
    ("spaced header", Array("[ profile  prod ]\nrole_arn = z\n[profile  prod ]\nregion = q\n".utf8)),
    ("comments", Array("# top\n; top too\n[default]\n  # indented\nregion = a # not a comment\n;x = y\n".utf8)),
    ("continuation", Array("[default]\ns3 =\n  max_concurrent_requests = 2\n\n  addressing_style = path\nregion = r\n".utf8)),
    ("duplicate sections", Array("[profile a]\nregion = 1\n[profile b]\nregion = 2\n[profile a]\nregion = 3\n".utf8)),
    ("no trailing newline", Array("[profile a]\nregion = x".utf8)),
    ("byte order mark", [0xEF, 0xBB, 0xBF] + Array("[default]\nregion = x\n".utf8)),
    ("empty", []),
]

@Suite("Config text editor")
struct ConfigTextTests {
    @Test("an empty edit gives back every byte, for every nasty input", arguments: nastyInputs.indices)
    func emptyEditRoundTrips(index: Int) throws {
        let input = nastyInputs[index]
        _ = try INIDocument.parse(input.bytes, path: "/fake")  // the editor's precondition
        let text = ConfigText(input.bytes)
        #expect(ConfigTextEdit().apply(to: text) == input.bytes, "\(input.name)")
        // The lines cover the file exactly, in order, with nothing between them.
        var offset = 0
        for line in text.lines {
            #expect(line.range.lowerBound == offset, "\(input.name)")
            offset = line.range.upperBound
        }
        #expect(offset == input.bytes.count, "\(input.name)")
    }

    @Test("classifies lines as the reader reads them")
    func classification() {
        let text = ConfigText(Array("# c\n[default]\ns3 =\n  addressing_style = path\n\n  x = y\n;c\nRegion = r\n[ profile  p ]\n".utf8))
        #expect(text.lines.map(\.kind) == [
            .comment, .header(name: "default"), .key(name: "s3"), .continuation, .blank, .continuation, .comment,
            .key(name: "region"), .header(name: " profile  p "),
        ])
        #expect(text.entries(inSectionAt: 1) == [
            ConfigText.Entry(key: "s3", first: 2, last: 5), ConfigText.Entry(key: "region", first: 7, last: 7),
        ])
        #expect(text.lastSettingLine(inSectionAt: 1) == 7)
        #expect(text.headerLines(named: " profile  p ") == [8])
    }

    @Test("an indented key after a header is a key, not a continuation; a deeper line after it continues it")
    func indentation() {
        let text = ConfigText(Array("[a]\n    k = v\n      more\n  j = w\n".utf8))
        #expect(text.lines.map(\.kind) == [.header(name: "a"), .key(name: "k"), .continuation, .key(name: "j")])
    }

    @Test("picks the file's own line ending for new lines")
    func newlineStyle() {
        #expect(ConfigText(Array("a\r\nb\r\nc\n".utf8)).newline == [0x0D, 0x0A])
        #expect(ConfigText(Array("a\rb\r".utf8)).newline == [0x0D])
        #expect(ConfigText(Array("a\nb".utf8)).newline == [0x0A])
        #expect(ConfigText([]).newline == [0x0A])
    }

    @Test("removes and inserts lines, keeping every other byte (CRLF)")
    func removeAndInsertCRLF() {
        let text = ConfigText(Array("[a]\r\n x = 1\r\n\ty = 2 \r\n[b]\r\nz = 3\r\n".utf8))
        var edit = ConfigTextEdit()
        edit.remove(2...2)
        edit.insert(["new = 9"], before: 2)
        edit.insert(["[c]", "w = 0"], before: 5)
        #expect(String(decoding: edit.apply(to: text), as: UTF8.self)
            == "[a]\r\n x = 1\r\nnew = 9\r\n[b]\r\nz = 3\r\n[c]\r\nw = 0\r\n")
    }

    @Test("adding after a last line without a newline ends that line first")
    func appendAfterUnterminatedLine() {
        let text = ConfigText(Array("[a]\nx = 1".utf8))
        var edit = ConfigTextEdit()
        edit.insert(["", "[b]"], before: 2)
        #expect(String(decoding: edit.apply(to: text), as: UTF8.self) == "[a]\nx = 1\n\n[b]\n")
    }

    @Test("removing the first line keeps the byte order mark")
    func byteOrderMarkSurvives() {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("x = 1\n[a]\n".utf8)
        // Not a valid file (a key before a header), but the rule is about bytes.
        var edit = ConfigTextEdit()
        edit.remove(0...0)
        #expect(edit.apply(to: ConfigText(bytes)) == [0xEF, 0xBB, 0xBF] + Array("[a]\n".utf8))
    }

    @Test("prints a unified diff with three lines of context and masked secrets")
    func unifiedDiff() {
        let text = ConfigText(Array("1\n2\n3\n4\n5\n[p]\naws_secret_access_key = SECRET\nrole_arn = r\n9\n10\n11\n12\n13\n".utf8))
        var edit = ConfigTextEdit()
        edit.remove(7...7)
        edit.insert(["credential_process = x"], before: 7)
        let diff = edit.unifiedDiff(of: text, oldName: "a", newName: "b", maskedKeys: ["aws_secret_access_key"])
        #expect(diff == """
            --- a
            +++ b
            @@ -5,7 +5,7 @@
             5
             [p]
             aws_secret_access_key = ****
            +credential_process = x
            -role_arn = r
             9
             10
             11

            """)
        #expect(!diff.contains("SECRET"))
        #expect(ConfigTextEdit().unifiedDiff(of: text, oldName: "a", newName: "b").isEmpty)
    }

    @Test("escapes control characters in the diff")
    func diffEscapesControls() {
        let text = ConfigText(Array("[p]\nx =\t\u{1B}[31m\n".utf8))
        var edit = ConfigTextEdit()
        edit.remove(1...1)
        let diff = edit.unifiedDiff(of: text, oldName: "a", newName: "b")
        #expect(!diff.contains("\u{1B}"))
        #expect(diff.contains("-x =\t\\u{1b}[31m\n"))
    }

    @Test("on random files the reader accepts, the line model finds exactly the reader's keys, section by section")
    func agreesWithTheReader() throws {
        let pieces = [
            "[profile a]", "[ profile  b ]", "[default]", "  [profile a]", "region = x", "  Role_ARN=y", "\tk: v",
            "s3 =", "    nested = 1", "  deeper = 2", "# c", "  ; c", "", "   ", "other = z # not a comment",
        ]
        let endings = ["\n", "\r\n", "\r"]
        var generator = SplitMix64(seed: 14)
        var checked = 0
        for _ in 0..<3000 {
            var text = "[default]" + endings[Int(generator.next() % 3)]
            for _ in 0..<Int(generator.next() % 12) {
                text += pieces[Int(generator.next() % UInt64(pieces.count))] + endings[Int(generator.next() % 3)]
            }
            if generator.next() % 4 == 0 { text += "last = 1" }
            let bytes = Array(text.utf8)
            guard let document = try? INIDocument.parse(bytes, path: "/fake") else { continue }
            checked += 1
            let lines = ConfigText(bytes)
            #expect(ConfigTextEdit().apply(to: lines) == bytes)
            for section in document.sections {
                var keys: Set<String> = []
                for header in lines.headerLines(named: section.name) {
                    keys.formUnion(lines.entries(inSectionAt: header).map(\.key))
                }
                #expect(keys == Set(section.values.keys), "\(text.debugDescription)")
            }
        }
        #expect(checked > 500)
    }
}
