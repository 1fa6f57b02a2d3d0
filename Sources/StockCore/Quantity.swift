import Foundation

/// An exact stock quantity: a `Decimal` read from the decimal text of a JSON number or a
/// decimal string, never through a binary `Double`.
///
/// StockGate bounds quantities to 18 integer digits and 18 fraction digits: beyond that no
/// vendor can carry them and `Decimal` would start to round.
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let maxIntegerDigits = 18
    public static let maxFractionDigits = 18

    public let value: Decimal

    /// Why a text is not a quantity.
    public enum ParseError: Error, Sendable, Equatable {
        /// Not a decimal number at all.
        case notANumber
        /// A number, but with more digits than StockGate carries exactly.
        case outOfRange
    }

    public init(_ value: Decimal) {
        self.value = value
    }

    public init(_ integer: Int) {
        self.value = Decimal(integer)
    }

    /// Parses the text of a JSON number (`12`, `-0.5`, `1.25e2`) or a plain decimal string.
    public init(parsing text: String) throws(ParseError) {
        let parts = try Self.split(Array(text.utf8))
        self.value = parts.decimal
    }

    public static let zero = Quantity(Decimal.zero)

    public var isZero: Bool { value.isZero }
    public var isNegative: Bool { value < 0 }
    public var isPositive: Bool { value > 0 }

    /// Number of digits after the decimal point once trailing zeros are dropped (`12.50` → 1).
    public var scale: Int {
        let text = description
        guard let dot = text.firstIndex(of: ".") else { return 0 }
        return text.distance(from: dot, to: text.endIndex) - 1
    }

    public var isInteger: Bool { scale == 0 }

    /// Plain decimal text with no exponent and no trailing fraction zeros: `12.5`, `-3`, `0.3`.
    public var description: String {
        Self.normalise(value.description)
    }

    /// The text with exactly `digits` fraction digits (`-5.00`), or nil when the quantity has
    /// more fraction digits than that (it would have to be rounded, which StockGate never does).
    public func fixed(fractionDigits digits: Int) -> String? {
        let text = description
        let currentScale = scale
        guard currentScale <= digits else { return nil }
        if digits == 0 { return text }
        let padding = String(repeating: "0", count: digits - currentScale)
        return currentScale == 0 ? text + "." + padding : text + padding
    }

    /// The value as an `Int` when it is a whole number that fits.
    public var intValue: Int? {
        guard isInteger else { return nil }
        return Int(description)
    }

    public static func + (lhs: Quantity, rhs: Quantity) -> Quantity { Quantity(lhs.value + rhs.value) }
    public static func - (lhs: Quantity, rhs: Quantity) -> Quantity { Quantity(lhs.value - rhs.value) }
    public static prefix func - (operand: Quantity) -> Quantity { Quantity(-operand.value) }
    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.value < rhs.value }
    public static func == (lhs: Quantity, rhs: Quantity) -> Bool { lhs.value == rhs.value }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    public var absolute: Quantity { isNegative ? -self : self }
}

extension Quantity {
    private struct Parts {
        var negative: Bool
        var digits: [UInt8]  // significant digits, ASCII, no leading zeros
        var exponent: Int  // value = digits × 10^exponent

        var decimal: Decimal {
            if digits.isEmpty { return .zero }
            if digits.count <= 19, let significand = UInt64(String(decoding: digits, as: UTF8.self)) {
                return Decimal(
                    sign: negative ? .minus : .plus, exponent: exponent, significand: Decimal(significand))
            }
            let text = (negative ? "-" : "") + String(decoding: digits, as: UTF8.self) + "e" + String(exponent)
            return Decimal(string: text, locale: nil) ?? .zero
        }
    }

    private static func split(_ bytes: [UInt8]) throws(ParseError) -> Parts {
        var index = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var digits: [UInt8] = []
        var exponent = 0
        var sawDigit = false
        while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
            sawDigit = true
            if !(digits.isEmpty && bytes[index] == 0x30) { digits.append(bytes[index]) }
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var sawFraction = false
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                sawFraction = true
                if !(digits.isEmpty && bytes[index] == 0x30) { digits.append(bytes[index]) }
                exponent -= 1
                index += 1
            }
            guard sawFraction else { throw .notANumber }
        }
        guard sawDigit else { throw .notANumber }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            var sawExponentDigit = false
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                sawExponentDigit = true
                // Saturate: anything this large is out of range anyway.
                if written < 100_000 { written = written * 10 + Int(bytes[index] - 0x30) }
                index += 1
            }
            guard sawExponentDigit else { throw .notANumber }
            exponent += exponentNegative ? -written : written
        }
        guard index == bytes.count else { throw .notANumber }
        // Drop trailing zeros of the significand into the exponent.
        while let last = digits.last, last == 0x30 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty { return Parts(negative: false, digits: [], exponent: 0) }
        let integerDigits = digits.count + exponent
        let fractionDigits = max(0, -exponent)
        guard integerDigits <= maxIntegerDigits, fractionDigits <= maxFractionDigits else { throw .outOfRange }
        return Parts(negative: negative, digits: digits, exponent: exponent)
    }

    /// Turns whatever `Decimal.description` prints into plain text without trailing zeros.
    static func normalise(_ text: String) -> String {
        if text.contains("e") || text.contains("E") {
            // Not expected from Foundation, but never let an exponent reach the wire.
            guard let parts = try? split(Array(text.utf8)) else { return text }
            return plain(parts)
        }
        guard text.contains(".") else { return text == "-0" ? "0" : text }
        var trimmed = Substring(text)
        while trimmed.last == "0" { trimmed.removeLast() }
        if trimmed.last == "." { trimmed.removeLast() }
        return trimmed == "-0" ? "0" : String(trimmed)
    }

    private static func plain(_ parts: Parts) -> String {
        if parts.digits.isEmpty { return "0" }
        var digits = String(decoding: parts.digits, as: UTF8.self)
        if parts.exponent >= 0 {
            digits += String(repeating: "0", count: parts.exponent)
        } else {
            let fraction = -parts.exponent
            if digits.count <= fraction { digits = String(repeating: "0", count: fraction - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -fraction))
        }
        return (parts.negative ? "-" : "") + digits
    }
}
