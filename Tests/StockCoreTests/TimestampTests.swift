import Foundation
import Testing

@testable import StockCore

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats and parses UTC forms")
    func roundTrip() throws {
        let date = Date(timeIntervalSince1970: 1_375_360_490.25)  // 2013-08-01 12:34:50.250 UTC
        #expect(Timestamp.open2b(date) == "2013-08-01 12:34:50")
        #expect(Timestamp.iso8601(date) == "2013-08-01T12:34:50.250Z")
        #expect(Timestamp.parseOpen2b("2013-08-01 12:34:50") == Date(timeIntervalSince1970: 1_375_360_490))
        #expect(Timestamp.parseISO8601("2013-08-01T12:34:50.250Z") == date)
        #expect(Timestamp.open2b(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29 00:00:00")
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
