import Foundation
import StockCore

/// Reads a backend's `Retry-After` header (RFC 9110 §10.2.3), an untrusted value.
///
/// Delta-seconds (digits; a fraction is tolerated) are read with saturation at a day, an
/// IMF-fixdate becomes the time left until it (zero if past, at most a day). Anything else
/// is nil. No input traps: a value such as `1000000000000000000` or `1e30` once crashed the
/// gateway by overflowing a conversion to `Int64`.
public enum RetryAfterHeader {
    /// The longest wait this reports; longer requests saturate here.
    public static let cap: Duration = .seconds(86_400)

    public static func delay(_ header: String, now: Date = Date()) -> Duration? {
        let text = header.trimmingCharacters(in: .whitespaces)
        if let millis = delayMillis(text) { return .milliseconds(millis) }
        guard let date = httpDate(text) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite else { return nil }
        if seconds <= 0 { return .zero }
        return seconds >= 86_400 ? cap : .milliseconds(Int64(seconds * 1000))
    }

    /// `digits[.digits]` as milliseconds, saturating at a day.
    static func delayMillis(_ text: String) -> Int64? {
        let capMillis: Int64 = 86_400_000
        var seconds: Int64 = 0
        var millis: Int64 = 0
        var digits = 0
        var fractionDigits = -1  // -1: before the point
        for byte in text.utf8 {
            if byte == UInt8(ascii: "."), fractionDigits < 0, digits > 0 {
                fractionDigits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            if fractionDigits < 0 {
                digits += 1
                seconds = min(seconds * 10 + digit, capMillis)  // saturates: never overflows
            } else {
                fractionDigits += 1
                if fractionDigits <= 3 { millis += digit * [100, 10, 1][fractionDigits - 1] }
            }
        }
        guard digits > 0, fractionDigits != 0 else { return nil }
        return min(seconds * 1000 + millis, capMillis)
    }

    /// An HTTP-date in its preferred form (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), read
    /// without `DateFormatter` (which trapped on a fuzzer's input in CI).
    static func httpDate(_ text: String) -> Date? { Timestamp.parseIMFFixdate(text) }
}
