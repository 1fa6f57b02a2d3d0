import Foundation

/// UTC timestamps in the textual forms the dialects use, without locale or calendar objects.
public enum Timestamp {
    /// `2026-11-23T08:30:00.123Z`
    public static func iso8601(_ date: Date) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(24)
        appendISO8601(date, milliseconds: true, into: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `2026-11-23T08:30:00.123Z` (`milliseconds`) or `2026-11-23T08:30:00+0000` (the
    /// form of swift-log's stream handler) to `output`, without building strings.
    public static func appendISO8601(_ date: Date, milliseconds: Bool, into output: inout [UInt8]) {
        let parts = civil(date)
        func digits(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var value = value
            while divisor > 0 {
                output.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                value %= divisor
                divisor /= 10
            }
        }
        digits(parts.year, 4)
        output.append(UInt8(ascii: "-"))
        digits(parts.month, 2)
        output.append(UInt8(ascii: "-"))
        digits(parts.day, 2)
        output.append(UInt8(ascii: "T"))
        digits(parts.hour, 2)
        output.append(UInt8(ascii: ":"))
        digits(parts.minute, 2)
        output.append(UInt8(ascii: ":"))
        digits(parts.second, 2)
        if milliseconds {
            output.append(UInt8(ascii: "."))
            digits(parts.millisecond, 3)
            output.append(UInt8(ascii: "Z"))
        } else {
            output.append(contentsOf: "+0000".utf8)
        }
    }

    /// `2026-11-23 08:30:00`: SQL's datetime, UTC, without a zone (Open2b answers its times so).
    public static func sqlDateTime(_ date: Date) -> String {
        let parts = civil(date)
        return "\(pad(parts.year, 4))-\(pad(parts.month))-\(pad(parts.day)) \(pad(parts.hour)):\(pad(parts.minute)):"
            + pad(parts.second)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`: an HTTP-date as IMF-fixdate (RFC 9110 §5.6.7), the
    /// `Date` header's form.
    public static func imfFixdate(_ date: Date) -> String {
        let parts = civil(date)
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        let weekday = ((days % 7) + 10) % 7  // 1970-01-01 was a Thursday (index 3 from Monday)
        return "\(String(decoding: dayNames[weekday], as: UTF8.self)), \(pad(parts.day)) "
            + "\(String(decoding: monthNames[parts.month - 1], as: UTF8.self)) \(pad(parts.year, 4)) "
            + "\(pad(parts.hour)):\(pad(parts.minute)):\(pad(parts.second)) GMT"
    }

    /// Parses `YYYY-MM-DD hh:mm:ss` (UTC); nil when malformed or not a real date.
    public static func parseOpen2b(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            bytes[10] == UInt8(ascii: " "), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
        return parseFields(bytes)
    }

    /// Parses `YYYY-MM-DDThh:mm:ss[.fff]Z`, or with an RFC 3339 offset (`+02:00`) instead of `Z`;
    /// nil when malformed.
    public static func parseISO8601(_ text: String) -> Date? {
        var bytes = Array(text.utf8)
        // RFC 3339's numeric offset (`+02:00`, `-05:30`): the same instant in UTC.
        var offset: TimeInterval = 0
        if bytes.count >= 25, bytes[bytes.count - 3] == UInt8(ascii: ":"),
            bytes[bytes.count - 6] == UInt8(ascii: "+") || bytes[bytes.count - 6] == UInt8(ascii: "-")
        {
            let tail = bytes.suffix(5)
            let digits = [
                tail[tail.startIndex], tail[tail.startIndex + 1], tail[tail.startIndex + 3], tail[tail.startIndex + 4],
            ]
            guard digits.allSatisfy({ $0 &- 0x30 < 10 }) else { return nil }
            let hours = Int(digits[0] - 0x30) * 10 + Int(digits[1] - 0x30)
            let minutes = Int(digits[2] - 0x30) * 10 + Int(digits[3] - 0x30)
            guard hours < 24, minutes < 60 else { return nil }
            offset = TimeInterval(hours * 3600 + minutes * 60) * (bytes[bytes.count - 6] == UInt8(ascii: "-") ? -1 : 1)
            bytes.removeLast(6)
            bytes.append(UInt8(ascii: "Z"))
        }
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), bytes[10] == UInt8(ascii: "T"),
            bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":")
        else { return nil }
        bytes.removeLast()
        var millis = 0.0
        if bytes.count > 19 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 20,
                let fraction = Double("0" + String(decoding: bytes[19...], as: UTF8.self))
            else { return nil }
            millis = fraction
        }
        guard let base = parseFields(Array(bytes[0..<19])) else { return nil }
        return base.addingTimeInterval(millis - offset)
    }

    /// Parses an HTTP-date in its preferred form, IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`,
    /// RFC 9110 §5.6.7), byte by byte; nil when malformed or not a real date. No locale or
    /// formatter objects: the text comes from untrusted backends, and Foundation's
    /// `DateFormatter` has trapped on input a fuzzer built.
    public static func parseIMFFixdate(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 29, bytes[3] == UInt8(ascii: ","), bytes[4] == UInt8(ascii: " "),
            bytes[7] == UInt8(ascii: " "), bytes[11] == UInt8(ascii: " "), bytes[16] == UInt8(ascii: " "),
            bytes[19] == UInt8(ascii: ":"), bytes[22] == UInt8(ascii: ":"), bytes[25...] == Array(" GMT".utf8)[...],
            dayNames.contains(where: { $0.elementsEqual(bytes[0..<3]) }),
            let month = monthNames.firstIndex(where: { $0.elementsEqual(bytes[8..<11]) })
        else { return nil }
        let monthDigits = Array(String(month + 1).utf8)
        // Rearranged into `YYYY-MM-DD hh:mm:ss` and read by the same checked field reader.
        var fields = Array(bytes[12..<16]) + Array("-".utf8)
        fields += (monthDigits.count == 1 ? Array("0".utf8) : []) + monthDigits + Array("-".utf8)
        fields += Array(bytes[5..<7]) + Array(" ".utf8) + Array(bytes[17..<25])
        return parseFields(fields)
    }

    private static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map { Array($0.utf8) }
    private static let monthNames = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .map { Array($0.utf8) }

    private static func parseFields(_ bytes: [UInt8]) -> Date? {
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
            second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + hour * 3_600 + minute * 60 + second))
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private struct Civil {
        var year, month, day, hour, minute, second, millisecond: Int
    }

    private static func civil(_ date: Date) -> Civil {
        let totalMillis = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        var days = totalMillis / 86_400_000
        var rest = totalMillis % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Civil(
            year: year, month: month, day: day, hour: rest / 3_600_000, minute: rest / 60_000 % 60,
            second: rest / 1000 % 60, millisecond: rest % 1000)
    }

    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
