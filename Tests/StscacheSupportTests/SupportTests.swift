import Foundation
import StscacheSupport
import Testing

@Suite("Support: text, clocks and dates")
struct SupportTests {
    @Test("oneLine folds line breaks, trims each line and escapes what could drive a terminal")
    func oneLineFoldsAndEscapes() {
        #expect(oneLine("  first line \n\n second\tline  \r\n third") == "first line second\tline third".replacingOccurrences(of: "\t", with: "\\u{9}"))
        #expect(oneLine("AccessDenied: \u{1b}]0;owned\u{07}\u{1b}[2J done") == #"AccessDenied: \u{1b}]0;owned\u{7}\u{1b}[2J done"#)
        #expect(oneLine("path C:\\x and ‘quotes’ é") == "path C:\\x and ‘quotes’ é")
        #expect(oneLine("\u{202e}evil") == #"\u{202e}evil"#)
    }

    @Test("TerminalText escapes backslashes too when asked, so the escaping can be read back")
    func terminalText() {
        #expect(TerminalText.escaped("a\\u{1b}") == #"a\\u{1b}"#)
        #expect(TerminalText.escaped("a\u{1b}") == #"a\u{1b}"#)
        #expect(TerminalText.escaped("plain ascii") == "plain ascii")
        #expect(TerminalText.escaped("C1 \u{9b} DEL \u{7f}") == #"C1 \u{9b} DEL \u{7f}"#)
    }

    @Test("trimmingWhitespace removes every kind of white space at both ends only")
    func trimming() {
        #expect(" \t a b \r\n".trimmingWhitespace() == "a b")
        #expect("".trimmingWhitespace() == "")
    }

    @Test("civilDate agrees with known dates, before and after 1970 and across leap days", arguments: [
        (Int64(0), Int64(1970), Int64(1), Int64(1)), (-1, 1969, 12, 31), (11_016, 2000, 2, 29), (11_017, 2000, 3, 1),
        (2_932_896, 9999, 12, 31), (-719_162, 1, 1, 1), (20_788, 2026, 12, 1),
    ])
    func civilDates(days: Int64, year: Int64, month: Int64, day: Int64) {
        let civil = civilDate(daysSinceEpoch: days)
        #expect(civil.year == year && civil.month == month && civil.day == day)
    }

    @Test("sleepSeconds sleeps the whole time on the monotonic clock")
    func sleeping() {
        let start = monotonicSeconds()
        sleepSeconds(0.05)
        #expect(monotonicSeconds() - start >= 0.05)
        sleepSeconds(-1)
        sleepSeconds(.nan)
    }
}

@Suite("Support: bounded reads")
struct BoundedReadTests {
    func file(_ bytes: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bounded-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    @Test("a file up to the limit is read whole; one byte more is refused with both sizes")
    func limit() throws {
        let exact = try file([UInt8](repeating: 7, count: 100))
        let over = try file([UInt8](repeating: 7, count: 101))
        defer { unlink(exact); unlink(over) }
        #expect(try BoundedRead.regularFile(atPath: exact, limit: 100).get() == [UInt8](repeating: 7, count: 100))
        #expect(BoundedRead.regularFile(atPath: over, limit: 100) == .failure(.tooLarge(size: 101, limit: 100)))
        #expect(BoundedRead.Failure.tooLarge(size: 101, limit: 100).reason == "larger than 100 bytes")
    }

    @Test("missing, a directory and a FIFO are told apart, and a FIFO does not hang the reader")
    func kinds() throws {
        #expect(BoundedRead.regularFile(atPath: "/nonexistent/x", limit: 10) == .failure(.missing))
        #expect(BoundedRead.regularFile(atPath: "/tmp", limit: 10) == .failure(.notRegularFile))
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString)").path
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        #expect(BoundedRead.regularFile(atPath: fifo, limit: 10) == .failure(.notRegularFile))
    }

    @Test("toEnd reads past a wrong size hint, within the limit")
    func growth() throws {
        let path = try file([UInt8](repeating: 1, count: 10_000))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(try BoundedRead.toEnd(fd, limit: 20_000, sizeHint: 3).get().count == 10_000)
        lseek(fd, 0, SEEK_SET)
        #expect(BoundedRead.toEnd(fd, limit: 9_999, sizeHint: 0) == .failure(.tooLarge(size: nil, limit: 9_999)))
    }
}
