import Foundation
import Testing

@testable import StockCore

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats and parses UTC forms")
    func roundTrip() throws {
        let date = Date(timeIntervalSince1970: 1_375_360_490.25)  // 2013-08-01 12:34:50.250 UTC
        #expect(Timestamp.sqlDateTime(date) == "2013-08-01 12:34:50")
        #expect(Timestamp.iso8601(date) == "2013-08-01T12:34:50.250Z")
        #expect(Timestamp.parseOpen2b("2013-08-01 12:34:50") == Date(timeIntervalSince1970: 1_375_360_490))
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50.250Z") == date)
        #expect(Timestamp.sqlDateTime(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00")
    }

    @Test("an RFC 3339 offset names the same instant as its UTC form (Schemathesis sent one a reader refused)")
    func offsets() {
        let date = Date(timeIntervalSince1970: 1_375_360_490.25)  // 2013-08-01 12:34:50.250 UTC
        #expect(Timestamp.parseISO8601("2013-08-01T14:34:50.250+02:00") == date)
        #expect(Timestamp.parseISO8601("2013-08-01T07:04:50.250-05:30") == date)
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50.250+00:00") == date)
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50+24:00") == nil)
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50+02:60") == nil)
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50+0a:00") == nil)
    }

    @Test(
        "refuses impossible dates",
        arguments: [
            "2013-02-30 00:00:00", "2013-13-01 00:00:00", "2013-08-01T12:34:50", "2013-8-1 1:2:3",
            "2013-08-01 24:00:00",
        ])
    func refuses(_ text: String) {
        #expect(Timestamp.parseOpen2b(text) == nil)
    }
}

@Suite("Timestamp: IMF-fixdate (Retry-After from untrusted backends)")
struct IMFFixdateTests {
    @Test("reads the RFC 9110 example and the far ends of the year range")
    func reads() {
        #expect(Timestamp.parseIMFFixdate("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(Timestamp.parseIMFFixdate("Thu, 01 Jan 1970 00:00:00 GMT") == Date(timeIntervalSince1970: 0))
        #expect(Timestamp.parseIMFFixdate("Tue, 29 Feb 2000 00:00:00 GMT") == Date(timeIntervalSince1970: 951_782_400))
        #expect(
            Timestamp.parseIMFFixdate("Fri, 31 Dec 9999 23:59:59 GMT") == Date(timeIntervalSince1970: 253_402_300_799))
        #expect(Timestamp.parseIMFFixdate("Mon, 01 Jan 0000 00:00:00 GMT") != nil)
    }

    @Test(
        "refuses what is not an IMF-fixdate",
        arguments: [
            "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
            "Sun, 6 Nov 1994 08:49:37 GMT ", "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT", "Sun, 06 Nov 1994 08:60:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov -994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3\u{0} GMT",
            "Sun, 06 Nov １９９ 08:49:37 GMT", "sun, 06 nov 1994 08:49:37 gmt", "",
        ])
    func refuses(_ text: String) {
        #expect(Timestamp.parseIMFFixdate(text) == nil)
    }

    /// CI's fuzzer found a 29-byte text ending in " GMT" on which Foundation's `DateFormatter`
    /// trapped. The reader now touches no formatter; any such text is either a date or nil.
    @Test("any 29 bytes ending in GMT are read or refused, never trapped on")
    func arbitraryBytes() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789 ,:-+MonTueWedThuFriSatSunJanFebDecGMT\u{0}\u{FF}é".utf8)
        var parsed = 0
        for round in 0..<20_000 {
            var bytes = Array("Sun, 06 Nov 1994 08:49:37 GMT".utf8)
            for _ in 0..<(1 + round % 4) {
                bytes[Int.random(in: 0..<25, using: &generator)] = alphabet.randomElement(using: &generator)!
            }
            if let date = Timestamp.parseIMFFixdate(String(decoding: bytes, as: UTF8.self)) {
                parsed += 1
                #expect(date.timeIntervalSince1970.isFinite)
            }
        }
        #expect(parsed > 0)  // some mutations (a digit for a digit) stay valid dates
    }
}
