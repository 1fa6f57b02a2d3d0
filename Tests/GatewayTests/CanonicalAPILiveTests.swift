import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import StockCore
import TestSupport
import Testing

@Suite("Canonical API over a real socket")
struct CanonicalAPILiveTests {
    @Test("moves stock and reads it back; the request id round-trips")
    func moveAndRead() async throws {
        try await LiveGateway.run { live in
            let client = HTTPClient.shared
            let health = try await client.send(.GET, live.baseURL + "/healthz")
            #expect(health.status == 200)

            let moved = try await client.send(
                .POST, live.baseURL + "/stockgate/v1/movements",
                body: """
                    {"movements": [
                      {"product": "mug-white", "quantity": 12.5, "from": "supplier", "to": "back-room", "reason": "delivery"},
                      {"product": "mug-white", "quantity": "2.25", "from": "back-room", "to": "shop-floor"}
                    ], "atomic": true}
                    """, headers: [("X-Request-Id", "test-req-1"), ("Idempotency-Key", "k-1")])
            #expect(moved.status == 200)
            #expect(moved.headers.first(name: "X-Request-Id") == "test-req-1")
            #expect(moved.json?["applied"] == 2)
            #expect(moved.json?["results"]?.arrayValue?.first?["movement"]?["quantity"] == "12.5")

            let balances = try await client.send(.GET, live.baseURL + "/stockgate/v1/balances?product=mug-white")
            #expect(balances.status == 200)
            #expect(
                balances.json == [
                    "balances": [
                        ["product": "mug-white", "location": "back-room", "quantity": "10.25"],
                        ["product": "mug-white", "location": "shop-floor", "quantity": "2.25"],
                    ]
                ])
            let one = try await client.send(
                .GET, live.baseURL + "/stockgate/v1/balances?product=mug-white&location=shop-floor")
            #expect(one.json?["balances"]?.arrayValue?.count == 1)

            let journal = try await client.send(
                .GET, live.baseURL + "/stockgate/v1/movements?product=mug-white&limit=1&after=1")
            let entry = try #require(journal.json?["movements"]?.arrayValue?.first)
            #expect(entry["id"] == 2)
            #expect(entry["dialect"] == "stockgate")
            #expect(entry["requestId"] == "test-req-1")
            #expect(entry["idempotencyKey"] == "k-1")

            let metrics = try await client.send(.GET, live.baseURL + "/metrics")
            #expect(metrics.text.contains(#"stockgate_movements_applied_total{dialect="stockgate"} 2"#))
            #expect(
                metrics.text.contains(
                    #"stockgate_http_requests_total{dialect="stockgate",route="movements.create",status="200"} 1"#))
            #expect(metrics.text.contains("stockgate_http_request_duration_seconds_bucket"))
        }
    }

    @Test("a pending transfer is confirmed through the API")
    func confirmTransfer() async throws {
        try await LiveGateway.run { live in
            let client = HTTPClient.shared
            _ = try await client.send(
                .POST, live.baseURL + "/stockgate/v1/movements",
                body: #"{"movements": [{"product": "socks", "quantity": 4, "from": "supplier", "to": "warehouse"}]}"#)
            let pending = try await client.send(
                .POST, live.baseURL + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "socks", "quantity": 3, "from": "warehouse", "to": "back-room", "pending": true}]}"#
            )
            let id = try #require(pending.json?["results"]?.arrayValue?.first?["movement"]?["id"]?.numberText)
            #expect(try await live.ledger.totalStock(product: "socks") == Quantity(4))
            #expect(try await balance(live, "socks", "back-room") == .zero)

            let confirmed = try await client.send(.POST, live.baseURL + "/stockgate/v1/transfers/\(id)/confirm")
            #expect(confirmed.status == 200)
            #expect(confirmed.json?["movement"]?["state"] == "applied")
            #expect(try await balance(live, "socks", "back-room") == Quantity(3))

