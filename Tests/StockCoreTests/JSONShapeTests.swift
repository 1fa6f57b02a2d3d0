import Foundation
import TestSupport
import Testing

@testable import StockCore

/// `JSONParser.parse(_:keeping:)` builds only the parts a reader uses (the Zettle balances
/// answer: each variant's id and balance). It must accept and refuse exactly what the whole
/// parse does, with the same error, and keep exactly the parts the whole parse would hold.
@Suite("JSON parsed for the parts a reader uses")
struct JSONShapeTests {
    static let zettleBalances = JSONShape.members([
        ("variants", .items(.members([("variantUuid", .whole), ("balance", .whole)])))
    ])
    static let shapes: [JSONShape] = [
        zettleBalances, .whole, .members([]), .items(.members([("a", .items(.whole))])),
        .members([("movement", .members([("sku", .whole)])), ("items", .items(.members([("quantity", .whole)])))]),
    ]

    /// The whole parse cut down to `shape`, as the kept parse should build it.
    static func pruned(_ value: JSONValue, _ shape: JSONShape) -> JSONValue {
        switch (shape.members, shape.item, value) {
        case (let wanted?, _, .object(let object)):
            return .object(
                JSONObject(
                    object.members.compactMap { member in
                        wanted.first { $0.key == member.key }.map {
                            JSONObject.Member(member.key, pruned(member.value, $0.shape))
                        }
                    }))
        case (_, let item?, .array(let items)):
            return .array(items.map { pruned($0, item) })
        default:
            return value
        }
    }

    /// Both parses of `bytes` agree for every shape: the same error, or the kept parts.
    static func expectAgreement(
        _ bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth, maxValues: Int = JSONParser.defaultMaxValues,
        _ label: @autoclosure () -> String
    ) {
        let whole = Result { () throws(JSONParseError) in
            try JSONParser.parse(bytes, maxDepth: maxDepth, maxValues: maxValues)
        }
        for shape in shapes {
            let kept = Result { () throws(JSONParseError) in
                try JSONParser.parse(bytes, keeping: shape, maxDepth: maxDepth, maxValues: maxValues)
            }
            switch (whole, kept) {
            case (.success(let value), .success(let part)):
                #expect(part == pruned(value, shape), "\(label()): \(shape)")
            case (.failure(let error), .failure(let keptError)):
                #expect(error == keptError, "\(label()): \(shape)")
            default:
                Issue.record("\(label()): whole \(whole), kept \(kept), shape \(shape)")
            }
        }
    }

