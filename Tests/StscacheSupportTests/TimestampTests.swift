import Foundation
import StscacheSupport
import Testing

@Suite("Timestamps")
struct TimestampTests {
    @Test("reads RFC 3339 with and without fractions and offsets", arguments: [
        ("2019-11-09T13:34:41Z", 1_573_306_481.0),
        ("2019-11-09T13:34:41.250Z", 1_573_306_481.25),
        ("2019-11-09t13:34:41z", 1_573_306_481.0),
        ("2026-11-29T12:34:56+01:00", 1_795_952_096.0),
        ("2026-11-29T10:04:56-01:30", 1_795_952_096.0),
        ("2000-02-29T00:00:00Z", 951_782_400.0),
        ("1969-12-31T23:59:59Z", -1.0),
    ])
    func rfc3339(text: String, epoch: Double) throws {
        let date = try #require(Timestamps.parseRFC3339(text))
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_1)
    }

    @Test("refuses malformed RFC 3339", arguments: [
        "", "2019-11-09", "2019-11-09T13:34:41", "2019-11-09 13:34:41Z", "2019-13-09T13:34:41Z",
        "2001-02-29T00:00:00Z", "2019-11-09T24:00:00Z", "2019-11-09T13:34:60Z", "2019-11-09T13:34:41.Z",
        "2019-11-09T13:34:41+0100", "2019-11-09T13:34:41Zjunk", "２０19-11-09T13:34:41Z",
    ])
    func rfc3339Refused(text: String) {
        #expect(Timestamps.parseRFC3339(text) == nil)
    }

    @Test("reads the HTTP Date header (IMF-fixdate)")
    func httpDate() throws {
        let date = try #require(Timestamps.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"))
        #expect(date.timeIntervalSince1970 == 784_111_777)
        #expect(Timestamps.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(Timestamps.parseHTTPDate("Sun, 06 Foo 1994 08:49:37 GMT") == nil)
        #expect(Timestamps.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 UTC") == nil)
    }
}
