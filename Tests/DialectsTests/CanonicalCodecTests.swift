import Dialects
import StockCore
import Testing

let smallCatalog = Catalog(
    products: [Product(key: "mug", identifiers: ["sku": "MUG"])],
    locations: [Location(key: "floor", kind: .stock), Location(key: "supplier", kind: .supplier)])

@Suite("Canonical codec (no socket)")
struct CanonicalCodecTests {
    let codec = CanonicalCodec()

    func route(_ endpoint: CanonicalCodec.Endpoint) -> Route<CanonicalCodec.Endpoint> { codec.route(endpoint)! }

    @Test("a batch decodes with exact quantities and its atomicity")
    func decodeBatch() throws {
        let body =
            #"{"atomic": true, "movements": [{"product": "mug", "quantity": 0.1, "from": "supplier", "to": "floor", "pending": true, "extras": {"batchReference": "B1"}}]}"#
        let decoded = try codec.decode(
            InboundRequest(method: .post, path: "/stockgate/v1/movements", body: Array(body.utf8)),
            route: route(.movementsCreate), catalog: smallCatalog)
        guard case .move(let batch) = decoded.commands.first else {
            Issue.record("expected a move")
            return
        }
        #expect(batch.atomicity == .allOrNothing)
        #expect(batch.items[0].quantity.description == "0.1")
        #expect(batch.items[0].state == .pending)
        #expect(batch.items[0].extras.batchReference == "B1")
    }

    @Test("per-item failures are encoded with the item's path")
    func encodeFailure() throws {
        let outcome = Outcome.moved(BatchOutcome(items: [.failed(.insufficientStock("not enough", field: "quantity"))]))
        let response = codec.encode(
            [outcome], context: .init(), route: route(.movementsCreate), catalog: smallCatalog)
        let json = try JSONParser.parse(response.body)
        #expect(json["results"]?.arrayValue?[0]["error"]?["field"] == "movements[0].quantity")
        #expect(json["failed"] == 1)
    }

    @Test("query filters must name catalog entries")
    func queryFilters() {
        #expect(throws: GatewayError.self) {
            try codec.decode(
                InboundRequest(method: .get, path: "/stockgate/v1/balances", query: [("product", "ghost")]),
                route: route(.balancesRead), catalog: smallCatalog)
        }
        #expect(throws: GatewayError.self) {
            try codec.decode(
                InboundRequest(method: .get, path: "/stockgate/v1/balances", query: [("colour", "red")]),
                route: route(.balancesRead), catalog: smallCatalog)
        }
    }
}

/// Issue 34: the balances answer is written straight into bytes; they must be the bytes the
/// tree would have made, for any key and any quantity.
@Suite("Canonical balances written as bytes")
struct CanonicalBalancesBytesTests {
    @Test("the same bytes as the JSON tree, with keys that need escaping and every quantity form")
    func sameAsTree() throws {
        let keys = ["mug-white", "quote\"d", "back\\slash", "tab\there", "line\nbreak", "é ☃ 𝄞", "\u{1}", ""]
        let quantities = ["0", "12", "-3", "3.5", "0.000000000000000001", "999999999999999999", "-0.25"]
        var balances: [Balance] = []
        for (index, key) in keys.enumerated() {
            for quantity in quantities {
                balances.append(
                    Balance(
                        product: key, location: keys[(index + 3) % keys.count],
                        quantity: try Quantity(parsing: quantity)))
            }
        }
        for count in [0, 1, 2, balances.count] {
            let slice = Array(balances.prefix(count))
            let tree = JSONWriter.bytes(["balances": .array(slice.map(CanonicalJSON.json))])
            #expect(CanonicalJSON.balancesBytes(slice) == tree, "\(count) balances")
        }
    }
}
