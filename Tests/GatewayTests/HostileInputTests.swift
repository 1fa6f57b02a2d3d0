import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOCore
import NIOHTTP1
import StockCore
import Testing

/// A corpus of bad inputs per dialect, sent over a real socket: every one is answered in the
/// dialect's own envelope (never a 5xx), names the field where there is one, and changes nothing.
@Suite("Hostile and malformed input")
struct HostileInputTests {
    struct Shape: Sendable {
        var dialect: String
        var method: HTTPMethod
        var path: String
        /// A valid item, and the names of its fields in this dialect.
        var item: JSONObject
        var product: String
        var quantity: String
        var from: String
        var to: String
        /// Items → the request body.
        var wrap: @Sendable ([JSONValue]) -> JSONValue
        var single: Bool = false
    }

    static let shapes: [Shape] = [
        Shape(
            dialect: "stockgate", method: .POST, path: "/stockgate/v1/movements",
            item: JSONObject([
                .init("product", "mug-white"), .init("quantity", 1), .init("from", "supplier"),
                .init("to", "shop-floor"),
            ]),
            product: "product", quantity: "quantity", from: "from", to: "to",
            wrap: { ["movements": .array($0), "atomic": true] }),
        Shape(
            dialect: "colleqtive", method: .POST, path: "/api/v2/public/stores/1001/storeproductlocation/movement",
            item: JSONObject([
                .init("product_number", "sku5"), .init("quantity", 1),
                .init("from_location", ["location_code": "INBOUND"]),
                .init("to_location", ["location_code": "SHOPFLOOR"]),
            ]),
            product: "product_number", quantity: "quantity", from: "from_location", to: "to_location",
            wrap: { .array($0) }),
        Shape(
            dialect: "storefeeder", method: .POST, path: "/stocklocations/create-transfers",
            item: JSONObject([
                .init("ProductIDType", ["IDType": "SKU", "Value": "sku5"]),
                .init("StockLocationFrom", ["IDType": "StockLocationReference", "Value": "Unspecified"]),
                .init("StockLocationTo", ["IDType": "ID", "Value": "5431"]), .init("TransferAmount", 1),
                .init("ImmediateTransfer", true),
            ]),
            product: "ProductIDType", quantity: "TransferAmount", from: "StockLocationFrom", to: "StockLocationTo",
            wrap: { .array($0) }),
        Shape(
            dialect: "open2b-v6", method: .POST, path: "/api/v6/commerce.movements.create",
            item: JSONObject([.init("sku", "sku5"), .init("adjustment", "1.00")]),
            product: "sku", quantity: "adjustment", from: "sku", to: "sku",
            wrap: { ["movement": $0.first ?? .null] }, single: true),
        Shape(
            dialect: "open2b-v3", method: .POST, path: "/open2b/api/v3/commerce.movements.create",
            item: JSONObject([.init("sku", "sku5"), .init("adjustment", "1.00")]),
            product: "sku", quantity: "adjustment", from: "sku", to: "sku",
            wrap: { ["movement": $0.first ?? .null] }, single: true),
        Shape(
            dialect: "zettle", method: .PUT, path: "/organizations/self/inventory",
            item: JSONObject([
                .init("productUuid", "3cc3b9f6-623b-11ec-90d6-0242ac120003"),
                .init("variantUuid", "4066f6cc-623b-11ec-90d6-0242ac120003"),
                .init("fromLocationUuid", "c1a0b7e2-5f0f-11ec-bf63-0242ac130002"),
                .init("toLocationUuid", "89ac1e4a-5f0f-11ec-bf63-0242ac130002"), .init("change", 1),
            ]),
            product: "variantUuid", quantity: "change", from: "fromLocationUuid", to: "toLocationUuid",
            wrap: { ["changes": .array($0)] }),
    ]

    struct Bad: Sendable {
        var name: String
        var body: [UInt8]
        /// The field the answer must name, if any.
        var field: String?
    }

