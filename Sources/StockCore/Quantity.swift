import Foundation

/// An exact stock quantity, read from the decimal text of a JSON number or a decimal string,
/// never through a binary `Double`.
///
/// Held as a fixed-point decimal: a signed count of 10⁻¹⁸ units in an `Int128`. StockGate
/// bounds quantities to 18 integer digits and 18 fraction digits (beyond that no vendor can
/// carry them), and every such quantity is exactly such a count, so parsing, adding,
/// comparing and printing are exact integer operations. `value` gives the same number as a
/// Foundation `Decimal` for code that wants one.
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let maxIntegerDigits = 18
    public static let maxFractionDigits = 18

    /// 10¹⁸: one whole unit in `units`.
    static let one: UInt128 = 1_000_000_000_000_000_000
    /// 10³⁶: the first magnitude with more than 18 integer digits.
    static let limit: Int128 = 1_000_000_000_000_000_000_000_000_000_000_000_000

    /// The value in units of 10⁻¹⁸. Sums that overflow saturate (see `isInRange`).
    public let units: Int128

    /// Why a text is not a quantity.
    public enum ParseError: Error, Sendable, Equatable {
        /// Not a decimal number at all.
        case notANumber
        /// A number, but with more digits than StockGate carries exactly.
        case outOfRange
    }

    init(units: Int128) {
        self.units = units
    }

    /// The quantity of a `Decimal` that has at most 18 integer and 18 fraction digits.
    /// A `Decimal` beyond that is a programming error and traps.
    public init(_ value: Decimal) {
        guard let quantity = try? Quantity(parsing: value.description) else {
            preconditionFailure("\(value) has more digits than a Quantity carries")
        }
        self = quantity
    }

    public init(_ integer: Int) {
        self.units = Int128(integer) * Int128(Self.one)
    }

    /// Parses the text of a JSON number (`12`, `-0.5`, `1.25e2`) or a plain decimal string.
    public init(parsing text: String) throws(ParseError) {
        var text = text
        let parsed = text.withUTF8 { bytes -> Result<Quantity, ParseError> in
            do throws(ParseError) { return .success(try Self.parse(bytes)) } catch { return .failure(error) }
        }
        self = try parsed.get()
    }

    public static let zero = Quantity(units: 0)

    /// The same number as a Foundation `Decimal` (exact: at most 36 significant digits).
    public var value: Decimal { Decimal(string: description, locale: nil) ?? .zero }

    public var isZero: Bool { units == 0 }
    public var isNegative: Bool { units < 0 }
    public var isPositive: Bool { units > 0 }

    /// At most 18 integer digits: false only for a sum that outgrew what StockGate carries.
    public var isInRange: Bool { units > -Self.limit && units < Self.limit }

    /// The whole part and the fraction (in 10⁻¹⁸ units) of the magnitude.
    private var parts: (whole: UInt128, fraction: UInt64) {
        let magnitude = units.magnitude
        // In range, the whole part is below 10¹⁸ and the high word below the divisor: one
        // 128-by-64-bit division instead of two 128-bit ones (a runtime call each).
        if magnitude < UInt128(Self.limit) {
            let (whole, fraction) = UInt64(Self.one).dividingFullWidth(
                (high: UInt64(truncatingIfNeeded: magnitude >> 64), low: UInt64(truncatingIfNeeded: magnitude)))
            return (UInt128(whole), fraction)
        }
        return (magnitude / Self.one, UInt64(truncatingIfNeeded: magnitude % Self.one))
    }

    /// Number of digits after the decimal point once trailing zeros are dropped (`12.50` → 1).
    public var scale: Int {
        var fraction = parts.fraction
        guard fraction != 0 else { return 0 }
        var digits = Self.maxFractionDigits
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        return digits
    }

    public var isInteger: Bool { parts.fraction == 0 }

    /// Plain decimal text with no exponent and no trailing fraction zeros: `12.5`, `-3`, `0.3`.
    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        write(into: &bytes, fractionDigits: nil)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the text `description` spells to a byte buffer, without making the `String`.
    public func appendText(to bytes: inout [UInt8]) {
        write(into: &bytes, fractionDigits: nil)
    }

    /// Appends the text (as `description`, or with exactly `fractionDigits` digits after the
    /// point, which the caller has checked against `scale`) to a byte buffer.
    private func write(into bytes: inout [UInt8], fractionDigits: Int? = nil) {
        let (whole, fraction) = parts
        if units < 0 { bytes.append(UInt8(ascii: "-")) }
        Self.appendDigits(whole, to: &bytes)
        let shown = fractionDigits ?? scale
        guard shown > 0 else { return }
        bytes.append(UInt8(ascii: "."))
        // The first `shown` of the 18 fraction digits, leading zeros kept (what is cut is zeros:
        // `shown` is at least `scale`), then padded with zeros beyond 18.
        let digits = min(shown, Self.maxFractionDigits)
        var rest = fraction
        for _ in digits..<Self.maxFractionDigits { rest /= 10 }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits))
        var position = start + digits - 1
        while rest != 0 {
            bytes[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            position -= 1
        }
        if shown > Self.maxFractionDigits {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: shown - Self.maxFractionDigits))
        }
    }

    private static func appendDigits(_ value: UInt128, to bytes: inout [UInt8]) {
        let start = bytes.count
        var wide = value
        // Only a saturated sum (see `isInRange`) has a whole part beyond 64 bits.
        while wide > UInt128(UInt64.max) {
            bytes.append(UInt8(ascii: "0") + UInt8(wide % 10))
            wide /= 10
        }
        var narrow = UInt64(wide)
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(narrow % 10))
            narrow /= 10
        } while narrow > 0
        bytes[start...].reverse()
    }

    /// The text with exactly `digits` fraction digits (`-5.00`), or nil when the quantity has
    /// more fraction digits than that (it would have to be rounded, which StockGate never does).
    public func fixed(fractionDigits digits: Int) -> String? {
        guard scale <= digits else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        write(into: &bytes, fractionDigits: digits)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The value as an `Int` when it is a whole number that fits.
    public var intValue: Int? {
        let (whole, fraction) = parts
        guard fraction == 0, whole <= UInt128(Int.max) else { return nil }
        return units < 0 ? -Int(whole) : Int(whole)
    }

    public static func + (lhs: Quantity, rhs: Quantity) -> Quantity {
        let (sum, overflow) = lhs.units.addingReportingOverflow(rhs.units)
        return Quantity(units: overflow ? (rhs.units > 0 ? .max : .min) : sum)
    }
    public static func - (lhs: Quantity, rhs: Quantity) -> Quantity {
        let (difference, overflow) = lhs.units.subtractingReportingOverflow(rhs.units)
        return Quantity(units: overflow ? (rhs.units < 0 ? .max : .min) : difference)
    }
    public static prefix func - (operand: Quantity) -> Quantity {
        Quantity(units: operand.units == .min ? .max : -operand.units)
    }
    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.units < rhs.units }

    public var absolute: Quantity { isNegative ? -self : self }
}

