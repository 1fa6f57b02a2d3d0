import Foundation
import Testing

@testable import StockCore

@Suite("Quantity")
struct QuantityTests {
    @Test(
        "parses exact decimal text",
        arguments: [
            ("1", "1"), ("12.50", "12.5"), ("-5.00", "-5"), ("0.1", "0.1"), ("1e3", "1000"), ("1.25E2", "125"),
            ("125e-3", "0.125"), ("0", "0"), ("-0", "0"), ("0.000000000000000001", "0.000000000000000001"),
            ("999999999999999999", "999999999999999999"), ("123456789012345678.5", "123456789012345678.5"),
            ("1.000000000000000000000000000000", "1"), ("000012.5", "12.5"), ("0.0000", "0"), ("0e999999", "0"),
            ("123456789012345678.123456789012345678", "123456789012345678.123456789012345678"),
            ("-999999999999999999.999999999999999999", "-999999999999999999.999999999999999999"),
            ("12345e-18", "0.000000000000012345"), ("1200E-2", "12"), ("-0.050", "-0.05"),
        ])
    func parses(_ input: String, _ expected: String) throws {
        #expect(try Quantity(parsing: input).description == expected)
    }

    @Test("0.1 + 0.2 is exactly 0.3")
    func exactSum() throws {
        let sum = try Quantity(parsing: "0.1") + Quantity(parsing: "0.2")
        #expect(sum == (try Quantity(parsing: "0.3")))
        #expect(sum.description == "0.3")
    }

    @Test(
        "refuses what is not a number", arguments: ["", "abc", "1.", ".5", "1e", "--1", "1,5", "NaN", "Infinity", " 1"])
    func notANumber(_ input: String) {
        #expect(throws: Quantity.ParseError.notANumber) { try Quantity(parsing: input) }
    }

    @Test(
        "refuses what it cannot carry exactly",
        arguments: [
            "1e309", "1e19", "0.0000000000000000001", "1e-400", "1000000000000000000",
            "1.0000000000000000001", "123456789012345678901234567890123456789012345",
        ])
    func outOfRange(_ input: String) {
        #expect(throws: Quantity.ParseError.outOfRange) { try Quantity(parsing: input) }
    }

    @Test("fixed fraction digits never round")
    func fixed() throws {
        #expect(try Quantity(parsing: "-5").fixed(fractionDigits: 2) == "-5.00")
        #expect(try Quantity(parsing: "2.5").fixed(fractionDigits: 2) == "2.50")
        #expect(try Quantity(parsing: "2.125").fixed(fractionDigits: 2) == nil)
        #expect(try Quantity(parsing: "7").fixed(fractionDigits: 0) == "7")
    }

    @Test("scale, integers and signs")
    func properties() throws {
        #expect(try Quantity(parsing: "3.10").scale == 1)
        #expect(try Quantity(parsing: "3").isInteger)
        #expect(try Quantity(parsing: "3.0").intValue == 3)
        #expect(try !Quantity(parsing: "3.5").isInteger)
        #expect(try Quantity(parsing: "-0.5").isNegative)
        #expect(try Quantity(parsing: "-0").isPositive == false)
        #expect(Quantity(10) - Quantity(12) == Quantity(-2))
    }

    @Test("the same number as a Foundation Decimal, both ways")
    func decimal() throws {
        for text in ["0", "12.5", "-3", "0.000000000000000001", "999999999999999999.999999999999999999"] {
            let quantity = try Quantity(parsing: text)
            #expect(quantity.value == Decimal(string: text, locale: nil))
            #expect(Quantity(quantity.value) == quantity)
        }
        #expect(Quantity(Decimal(string: "0.1")! + Decimal(string: "0.2")!) == (try Quantity(parsing: "0.3")))
    }

    @Test("sums past 18 integer digits saturate and say so instead of wrapping or rounding")
    func saturation() throws {
        let largest = try Quantity(parsing: "999999999999999999.999999999999999999")
        #expect(largest.isInRange)
        #expect(!(largest + largest).isInRange)
        // Out of range, the whole part no longer fits the one-division path: the text is
        // still exact.
        #expect((largest + largest).description == "1999999999999999999.999999999999999998")
        #expect((Quantity.zero - largest - largest).description == "-1999999999999999999.999999999999999998")
        var total = Quantity.zero
        for _ in 0..<1000 { total = total + largest }
        #expect(!total.isInRange)
        #expect(total.isPositive)
        #expect(!(Quantity.zero - total).isInRange)
        #expect((Quantity.zero - total).isNegative)
        #expect(!(total.description.isEmpty))
    }

    @Test("fixed pads past 18 digits; hashing follows the value, not the text")
    func fixedAndHash() throws {
        #expect(try Quantity(parsing: "1.5").fixed(fractionDigits: 20) == "1.50000000000000000000")
        #expect(try Quantity(parsing: "-0.05").fixed(fractionDigits: 3) == "-0.050")
        let same = try [Quantity(parsing: "12.50"), Quantity(parsing: "12.5"), Quantity(parsing: "1.25e1")]
        #expect(Set(same).count == 1)
        #expect(try Quantity(parsing: "-7.000").intValue == -7)
        #expect(try Quantity(parsing: "99999999999999999").intValue == 99_999_999_999_999_999)
    }

    @Test(
        "the text appended to bytes is the description, for every scale",
        arguments: [
            "0", "7", "-3", "12.5", "3.5", "0.000000000000000001", "-0.05", "100200.75",
            "999999999999999999.999999999999999999", "123456789.123456789",
        ])
    func appendedText(_ input: String) throws {
        let quantity = try Quantity(parsing: input)
        var bytes = Array("x".utf8)
        quantity.appendText(to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "x" + quantity.description)
        #expect(quantity.description == input)
    }
}
