import Foundation
import Testing

@testable import AWSConfig
import TestSupport

@Suite("INI reader")
struct INIReaderTests {
    @Test("reads key = value, key=value and key: value, trimming whitespace and lower-casing keys")
    func delimitersAndTrimming() throws {
        let document = try parse("""
            [profile a]
            region = eu-west-1
            output=json
            Role_ARN   =   arn:aws:iam::123456789012:role/Admin\t
            mfa_serial: arn:aws:iam::123456789012:mfa/alice
            """)
        let section = try #require(document.section(named: "profile a"))
        #expect(section["region"]?.text == "eu-west-1")
        #expect(section["output"]?.text == "json")
        // The first `=` splits, so the colons of an ARN stay in the value.
        #expect(section["role_arn"]?.text == "arn:aws:iam::123456789012:role/Admin")
        #expect(section["mfa_serial"]?.text == "arn:aws:iam::123456789012:mfa/alice")
        #expect(section["Role_ARN"] == nil)
        #expect(section["role_arn"]?.location == FileLocation(file: "/fake/config", line: 4))
    }

    @Test("skips # and ; full-line comments, indented or not, and blank lines")
    func fullLineComments() throws {
        let document = try parse("""
            # leading comment
            ; another

            [default]
               # indented comment
            region = us-west-2
            ;region = ignored
            """)
        let section = try #require(document.section(named: "default"))
        #expect(section.values.count == 1)
        #expect(section["region"]?.text == "us-west-2")
        #expect(section["region"]?.location.line == 6)
    }

    @Test("keeps # and ; after a value, as botocore's configparser has no inline comments")
    func noInlineComments() throws {
        let document = try parse("""
            [default]
            region = eu-west-1 # Ireland
            output = json;text
            tag = a ; b
            """)
        let section = try #require(document.section(named: "default"))
        #expect(section["region"]?.text == "eu-west-1 # Ireland")
        #expect(section["output"]?.text == "json;text")
        #expect(section["tag"]?.text == "a ; b")
    }

    @Test("ignores text after a section header's closing bracket")
    func headerTrailingText() throws {
        let document = try parse("""
            [profile prod]                      # what users select: AWS_PROFILE=prod
            region = eu-west-1
            """)
        #expect(document.section(named: "profile prod")?["region"]?.text == "eu-west-1")
        #expect(document.sections.map(\.name) == ["profile prod"])
    }

    @Test("parses an indented block under `key =` as a nested section with its own line numbers")
    func nestedSubsection() throws {
        let document = try parse("""
            [default]
            s3 =
              max_concurrent_requests = 10
              # comment inside the block

              addressing_style=path
            region = eu-west-1
            """)
        let section = try #require(document.section(named: "default"))
        let s3 = try #require(section["s3"])
        #expect(s3.text == "")
        #expect(s3.location.line == 2)
        let nested = try #require(s3.subValues)
        #expect(nested.count == 2)
        #expect(nested["max_concurrent_requests"]?.text == "10")
        #expect(nested["max_concurrent_requests"]?.location.line == 3)
        #expect(nested["addressing_style"]?.text == "path")
        #expect(nested["addressing_style"]?.location.line == 6)
        #expect(section["region"]?.text == "eu-west-1")
        #expect(section["region"]?.subValues == nil)
    }

    @Test("joins a value's deeper-indented continuation lines with newlines, as configparser does")
    func multiLineValue() throws {
        let document = try parse("[default]\nnote = first\n  second\n\n  third\n\nregion = x\n")
        let section = try #require(document.section(named: "default"))
        #expect(section["note"]?.text == "first\nsecond\n\nthird")
        #expect(section["note"]?.subValues == nil)
        #expect(section["region"]?.text == "x")
    }

    @Test("an indented key after a key is that key's continuation, not a setting (botocore's reading)")
    func indentedKeyIsContinuation() throws {
        let document = try parse("""
            [profile a]
            region = eu-west-1
              role_arn = arn:aws:iam::1:role/x
            """)
        let section = try #require(document.section(named: "profile a"))
        #expect(section["role_arn"] == nil)
        #expect(section["region"]?.text == "eu-west-1\nrole_arn = arn:aws:iam::1:role/x")
    }

    @Test("an indented key right after a header is an ordinary setting")
    func indentedKeyAfterHeader() throws {
        let document = try parse("[profile a]\n    region = eu-west-1\n    output = json\n")
        let section = try #require(document.section(named: "profile a"))
        #expect(section["region"]?.text == "eu-west-1")
        #expect(section["output"]?.text == "json")
    }

