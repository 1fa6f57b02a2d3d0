import Testing

@testable import StockCore

@Suite("JSON parser and writer")
struct JSONParserTests {
    /// Strings are scanned eight bytes at a time up to their first quote, backslash or control
    /// character: each of those, and non-ASCII bytes, at every offset across two words.
    @Test("strings read the same whatever the offset of a quote, an escape, a control character or UTF-8")
    func stringOffsets() throws {
        for offset in 0..<20 {
            for tail in [0, 1, 9] {
                let before = String(repeating: "a", count: offset)
                let after = String(repeating: "b", count: tail)
                #expect(try JSONParser.parse("[\"\(before)\", 1]") == [.string(before), .number("1")])
                #expect(try JSONParser.parse("\"\(before)\\n\(after)\"") == .string(before + "\n" + after))
                #expect(try JSONParser.parse("\"\(before)\\\"\(after)\"") == .string(before + "\"" + after))
                #expect(try JSONParser.parse("\"\(before)é\(after)\"") == .string(before + "é" + after))
                #expect(
                    throws: JSONParseError(message: "control character in string", offset: 1 + offset),
                    "at \(offset)"
                ) { try JSONParser.parse(Array("\"\(before)\u{01}\(after)\"".utf8)) }
                #expect(throws: JSONParseError(message: "invalid UTF-8 in string", offset: 1), "at \(offset)") {
                    try JSONParser.parse(Array("\"\(before)".utf8) + [0xFF] + Array("\(after)\"".utf8))
                }
                #expect(throws: JSONParseError(message: "unterminated string", offset: 0), "at \(offset)") {
                    try JSONParser.parse(Array("\"\(before)\(after)".utf8))
                }
            }
        }
    }

    @Test("numbers keep their exact text")
    func numbersKeepText() throws {
        let value = try JSONParser.parse(#"{"a": 0.1, "b": -12.50, "c": 1e3, "d": 12345678901234567890.123}"#)
        #expect(value["a"] == .number("0.1"))
        #expect(value["b"] == .number("-12.50"))
        #expect(value["c"] == .number("1e3"))
        #expect(value["d"] == .number("12345678901234567890.123"))
    }

    @Test("strings, escapes and surrogate pairs")
    func strings() throws {
        let value = try JSONParser.parse(#"["a\"b\\c\/d\n", "\u00e9\ud83d\ude00", "héllo"]"#)
        #expect(value == .array([.string("a\"b\\c/d\n"), .string("é😀"), .string("héllo")]))
    }

    @Test("writer round-trips and escapes control characters")
    func writerRoundTrip() throws {
        let original: JSONValue = [
            "text": "line\nbreak \"quoted\" \u{01}", "n": .number("1.50"), "list": [true, nil, 3],
        ]
        let text = JSONWriter.string(original)
        #expect(text == #"{"text":"line\nbreak \"quoted\" \u0001","n":1.50,"list":[true,null,3]}"#)
        #expect(try JSONParser.parse(text) == original)
        #expect(try JSONParser.parse(JSONWriter.pretty(original)) == original)
    }

    @Test(
        "malformed documents are refused",
        arguments: [
            "", "   ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "NaN", "Infinity", "-Infinity", "[NaN]", "01", "1.",
            ".5", "-", "1e", "+1", "[1] x", "\"unterminated", "\"bad \\x escape\"", "\"\\ud800\"", "\"\\udc00x\"",
            "\"tab\there\"", "tru", "nul", "{'a': 1}", "[1 2]",
        ])
    func malformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("duplicate keys are refused with the key named")
    func duplicateKeys() {
        #expect {
            try JSONParser.parse(#"{"quantity": 1, "quantity": 2}"#)
        } throws: { error in
            (error as? JSONParseError)?.message == "duplicate key 'quantity'"
        }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
        #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
    }

    @Test("nesting deeper than the limit is refused")
    func depthLimit() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(try JSONParser.parse(fine, maxDepth: 10) != .null)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(fine, maxDepth: 9) }
    }

    @Test("a byte order mark is tolerated")
    func byteOrderMark() throws {
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == .array([.number("1")]))
    }
}
