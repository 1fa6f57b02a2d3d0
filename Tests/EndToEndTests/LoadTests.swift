import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import StockCore
import TestSupport
import Testing

/// 32 concurrent clients over mixed dialects, against the embedded ledger and against a
/// remote backend (a second StockGate speaking StoreFeeder): no 5xx, stock conserved
/// exactly, every success in the journal.
@Suite("Load")
struct LoadTests {
    static let requestsPerClient = 40

    /// A restock (in) or a sale (out) of one unit of mug-black, in a dialect.
    static func request(_ dialect: String, inbound: Bool) -> (HTTPMethod, String, String) {
        switch dialect {
        case "stockgate":
            let (from, to) = inbound ? ("supplier", "shop-floor") : ("shop-floor", "sold")
            return (
                .POST, "/stockgate/v1/movements",
                #"{"movements": [{"product": "mug-black", "quantity": 1, "from": "\#(from)", "to": "\#(to)"}]}"#
            )
        case "colleqtive":
            let (from, to) = inbound ? ("INBOUND", "SHOPFLOOR") : ("SHOPFLOOR", "SOLD")
            return (
                .POST, "/api/v2/public/stores/1001/storeproductlocation/movement",
                #"[{"product_number": "100300", "quantity": 1, "from_location": {"location_code": "\#(from)"}, "to_location": {"location_code": "\#(to)"}}]"#
            )
        case "storefeeder":
            let (from, to) =
                inbound
                ? (
                    #"{"IDType": "StockLocationReference", "Value": "Unspecified"}"#,
                    #"{"IDType": "ID", "Value": "5431"}"#
                )
                : (
                    #"{"IDType": "ID", "Value": "5431"}"#,
                    #"{"IDType": "StockLocationReference", "Value": "Unspecified"}"#
                )
            return (
                .POST, "/stocklocations/create-transfers",
                #"[{"ProductIDType": {"IDType": "SKU", "Value": "A927TP"}, "StockLocationFrom": \#(from), "StockLocationTo": \#(to), "TransferAmount": 1, "ImmediateTransfer": true}]"#
            )
        case "open2b-v6":
            return (
                .POST, "/api/v6/commerce.movements.create",
                #"{"movement": {"sku": "A927TP", "adjustment": "\#(inbound ? "1.00" : "-1.00")"}}"#
            )
        default:
            let (from, to) =
                inbound
                ? ("c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "89ac1e4a-5f0f-11ec-bf63-0242ac130002")
                : ("89ac1e4a-5f0f-11ec-bf63-0242ac130002", "92646e02-5f0f-11ec-bf63-0242ac130002")
            return (
                .PUT, "/organizations/self/inventory",
                #"{"changes": [{"productUuid": "3cc3b9f6-623b-11ec-90d6-0242ac120003", "variantUuid": "45900c4c-623b-11ec-90d6-0242ac120003", "fromLocationUuid": "\#(from)", "toLocationUuid": "\#(to)", "change": 1}]}"#
            )
        }
    }

    static func succeeded(_ dialect: String, _ result: HTTPResult) -> Bool {
        switch dialect {
        case "stockgate": return result.json?["applied"] == 1
        case "colleqtive": return result.json?["success"] == true
        case "storefeeder": return result.json?["Successful"] == 1
        case "open2b-v6": return result.json?["status"] == "ok"
        default: return result.status == 200
        }
    }

    /// Runs the load against `base`; returns the net change it was told succeeded, and how many succeeded.
    static func load(_ base: String) async throws -> (net: Int, successes: Int) {
        let dialects = ["stockgate", "colleqtive", "storefeeder", "open2b-v6", "zettle"]
        return try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for client in 0..<32 {
                group.addTask {
                    var generator = SeededGenerator(seed: UInt64(client + 100))
                    var net = 0
                    var successes = 0
                    for index in 0..<requestsPerClient {
                        let dialect = dialects[(client + index) % dialects.count]
                        let inbound = Bool.random(using: &generator) || index < 4
                        let (method, path, body) = request(dialect, inbound: inbound)
                        let result = try await HTTPClient.shared.send(method, base + path, body: body)
                        guard result.status < 500 else {
                            throw TestFailure("\(dialect): \(result.status) \(result.text)")
                        }
                        if succeeded(dialect, result) {
                            net += inbound ? 1 : -1
                            successes += 1
                        }
                    }
                    return (net, successes)
                }
            }
            return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
    }

    @Test("against the embedded ledger")
    func embedded() async throws {
        try await LiveGateway.run { live in
            let (net, successes) = try await Self.load(live.baseURL)
            #expect(successes > 32 * Self.requestsPerClient / 2)
            #expect(try await live.ledger.totalStock(product: "mug-black") == Quantity(net))
            #expect(try await live.ledger.count(MovementQuery()) == successes)
        }
    }

    @Test("against a remote backend")
    func remote() async throws {
        try await LiveGateway.run { second in
            let client = CurlHTTPClient(configuration: .init(timeout: .seconds(20)))
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let journal = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
            defer { try? journal.close() }
            let backend = RemoteBackend(
                name: "second", baseURL: second.baseURL, codec: StoreFeederOutbound(), client: client, auth: .none,
                catalog: demoCatalog, journal: journal, logger: quietLogger)
            let gateway = Gateway(
                configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                backend: backend, logger: quietLogger, idempotencyStore: journal)
            let (net, successes) = try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                try await Self.load("http://127.0.0.1:\(port)")
            }
            await client.shutdown()
            #expect(successes > 32 * Self.requestsPerClient / 2)
            #expect(try await second.ledger.totalStock(product: "mug-black") == Quantity(net))
            var forwarded = MovementQuery(appliedOnly: true)
            forwarded.backend = "second"
            #expect(try await journal.count(forwarded) == successes)
            #expect(try await second.ledger.count(MovementQuery()) == successes)
        }
    }
}