    static let answer = Array(
        #"""
        {"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": [
          {"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "balance": "12", "extra": {"x": [1, 2.5e3, true, null], "é": "\u00e9\ud83d\ude00"}},
          {"variantUuid": "7c6be742-5f0f-11ec-bf63-0242ac130002", "balance": 3.5, "note": "a \"quoted\" \\ text"}]}
        """#.utf8)

    @Test("documents that differ only where nothing is kept: the same answer, the same refusal")
    func skippedParts() {
        let documents = [
            // A duplicate key, invalid UTF-8, a bad escape, a lone surrogate, a control
            // character, a bad number, NaN and trailing garbage, each only in a skipped part.
            #"{"locationUuid": 1, "locationUuid": 2, "variants": []}"#,
            #"{"x": {"a": 1, "a": 2}, "variants": []}"#,
            #"{"x": "bad \q escape", "variants": []}"#, #"{"x": "\ud800", "variants": []}"#,
            "{\"x\": \"tab\there\", \"variants\": []}", #"{"x": 01, "variants": []}"#,
            #"{"x": [NaN], "variants": []}"#, #"{"variants": [{"productUuid": -, "variantUuid": "v"}]}"#,
            #"{"variants": []} x"#, #"{"variants": [{"balance": "1"}, {"balance": "2"}], "x": {"y": [}}"#,
            #"{"variants": [{"variantUuid": "a", "variantUuid": "b"}]}"#, #"{"variants": "not a list"}"#,
            #"{"x": tru, "variants": []}"#, #"{"x": {"a" 1}, "variants": []}"#, #"{"x": [1 2], "variants": []}"#,
            #"{"x": {}, "y": [], "z": "", "variants": [{}]}"#, "[]", "\u{FEFF}{\"variants\": []}", "",
            // Keys are equal as strings are: escaped, or canonically equivalent (a precomposed
            // and a decomposed é; the Kelvin sign and K), in kept and in skipped objects.
            #"{"variants": [{"variant\u0055uid": "a", "balance": "1"}]}"#,
            #"{"variants": [{"balance": "1", "bal\u0061nce": "2"}]}"#,
            #"{"vari\u0061nts": [], "variants": []}"#, #"{"x": {"a": 1, "\u0061": 2}, "variants": []}"#,
            "{\"variants\": [{\"\u{E9}\": 1, \"e\u{301}\": 2}]}",
            "{\"x\": {\"\u{E9}\": 1, \"e\u{301}\": 2}, \"variants\": []}",
            "{\"variants\": [{\"\u{212A}\": 1, \"K\": 2}]}", "{\"K\": 1, \"variants\": [], \"\u{212A}\": 2}",
            "{\"x\": {\"\u{212A}\": 1, \"K\": 2}, \"variants\": []}", "{\"variants\": [], \"v\u{E9}\": 1}",
            // More keys than an object's first eight (kept in place; the rest in an array): a
            // repeat of one of the first eight, one among the rest, none.
            #"{"variants": [], "k1": 1, "k2": 2, "k3": 3, "k4": 4, "k5": 5, "k6": 6, "k7": 7, "k8": 8, "k9": 9, "k1": 0}"#,
            #"{"x": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "j": 0}, "variants": []}"#,
            #"{"x": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10}, "variants": []}"#,
            #"{"variants": [{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "variantUuid": "v", "balance": "1"}]}"#,
            #"{"variants": [{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "balance": "1", "balance": "2"}]}"#,
        ]
        for text in documents { Self.expectAgreement(Array(text.utf8), text) }
        Self.expectAgreement([0x7B, 0x22, 0x78, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D], "invalid UTF-8 skipped")
        Self.expectAgreement(Self.answer, "the answer")
    }

    @Test("the depth and value bounds count the skipped parts")
    func bounds() {
        let deep =
            #"{"variants": [], "x": "# + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}"
        Self.expectAgreement(Array(deep.utf8), "deep")
        for limit in [1, 5, 12, 40] {
            Self.expectAgreement(Self.answer, maxValues: limit, "at most \(limit) values")
            Self.expectAgreement(Self.answer, maxDepth: limit % 5, "at most \(limit % 5) levels")
        }
    }

    @Test("2,000 mutations of a balances answer: both parses agree on each")
    func mutations() {
        var random = SeededGenerator(seed: 0x5EED_2026_1206)
        let alphabet = Array(#"{}[]",:\u0 9e.-+tfn"#.utf8) + [0x80, 0xC3, 0xFF, 0x0A]
        for round in 0..<2000 {
            var bytes = Self.answer
            for _ in 0..<(1 + Int(random.next() % 3)) {
                let at = Int(random.next() % UInt64(bytes.count))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: bytes.remove(at: at)
                }
            }
            Self.expectAgreement(bytes, "mutation \(round): \(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test("the fuzz corpus's answers and requests: both parses agree on each")
    func corpus() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FuzzCorpus")
        let files =
            FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { !$0.hasDirectoryPath } ?? []
        #expect(files.count > 20, "the corpus is there")
        for file in files {
            let data = try Data(contentsOf: file)
            // Answers begin with a status and a newline; requests are bodies. Both whole as well.
            let body = data.firstIndex(of: 0x0A).map { Array(data[($0 + 1)...]) } ?? Array(data)
            Self.expectAgreement(body, file.lastPathComponent)
            Self.expectAgreement(Array(data), file.lastPathComponent + " (whole file)")
        }
    }
}