extension Quantity {
    /// 10⁰ … 10³⁶.
    private static let powers: [UInt128] = {
        var powers: [UInt128] = [1]
        for _ in 0..<36 { powers.append(powers[powers.count - 1] * 10) }
        return powers
    }()

    /// One pass over the bytes: sign, digits, fraction, exponent. Significant digits are
    /// gathered into an integer; zeros are held back until a later non-zero digit needs them,
    /// so trailing zeros (`12.500`, `1e3`) cost nothing and never count against the bounds.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Quantity {
        var index = 0
        let count = bytes.count
        var negative = false
        if index < count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var significand: UInt128 = 0
        var significantDigits = 0  // digits in `significand`
        var heldZeros = 0  // zeros seen after the last non-zero digit, not yet in `significand`
        var exponent = 0  // value = significand × 10^(exponent + heldZeros)
        var tooLong = false

        @inline(__always) func digit(_ byte: UInt8, fraction: Bool) {
            if fraction { exponent -= 1 }
            if byte == UInt8(ascii: "0") {
                if significantDigits > 0 { heldZeros += 1 }
                return
            }
            let needed = significantDigits + heldZeros + 1
            if needed > maxIntegerDigits + maxFractionDigits {
                tooLong = true
            } else if !tooLong {
                significand = significand * powers[heldZeros + 1] + UInt128(byte - UInt8(ascii: "0"))
                significantDigits = needed
            }
            heldZeros = 0
        }

        var sawDigit = false
        while index < count, bytes[index] &- 0x30 < 10 {
            sawDigit = true
            digit(bytes[index], fraction: false)
            index += 1
        }
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var sawFraction = false
            while index < count, bytes[index] &- 0x30 < 10 {
                sawFraction = true
                digit(bytes[index], fraction: true)
                index += 1
            }
            guard sawFraction else { throw .notANumber }
        }
        guard sawDigit else { throw .notANumber }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            var sawExponentDigit = false
            while index < count, bytes[index] &- 0x30 < 10 {
                sawExponentDigit = true
                // Saturate: anything this large is out of range anyway.
                if written < 100_000 { written = written * 10 + Int(bytes[index] - 0x30) }
                index += 1
            }
            guard sawExponentDigit else { throw .notANumber }
            exponent += exponentNegative ? -written : written
        }
        guard index == count else { throw .notANumber }
        if tooLong { throw .outOfRange }
        if significantDigits == 0 { return .zero }
        // The trailing zeros held back only move the exponent.
        exponent += heldZeros
        let integerDigits = significantDigits + exponent
        let fractionDigits = max(0, -exponent)
        guard integerDigits <= maxIntegerDigits, fractionDigits <= maxFractionDigits else { throw .outOfRange }
        let magnitude = significand * powers[exponent + maxFractionDigits]
        let units = Int128(magnitude)
        return Quantity(units: negative ? -units : units)
    }
}