    /// At least 30 bad inputs for a dialect, built from its valid item.
    static func corpus(_ shape: Shape) -> [Bad] {
        func body(_ items: [JSONValue]) -> [UInt8] { JSONWriter.bytes(shape.wrap(items)) }
        func with(_ key: String, _ value: JSONValue?) -> [UInt8] {
            var item = shape.item
            item[key] = value
            return body([.object(item)])
        }
        func text(_ string: String) -> [UInt8] { Array(string.utf8) }
        let valid = String(decoding: body([.object(shape.item)]), as: UTF8.self)
        let quantityText = "\"\(shape.quantity)\":"
        func replacingQuantity(_ raw: String) -> [UInt8] {
            // Raw number text the JSON writer would never produce (NaN, 1e309, -0, …).
            guard let range = valid.range(of: quantityText) else { return text(valid) }
            let rest = valid[range.upperBound...]
            let end = rest.firstIndex(where: { $0 == "," || $0 == "}" }) ?? rest.endIndex
            return text(String(valid[..<range.upperBound]) + raw + String(valid[end...]))
        }
        var list: [Bad] = [
            Bad(name: "empty body", body: []),
            Bad(name: "not JSON", body: text("this is not json")),
            Bad(name: "truncated JSON", body: Array(valid.utf8.dropLast(3))),
            Bad(name: "invalid UTF-8", body: [0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D]),
            Bad(name: "null", body: text("null")),
            Bad(name: "a number", body: text("42")),
            Bad(name: "a string", body: text("\"move\"")),
            Bad(
                name: "nested 200 deep",
                body: text(String(repeating: "[", count: 200) + String(repeating: "]", count: 200))),
            Bad(name: "trailing garbage", body: text(valid + " garbage")),
            Bad(
                name: "raw control character",
                body: text(valid.replacingOccurrences(of: "\"\(shape.product)\"", with: "\"\(shape.product)\u{01}\""))),
            Bad(
                name: "lone surrogate",
                body: text(
                    valid.replacingOccurrences(
                        of: "\"\(shape.product)\":", with: "\"\\ud800\":\"x\",\"\(shape.product)\":"))),
            Bad(name: "NaN", body: replacingQuantity("NaN"), field: nil),
            Bad(name: "Infinity", body: replacingQuantity("Infinity")),
            Bad(name: "-Infinity", body: replacingQuantity("-Infinity")),
            Bad(name: "1e309", body: replacingQuantity("1e309"), field: shape.quantity),
            Bad(name: "-0", body: replacingQuantity("-0"), field: shape.quantity),
            Bad(name: "zero", body: replacingQuantity("0"), field: shape.quantity),
            Bad(name: "huge integer", body: replacingQuantity("123456789012345678901234567890"), field: shape.quantity),
            Bad(name: "tiny fraction", body: replacingQuantity("0.0000000000000000000001"), field: shape.quantity),
            Bad(name: "quantity true", body: with(shape.quantity, true), field: shape.quantity),
            Bad(name: "quantity object", body: with(shape.quantity, ["value": 1]), field: shape.quantity),
            Bad(name: "quantity array", body: with(shape.quantity, [1]), field: shape.quantity),
            Bad(name: "quantity missing", body: with(shape.quantity, nil), field: shape.quantity),
            Bad(
                name: "duplicate key",
                body: text(valid.replacingOccurrences(of: quantityText, with: "\(quantityText)1,\(quantityText)"))),
            Bad(name: "product missing", body: with(shape.product, nil), field: shape.product),
            Bad(name: "product a number", body: with(shape.product, 5), field: shape.product),
            Bad(name: "product empty", body: with(shape.product, "")),
            Bad(name: "product unknown", body: with(shape.product, "NO-SUCH-THING")),
            Bad(
                name: "product 20,000 characters",
                body: with(shape.product, .string(String(repeating: "x", count: 20_000)))),
            Bad(name: "items not objects", body: body([1, 2, 3])),
            Bad(name: "no items", body: body([])),
        ]
        if !shape.single {
            // Open2b's adjustments are signed: only there is a negative number valid.
            list += [
                Bad(name: "negative", body: replacingQuantity("-5"), field: shape.quantity),
                Bad(name: "source missing", body: with(shape.from, nil), field: shape.from),
                Bad(name: "destination missing", body: with(shape.to, nil), field: shape.to),
                Bad(name: "too many items", body: body(Array(repeating: .object(shape.item), count: 10_001))),
            ]
        }
        return list
    }

    /// Whether the answer is a refusal in the dialect's own envelope.
    static func refused(_ dialect: String, _ result: HTTPResult) -> Bool {
        let json = result.json
        switch dialect {
        case "stockgate":
            return (400..<500).contains(result.status) && (json?["error"] != nil || json?["failed"] != nil)
        case "colleqtive":
            return (400..<500).contains(result.status) && json?["success"] == false
        case "storefeeder":
            if (400..<500).contains(result.status) { return json?["Message"] != nil }
            return result.status == 200 && json?["Successful"] == 0
        case "open2b-v6", "open2b-v3":
            return (result.status == 200 && json?["status"] == "error") || (400..<500).contains(result.status)
        default:
            return (400..<500).contains(result.status) && json?["developerMessage"] != nil
        }
    }

    @Test(
        "every bad input is refused in the dialect's envelope, names its field, and changes nothing",
        arguments: shapes.map(\.dialect))
    func corpus(_ dialect: String) async throws {
        let shape = Self.shapes.first { $0.dialect == dialect }!
        let corpus = Self.corpus(shape)
        #expect(corpus.count >= 30)
        try await LiveGateway.run { live in
            for bad in corpus {
                var request = HTTPClientRequest(url: live.baseURL + shape.path)
                request.method = shape.method
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: bad.body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                let bytes = try await response.body.collect(upTo: 10_000_000)
                let result = HTTPResult(
                    status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
                #expect(result.status < 500, "\(dialect) / \(bad.name): \(result.status) \(result.text.prefix(300))")
                #expect(
                    Self.refused(dialect, result),
                    "\(dialect) / \(bad.name): \(result.status) \(result.text.prefix(300))")
                if let field = bad.field {
                    #expect(
                        result.text.contains(field),
                        "\(dialect) / \(bad.name) should name \(field): \(result.text.prefix(300))")
                }
            }
            #expect(try await live.ledger.count(MovementQuery()) == 0)
            #expect(try await live.ledger.balances(BalanceQuery(includeZero: false)).isEmpty)
        }
    }
}
