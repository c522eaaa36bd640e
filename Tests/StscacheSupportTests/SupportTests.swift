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
