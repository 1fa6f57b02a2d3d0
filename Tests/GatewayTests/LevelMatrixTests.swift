import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import StockCore
import Testing

/// Issue 31: level commands from each dialect that has one (StockGate's `/stockgate/v1/levels`,
/// StoreFeeder's two stock sync calls) to every backend kind — the embedded ledger, and a second
/// StockGate on loopback answering in each dialect from its own ledger. Where the backend can
/// read its balance (or takes levels natively) a level lands exactly; where it cannot, an
/// absolute level is refused in the caller's envelope and nothing moves, while a relative change
/// (a plain movement) still lands.
@Suite("Levels in, any dialect out")
struct LevelMatrixTests {
    static let backendKinds = ["embedded"] + DialectRegistry.names
    /// Backends a level lands at: the embedded ledger and StockGate apply it atomically,
    /// StoreFeeder takes it natively (stock sync); Zettle and Zettle V3 are read, then sent the
    /// difference.
    static let levelKinds: Set<String> = ["embedded", "stockgate", "storefeeder", "zettle", "zettle-v3"]

    static func storeFeederAbsolute(_ amount: Int) -> String {
        #"[{"ProductIDType": {"IDType": "SKU", "Value": "TS-BLUE-M"}, "AdjustmentType": "AbsoluteAdjustment", "AdjustmentAmount": \#(amount), "StockLocationID": {"IDType": "ID", "Value": "5431"}, "Reason": "stock count"}]"#
    }

    @Test("a level from StockGate and StoreFeeder clients × backend", arguments: backendKinds)
    func levels(_ backendKind: String) async throws {
        try await LiveGateway.run(catalog: demoCatalog) { second in
            try await MatrixTests.withGateway(to: backendKind, second: second) { gateway, holder in
                _ = try await holder.move(
                    MoveBatch(
                        items: [
                            Movement(
                                product: "tshirt-blue-m", quantity: Quantity(5), from: "supplier", to: "shop-floor")
                        ],
                        atomicity: .perItem),
                    facts: RequestFacts(dialect: "stockgate", requestID: "preload"))
                @Sendable func held() async throws -> Quantity {
                    try await holder.balances(BalanceQuery(products: ["tshirt-blue-m"], location: "shop-floor")).first?
                        .quantity ?? .zero
                }
                let canLevel = Self.levelKinds.contains(backendKind)
                try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                    let base = "http://127.0.0.1:\(port)"
                    // StoreFeeder: "this bin holds 7 now".
                    let set = try await HTTPClient.shared.send(
                        .PUT, base + "/products/stocklocationinventory", body: Self.storeFeederAbsolute(7))
                    #expect(set.status == 200, "\(backendKind): \(set.text)")
                    let response = set.json?["Responses"]?.arrayValue?.first
                    if canLevel {
                        #expect(set.json?["Successful"] == 1 && set.json?["Failed"] == 0, "\(backendKind): \(set.text)")
                        #expect(
                            response?["NewStockLocationInventory"]?["Inventory"] == 7, "\(backendKind): \(set.text)")
                        let verb = backendKind == "embedded" ? "applied" : "sent"
                        let summary =
                            backendKind == "storefeeder"
                            ? "level 7 asked; sent as a level; the balance it replaced is unknown"
                            : "level 7 asked; balance 5 read; +2 \(verb)"
                        #expect(response?["StockGateLevel"] == .string(summary), "\(backendKind): \(set.text)")
                        #expect(try await held() == Quantity(7), "\(backendKind)")
                    } else {
                        #expect(set.json?["Failed"] == 1, "\(backendKind): \(set.text)")
                        #expect(
                            response?["Error"]?.stringValue?.contains("cannot read balances") == true,
                            "\(backendKind): \(set.text)")
                        #expect(try await held() == Quantity(5), "\(backendKind)")
                    }
                    let before = try await held()
                    // StockGate's API: a relative change is a movement every backend takes.
                    let change = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/levels",
                        body: #"{"levels": [{"product": "tshirt-blue-m", "location": "shop-floor", "change": -2}]}"#)
                    #expect(change.json?["applied"] == 1, "\(backendKind): \(change.text)")
                    // What was done, in words: a backend that reads or takes the level says the balance.
                    let read = ["embedded", "stockgate", "storefeeder"].contains(backendKind)
                    let said = change.json?["results"]?.arrayValue?.first?["movement"]?["level"]?["summary"]
                    let words =
                        read
                        ? "change -2 asked; balance \(before) read; -2 \(backendKind == "embedded" ? "applied" : "sent")"
                        : "change -2 asked; -2 sent"
                    #expect(said == .string(words), "\(backendKind): \(change.text)")
                    #expect(try await held() == before - Quantity(2), "\(backendKind)")
                    // Compare-and-set with a stale expectation is refused everywhere, and nothing moves.
                    let stale = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/levels",
                        body:
                            #"{"levels": [{"product": "tshirt-blue-m", "location": "shop-floor", "level": 1, "expected": 99}]}"#
                    )
                    #expect(stale.json?["failed"] == 1, "\(backendKind): \(stale.text)")
                    let field = stale.json?["results"]?.arrayValue?.first?["error"]?["field"]
                    #expect(
                        field == (canLevel ? "levels[0].expected" : "levels[0].level"), "\(backendKind): \(stale.text)")
                    #expect(try await held() == before - Quantity(2), "\(backendKind)")
                }
            }
        }
    }
}

@Suite("translate --explain for levels")
struct LevelTranslateTests {
    static let body = Array(
        #"[{"ProductIDType": {"IDType": "SKU", "Value": "sku5"}, "AdjustmentType": "AbsoluteAdjustment", "AdjustmentAmount": 7, "StockLocationID": {"IDType": "ID", "Value": "5431"}}, {"ProductIDType": {"IDType": "SKU", "Value": "sku5"}, "AdjustmentType": "RelativeAdjustment", "AdjustmentAmount": -2, "StockLocationID": {"IDType": "ID", "Value": "5431"}}]"#
            .utf8)

    func translate(to backend: DialectID) throws -> String {
        try Translator.translate(
            body: Self.body, from: "storefeeder", to: backend, method: "PUT", path: "/products/stocklocationinventory",
            catalog: demoCatalog, explain: true)
    }

    @Test("says what becomes of each level at each backend, and shows what would be sent")
    func explainLevels() throws {
        let zettle = try translate(to: "zettle")
        #expect(zettle.contains("# item 0: level 7 of mug-white at shop-floor — read, then moved"), "\(zettle)")
        #expect(zettle.contains("GET /organizations/self/inventory/locations/"), "\(zettle)")
        #expect(zettle.contains(#""change": 7"#), "\(zettle)")
        #expect(zettle.contains("# item 1: change -2 of mug-white at shop-floor — sent as a movement"), "\(zettle)")
        let open2b = try translate(to: "open2b-v6")
        #expect(open2b.contains("# item 0 refused before sending: unsupported (level)"), "\(open2b)")
        #expect(open2b.contains(#""adjustment": "-2.00""#), "\(open2b)")
        let storefeeder = try translate(to: "storefeeder")
        #expect(storefeeder.contains("PUT /products/stocklocationinventory"), "\(storefeeder)")
        #expect(storefeeder.contains(#""AdjustmentType": "AbsoluteAdjustment""#), "\(storefeeder)")
        #expect(!storefeeder.contains("create-transfers"), "\(storefeeder)")
    }
}