    @Test("an empty value with nothing indented under it is the empty string")
    func emptyValue() throws {
        let document = try parse("[default]\nregion =\n\noutput = json\n")
        let section = try #require(document.section(named: "default"))
        #expect(section["region"]?.text == "")
        #expect(section["region"]?.subValues == nil)
        #expect(section["output"]?.text == "json")
    }

    @Test("a later duplicate key wins and a repeated section merges into the first")
    func duplicates() throws {
        let document = try parse("""
            [profile a]
            region = us-east-1
            output = json
            region = eu-west-1
            [profile b]
            region = b
            [profile a]
            output = text
            role_arn = r
            """)
        #expect(document.sections.map(\.name) == ["profile a", "profile b"])
        let a = try #require(document.section(named: "profile a"))
        #expect(a["region"]?.text == "eu-west-1")
        #expect(a["region"]?.location.line == 4)
        #expect(a["output"]?.text == "text")
        #expect(a["role_arn"]?.text == "r")
        #expect(a.location.line == 1)
    }

    @Test("reads \\r\\n and lone \\r line endings and skips a UTF-8 byte order mark")
    func lineEndingsAndBOM() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("[default]\r\nregion = eu-west-1\routput = json\n\r\nx = y".utf8)
        let document = try INIDocument.parse(bytes, path: "/fake/config")
        let section = try #require(document.section(named: "default"))
        #expect(section["region"]?.text == "eu-west-1")
        #expect(section["output"]?.text == "json")
        #expect(section["output"]?.location.line == 3)
        #expect(section["x"]?.location.line == 5)
    }

    @Test("keeps section names exactly as written between the brackets")
    func sectionNamesVerbatim() throws {
        let document = try parse("[ default ]\na = 1\n[a]]\nb = 2\n")
        #expect(document.sections.map(\.name) == [" default ", "a]"])
    }

    @Test("reads text given as a String the same way as bytes")
    func stringInput() throws {
        let text = "[default]\nregion = eu-west-1\ns3 =\n  a = b\n"
        let fromString = try INIDocument.parse(text, path: "/p")
        let fromBytes = try INIDocument.parse(Array(text.utf8), path: "/p")
        #expect(fromString.sections == fromBytes.sections)
        #expect(fromString.section(named: "default")?["s3"]?.subValues?["a"]?.text == "b")
    }

    @Test("keeps non-ASCII UTF-8 values intact")
    func unicodeValues() throws {
        let document = try parse("[profile café]\nrole_session_name = Jöhn\n")
        #expect(document.section(named: "profile café")?["role_session_name"]?.text == "Jöhn")
    }

    // MARK: Errors

    @Test("a line without = is a malformed-line error naming the file and line, without quoting it")
    func lineWithoutEquals() throws {
        let error = expectConfigError(.malformedLine) {
            _ = try parse("[default]\nregion = x\naws_secret_access_key wJalrXUtnFEMI\n", path: "/home/u/.aws/credentials")
        }
        #expect(error?.location == FileLocation(file: "/home/u/.aws/credentials", line: 3))
        #expect(error?.message.contains("/home/u/.aws/credentials:3") == true)
        #expect(error?.message.contains("wJalrXUtnFEMI") == false)
    }

    @Test("a key before any section header is a malformed-line error at its line")
    func keyBeforeSection() throws {
        let error = expectConfigError(.malformedLine) { _ = try parse("# comment\n\nregion = x\n[default]\n") }
        #expect(error?.location?.line == 3)
        #expect(error?.message.contains("/fake/config:3") == true)
        #expect(error?.message.contains("section header") == true)
    }

    @Test("an unterminated [ is a malformed-line error at its line")
    func unterminatedHeader() throws {
        let error = expectConfigError(.malformedLine) { _ = try parse("[default]\na = 1\n[profile x\nb = 2\n") }
        #expect(error?.location?.line == 3)
        #expect(error?.message.contains("closing `]`") == true)
    }

    @Test("an empty header [] is a malformed-line error")
    func emptyHeader() throws {
        let error = expectConfigError(.malformedLine) { _ = try parse("[]\n") }
        #expect(error?.location?.line == 1)
    }

    @Test("= with no key before it is a malformed-line error")
    func missingKey() throws {
        let error = expectConfigError(.malformedLine) { _ = try parse("[default]\n = value\n") }
        #expect(error?.location?.line == 2)
    }

    @Test("a line without = inside a nested block is an error at that line")
    func malformedNestedLine() throws {
        let error = expectConfigError(.malformedLine) {
            _ = try parse("[services s]\nsts =\n  endpoint_url = http://x\n  nonsense\n")
        }
        #expect(error?.location == FileLocation(file: "/fake/config", line: 4))
        #expect(error?.message.contains("/fake/config:4") == true)
    }

    @Test("bytes that are not UTF-8 are an invalid-encoding error naming the line")
    func invalidUTF8() throws {
        let bytes = Array("[default]\nregion = eu\n".utf8) + [0x6E, 0x61, 0x6D, 0x65, 0x3D, 0xC3, 0x28] + Array("\n".utf8)
        let error = expectConfigError(.invalidEncoding) { _ = try INIDocument.parse(bytes, path: "/fake/config") }
        #expect(error?.location == FileLocation(file: "/fake/config", line: 3))
        #expect(error?.message.contains("/fake/config:3") == true)
        #expect(error?.message.contains("UTF-8") == true)
    }

    @Test("rejects overlong, surrogate, out-of-range and truncated UTF-8 sequences")
    func invalidSequences() throws {
        let bad: [[UInt8]] = [
            [0xC0, 0xAF],  // overlong "/"
            [0xE0, 0x80, 0xAF],  // overlong
            [0xED, 0xA0, 0x80],  // surrogate
            [0xF4, 0x90, 0x80, 0x80],  // past U+10FFFF
            [0xF0, 0x9F, 0x98],  // truncated at end
            [0x80],  // lone continuation
            [0xFF],
        ]
        for sequence in bad {
            let bytes = Array("[default]\na = ".utf8) + sequence
            expectConfigError(.invalidEncoding) { _ = try INIDocument.parse(bytes, path: "/p") }
        }
        let good = Array("[default]\na = \u{1F600} é ж\n".utf8)
        #expect(try INIDocument.parse(good, path: "/p").section(named: "default")?["a"]?.text == "\u{1F600} é ж")
    }

    @Test("binary garbage gives a ConfigError, never a crash")
    func binaryGarbage() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for round in 0..<200 {
            var bytes: [UInt8] = []
            let length = 1 + round * 37 % 4000
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
            do {
                _ = try INIDocument.parse(bytes, path: "/garbage")
            } catch {
                #expect([.invalidEncoding, .malformedLine].contains(error.code))
            }
        }
        // Valid UTF-8 but not INI at all (NUL bytes, control characters).
        expectConfigError(.malformedLine) { _ = try INIDocument.parse([0, 1, 2, 3, 0x0A, 0x7F], path: "/garbage") }
    }

    @Test("parses a 10 MB file in bounded time", .timeLimit(.minutes(1)))
    func largeFile() throws {
        var text = ""
        text.reserveCapacity(10_500_000)
        var profiles = 0
        while text.utf8.count < 10_000_000 {
            text += "[profile p\(profiles)]\nrole_arn = arn:aws:iam::123456789012:role/Role\(profiles)\n"
            text += "source_profile = base\nregion = eu-west-1\ns3 =\n  max_concurrent_requests = 10\n# comment\n\n"
            profiles += 1
        }
        let start = ContinuousClock.now
        let document = try INIDocument.parse(Array(text.utf8), path: "/big")
        let elapsed = ContinuousClock.now - start
        #expect(document.sections.count == profiles)
        #expect(document.section(named: "profile p\(profiles - 1)")?["role_arn"]?.text
            == "arn:aws:iam::123456789012:role/Role\(profiles - 1)")
        #expect(elapsed < .seconds(30), "took \(elapsed)")
    }

    @Test("a 10 MB single line and a 10 MB continuation block stay linear", .timeLimit(.minutes(1)))
    func largePathological() throws {
        let longValue = String(repeating: "x", count: 10_000_000)
        let document = try parse("[default]\nkey = \(longValue)\n")
        #expect(document.section(named: "default")?["key"]?.text.utf8.count == 10_000_000)

        let block = "[default]\nnote = start\n" + String(repeating: "  more\n", count: 1_400_000)
        let joined = try parse(block).section(named: "default")?["note"]?.text
        #expect(joined?.utf8.count == 5 + 1_400_000 * 5)
    }
}
