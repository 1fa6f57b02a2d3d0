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

/// Every inbound dialect against every backend kind: a client moves stock through a gateway
/// whose backend is a second StockGate on loopback answering in dialect B from its embedded
/// ledger; the second one's balances change exactly as asked, and an error raised there (a
/// product its catalog lacks) reaches the client in the inbound dialect's envelope.
@Suite("Any dialect in, any dialect out")
struct MatrixTests {
    /// Every dialect of the registry, in and out: a dialect added there joins the matrix.
    static let backendKinds = ["embedded"] + DialectRegistry.names
    static let inbound = DialectRegistry.ids

    /// The second StockGate does not know this product; the gateway does.
    static let unknownThere = "tshirt-blue-l"

    static var backendCatalog: Catalog {
        demoCatalog.filtered(products: { $0.key != unknownThere })
    }

    /// A restock of `quantity` of `product` from an untracked source into the shop floor, in `dialect`.
    static func restock(_ dialect: DialectID, product key: String, quantity: Int) -> (HTTPMethod, String, String)? {
        let product = demoCatalog.product(key: key)!
        switch dialect {
        case "stockgate":
            return (
                .POST, "/stockgate/v1/movements",
                #"{"movements": [{"product": "\#(key)", "quantity": \#(quantity), "from": "supplier", "to": "shop-floor"}]}"#
            )
        case "colleqtive":
            return (
                .POST, "/api/v2/public/stores/1001/storeproductlocation/movement?AppUserName=matrix",
                #"[{"product_number": "\#(product.effectiveColleqtiveNumber)", "quantity": \#(quantity), "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
            )
        case "storefeeder":
            return (
                .POST, "/stocklocations/create-transfers",
                #"[{"ProductIDType": {"IDType": "SKU", "Value": "\#(product.sku!)"}, "StockLocationFrom": {"IDType": "StockLocationReference", "Value": "Unspecified"}, "StockLocationTo": {"IDType": "ID", "Value": "5431"}, "TransferAmount": \#(quantity), "ImmediateTransfer": true}]"#
            )
        case "open2b-v6", "open2b-v3":
            let prefix = dialect == "open2b-v6" ? "/api/v6" : "/open2b/api/v3"
            return (
                .POST, prefix + "/commerce.movements.create",
                #"{"movement": {"sku": "\#(product.sku!)", "adjustment": "\#(quantity).00", "description": "matrix"}}"#
            )
        case "zettle":
            return (
                .PUT, "/organizations/self/inventory",
                #"{"changes": [{"productUuid": "\#(product.zettleProductUUID!)", "variantUuid": "\#(product.zettleVariantUUID!)", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": \#(quantity)}]}"#
            )
        case "zettle-v3":
            return (
                .POST, "/v3/movements",
                #"{"movements": [{"productUuid": "\#(product.zettleProductUUID!)", "variantUuid": "\#(product.zettleVariantUUID!)", "from": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "to": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": \#(quantity)}], "identifier": "947d712a-892d-11ea-bc55-0242ac130003"}"#
            )
        default:
            return nil  // a dialect added to the registry without its request here fails the test
        }
    }

    /// Whether the answer says the movement was applied (true), refused (false), or neither (nil).
    static func applied(_ dialect: DialectID, _ result: HTTPResult) -> Bool? {
        let json = result.json
        switch dialect {
        case "stockgate":
            if json?["applied"] == 1 { return true }
            if json?["failed"] == 1 || json?["error"] != nil { return false }
        case "colleqtive":
            if result.status == 200 && json?["success"] == true { return true }
            if result.status >= 400 && json?["success"] == false { return false }
        case "storefeeder":
            let item = json?["Responses"]?.arrayValue?.first
            if item?["Success"] == true { return true }
            if item?["Success"] == false && item?["Error"]?.stringValue?.isEmpty == false { return false }
        case "open2b-v6", "open2b-v3":
            if json?["status"] == "ok" { return true }
            if json?["status"] == "error" && json?["error"]?["description"]?.stringValue?.isEmpty == false {
                return false
            }
        case "zettle-v3":
            // 204 No Content (developer.zettle.com, "Update inventory balance").
            if result.status == 204 && result.body.isEmpty { return true }
            if result.status >= 400 && json?["developerMessage"]?.stringValue?.isEmpty == false { return false }
        default:
            if result.status == 200 && json?["variants"] != nil { return true }
            if result.status >= 400 && json?["developerMessage"]?.stringValue?.isEmpty == false { return false }
        }
        return nil
    }

    /// A gateway, not yet running, whose backend is `backendKind` — its own ledger, or `second`
    /// over loopback in that dialect — and the ledger that holds the stock there, for `body`.
    static func withGateway<T: Sendable>(
        to backendKind: String, second: LiveGateway, _ body: @Sendable (Gateway, Ledger) async throws -> T
    ) async throws -> T {
        try await withCurlClient(.init(timeout: .seconds(10))) { client in
            try await withTemporaryLedger { directory, ledger in
                let backend: any StockBackend
                if backendKind == "embedded" {
                    backend = ledger
                } else {
                    let codec = try #require(
                        Backends.codec(dialect: DialectID(backendKind), parameters: BackendParameters()))
                    backend = RemoteBackend(
                        name: "second", baseURL: second.baseURL, codec: codec, client: client, auth: .none,
                        catalog: demoCatalog, journal: ledger, logger: quietLogger)
                }
                let gateway = Gateway(
                    configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                    backend: backend, logger: quietLogger)
                // Where the stock lands: the second StockGate, or the gateway's own ledger.
                return try await body(gateway, backendKind == "embedded" ? ledger : second.ledger)
            }
        }
    }

    @Test("inbound × backend", arguments: backendKinds)
    func matrix(_ backendKind: String) async throws {
        try await LiveGateway.run(catalog: Self.backendCatalog) { second in
            try await MatrixTests.withGateway(to: backendKind, second: second) { gateway, holder in
                try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                    let base = "http://127.0.0.1:\(port)"
                    var expected = Quantity.zero
                    for (index, dialect) in Self.inbound.enumerated() {
                        let quantity = index + 1
                        let (method, path, body) = try #require(
                            Self.restock(dialect, product: "tshirt-blue-m", quantity: quantity))
                        let result = try await HTTPClient.shared.send(method, base + path, body: body)
                        #expect(
                            Self.applied(dialect, result) == true,
                            "\(dialect) → \(backendKind): \(result.status) \(result.text)")
                        expected = expected + Quantity(quantity)
                        let held = try await holder.balances(
                            BalanceQuery(products: ["tshirt-blue-m"], location: "shop-floor"))
                        #expect(held.first?.quantity == expected, "\(dialect) → \(backendKind)")

                        if backendKind != "embedded" {
                            let (method, path, body) = try #require(
                                Self.restock(dialect, product: Self.unknownThere, quantity: 1))
                            let refused = try await HTTPClient.shared.send(method, base + path, body: body)
                            #expect(
                                Self.applied(dialect, refused) == false,
                                "\(dialect) → \(backendKind): \(refused.status) \(refused.text)")
                            #expect(refused.status < 500, "\(dialect) → \(backendKind): \(refused.text)")
                        }
                    }
                    // Nothing else moved at the second StockGate.
                    let everything = try await holder.balances(BalanceQuery(includeZero: false))
                    #expect(everything.map(\.product) == ["tshirt-blue-m"], "\(everything)")
                }
            }
        }
    }
}
