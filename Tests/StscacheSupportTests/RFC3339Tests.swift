import Foundation
import Testing
import StscacheSupport

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("formats known instants", arguments: [
        (0.0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (951_868_799.9, "2000-02-29T23:59:59Z"),
        (1_900_000_000, "2030-03-17T17:46:40Z"),
        (4_107_542_400, "2100-03-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ])
    func known(seconds: Double, text: String) {
        #expect(Timestamps.formatRFC3339(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test("agrees with gmtime_r over four centuries, day by day plus a varying time of day")
    func matchesGmtime() {
        var mismatches: [String] = []
        // 1900-03-01 .. 2300-03-01, one instant per day at a different second each day.
        var seconds: Int64 = -2_203_891_200
        var step: Int64 = 0
        while seconds < 10_418_720_000 && mismatches.count < 5 {
            let instant = seconds + (step * 7919) % 86_400
            var t = time_t(instant)
            var parts = tm()
            gmtime_r(&t, &parts)
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1,
                                  parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
            let actual = Timestamps.formatRFC3339(Date(timeIntervalSince1970: Double(instant)))
            if actual != expected { mismatches.append("\(instant): \(actual) != \(expected)") }
            seconds += 86_400
            step += 1
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
    }
}
