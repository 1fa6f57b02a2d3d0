import Testing

@testable import Gateway

@Suite("Request ids")
struct RequestIDTests {
    @Test("fresh ids are 32 lower-case hex digits: this process's prefix, then a counter that moves by one")
    func fresh() throws {
        let first = RequestIDs.requestID(from: nil)
        let second = RequestIDs.requestID(from: "bad id")
        for id in [first, second] {
            #expect(
                id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        }
        #expect(first.prefix(16) == second.prefix(16))
        let counters = try [first, second].map { try #require(UInt64($0.suffix(16), radix: 16)) }
        // Other tests of this process may take ids in between: the counter only grows.
        #expect(counters[1] > counters[0])
        #expect(first.prefix(16) == String(RequestIDs.idPrefix, radix: 16).leftPadded(to: 16))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