            let again = try await client.send(.POST, live.baseURL + "/stockgate/v1/transfers/\(id)/confirm")
            #expect(again.status == 409)
            #expect(again.json?["error"]?["code"] == "conflict")
            let missing = try await client.send(.POST, live.baseURL + "/stockgate/v1/transfers/999/confirm")
            #expect(missing.status == 404)
        }
    }

    @Test("bad bodies get a 4xx JSON error naming the field and change nothing")
    func badBodies() async throws {
        try await LiveGateway.run { live in
            let client = HTTPClient.shared
            let cases: [(String, Int, String?)] = [
                ("not json", 400, nil),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}"#,
                    400, nil
                ),
                (#"{"movements": []}"#, 400, "movements"),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": -1, "from": "supplier", "to": "shop-floor"}]}"#,
                    400, "movements[0].quantity"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": 0, "from": "supplier", "to": "shop-floor"}]}"#,
                    400, "movements[0].quantity"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": "1e309", "from": "supplier", "to": "shop-floor"}]}"#,
                    400, "movements[0].quantity"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": true, "from": "supplier", "to": "shop-floor"}]}"#,
                    400, "movements[0].quantity"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "from": "supplier", "to": "shop-floor"}]}"#, 400,
                    "movements[0].quantity"
                ),
                (
                    #"{"movements": [{"quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#, 400,
                    "movements[0].product"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor", "colour": "red"}]}"#,
                    400, "movements[0].colour"
                ),
                (
                    #"{"movements": [{"product": "mug-white", "quantity": 1, "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#,
                    400, nil
                ),
                (
                    #"{"movements": [{"product": 5, "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#, 400,
                    "movements[0].product"
                ),
            ]
            for (body, status, field) in cases {
                let result = try await client.send(.POST, live.baseURL + "/stockgate/v1/movements", body: body)
                #expect(result.status == status, "\(body)")
                #expect(result.headers.first(name: "Content-Type")?.hasPrefix("application/json") == true)
                let error = try #require(result.json?["error"], "\(body) → \(result.text)")
                #expect(error["field"]?.stringValue == field, "\(body) → \(result.text)")
                #expect(error["message"]?.stringValue?.isEmpty == false)
            }
            // A batch whose second item names an unknown product, all-or-nothing: nothing at all.
            let atomic = try await client.send(
                .POST, live.baseURL + "/stockgate/v1/movements",
                body: """
                    {"atomic": true, "movements": [
                      {"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"},
                      {"product": "ghost", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}
                    """)
            #expect(atomic.status == 422)
            #expect(atomic.json?["results"]?.arrayValue?[1]["error"]?["field"] == "movements[1].product")
            #expect(atomic.json?["results"]?.arrayValue?[0]["status"] == "notApplied")
            let unknownFilter = try await client.send(.GET, live.baseURL + "/stockgate/v1/balances?product=ghost")
            #expect(unknownFilter.status == 404)
            let badLimit = try await client.send(.GET, live.baseURL + "/stockgate/v1/movements?limit=0")
            #expect(badLimit.status == 400)
            #expect(badLimit.json?["error"]?["field"] == "limit")

            #expect(try await live.ledger.count(MovementQuery()) == 0)
            #expect(try await live.ledger.balances(BalanceQuery()).isEmpty)
        }
    }

    @Test("16 concurrent clients × 200 random moves keep stock exactly conserved")
    func concurrentConservation() async throws {
        try await LiveGateway.run { live in
            let client = HTTPClient.shared
            let products = ["mug-white", "mug-black", "coffee-beans"]
            let stockLocations = ["shop-floor", "back-room", "warehouse"]
            // Seed every stock location so most internal moves succeed.
            for product in products {
                for location in stockLocations {
                    let seeded = try await client.send(
                        .POST, live.baseURL + "/stockgate/v1/movements",
                        body:
                            #"{"movements": [{"product": "\#(product)", "quantity": 50, "from": "supplier", "to": "\#(location)"}]}"#
                    )
                    #expect(seeded.status == 200)
                }
            }
            let all = stockLocations + ["supplier", "sold", "bin"]
            // Each client returns the net flow into tracked stock it was told succeeded, per product.
            let nets = try await withThrowingTaskGroup(of: [String: Quantity].self) { group in
                for clientIndex in 0..<16 {
                    group.addTask {
                        var generator = SeededGenerator(seed: UInt64(clientIndex + 1))
                        var net: [String: Quantity] = [:]
                        for _ in 0..<200 {
                            let product = products.randomElement(using: &generator)!
                            let from = all.randomElement(using: &generator)!
                            var to = all.randomElement(using: &generator)!
                            while to == from { to = all.randomElement(using: &generator)! }
                            let quantity = Quantity(Decimal(Int.random(in: 1...500, using: &generator)) / 100)
                            let result = try await client.send(
                                .POST, live.baseURL + "/stockgate/v1/movements",
                                body:
                                    #"{"movements": [{"product": "\#(product)", "quantity": "\#(quantity)", "from": "\#(from)", "to": "\#(to)"}]}"#
                            )
                            guard result.status == 200 else {
                                throw TestFailure("status \(result.status): \(result.text)")
                            }
                            guard result.json?["applied"] == 1 else { continue }
                            let fromTracked = stockLocations.contains(from)
                            let toTracked = stockLocations.contains(to)
                            if !fromTracked && toTracked {
                                net[product, default: .zero] = net[product, default: .zero] + quantity
                            }
                            if fromTracked && !toTracked {
                                net[product, default: .zero] = net[product, default: .zero] - quantity
                            }
                        }
                        return net
                    }
                }
                var total: [String: Quantity] = [:]
                for try await net in group {
                    for (product, quantity) in net {
                        total[product, default: .zero] = total[product, default: .zero] + quantity
                    }
                }
                return total
            }
            for product in products {
                let expected = Quantity(150) + nets[product, default: .zero]
                #expect(try await live.ledger.totalStock(product: product) == expected, "\(product)")
            }
            for balance in try await live.ledger.balances(BalanceQuery()) {
                #expect(!balance.quantity.isNegative, "\(balance)")
            }
            let applied = try await live.ledger.count(MovementQuery())
            #expect(applied > 9 && applied <= 9 + 16 * 200)
        }
    }

    @Test("a graceful shutdown lets an in-flight request finish and closes the database")
    func gracefulShutdown() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await LiveGateway.run(dataDirectory: directory) { live in
            let client = HTTPClient.shared
            let moved = try await client.send(
                .POST, live.baseURL + "/stockgate/v1/movements",
                body: #"{"movements": [{"product": "socks", "quantity": 9, "from": "supplier", "to": "warehouse"}]}"#)
            #expect(moved.status == 200)
        }
        // After the shutdown the file is closed and complete: a new ledger sees the movement.
        let reopened = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        #expect(try await reopened.totalStock(product: "socks") == Quantity(9))
        try reopened.close()
    }
}

func balance(_ live: LiveGateway, _ product: String, _ location: String) async throws -> Quantity {
    try await live.ledger.balances(BalanceQuery(products: [product], location: location)).first?.quantity ?? .zero
}
