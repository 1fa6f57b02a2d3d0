import Synchronization

/// Request ids: the caller's `X-Request-Id` when it is sensible, else a new one; returned in
/// the answer, written in the request's log line and forwarded to backends.
enum RequestIDs {
    /// 64 random bits drawn once per process: the first half of every id this process makes.
    static let idPrefix = UInt64.random(in: .min ... .max)
    /// The second half: a counter, so a fresh id costs no system call (the random generator
    /// asks the kernel on every draw) and ids of one process never repeat.
    static let idCounter = Atomic<UInt64>(0)

    /// The caller's id if it is 1 to 128 characters from `A-Z a-z 0-9 - _ . : / + @`, else a
    /// fresh one (32 hex digits: this process's random prefix and a counter). Quotes, `=`,
    /// backslashes and spaces are refused: the id is written into log lines, where they could
    /// forge a field (`evil"status=500`).
    static func requestID(from header: String?) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128, header.utf8.allSatisfy(isIDByte) {
            return header
        }
        return hex(idPrefix, idCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    @inline(__always)
    static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    /// Thirty-two lower-case hex digits: `high`'s sixteen, then `low`'s, in one string.
    private static func hex(_ high: UInt64, _ low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            for position in 0..<32 {
                let value = position < 16 ? high : low
                let nibble = UInt8((value >> UInt64(60 - 4 * (position % 16))) & 0xF)
                buffer[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            return 32
        }
    }
}
