import AsyncHTTPClient
import CurlHTTP
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import Operations
import StockCore
import TestSupport
import Testing

/// Unknown outcomes found and settled without opening the database (issue 17): the journal's
/// `sent` rows through the API, a gauge per backend, `Reconciler` asking a StockGate backend
/// what it recorded under each forward's request id, a person's decision recorded for the rest.
@Suite("Unknown outcomes, found and settled")
struct ReconcileTests {
    @Test(
        "a backend that applies and answers late: the row stays sent, reconcile settles it from what the backend holds")
    func reconcile() async throws {
        try await LiveGateway.run(catalog: demoCatalog) { warehouse in
            // In front of the StockGate backend: passes a request on, then answers too late for
            // the gateway (so the movement is applied there, unknown here); a request for socks
            // is never passed on at all.
            let late = FakeUpstream(relay: { request in
                if !request.body.contains("socks") {
                    var headers: [(String, String)] = [("Content-Type", "application/json")]
                    if let id = request.headers["x-request-id"] { headers.append(("X-Request-Id", id)) }
                    _ = try? await HTTPClient.shared.send(
                        HTTPMethod(rawValue: request.method), warehouse.baseURL + request.path, body: request.body,
                        headers: headers)
                }
                try? await Task.sleep(for: .seconds(3))
                return FakeUpstream.Answer(504, "")
            })
            let silent = FakeUpstream { _ in FakeUpstream.Answer(200, "{}", delay: .seconds(3)) }
            try await late.run { lateURL in
                try await silent.run { silentURL in
                    try await Self.withGateway(warehouseURL: lateURL, posURL: silentURL) { base, client in
                        try await Self.check(base: base, client: client, warehouse: warehouse)
                    }
                }
            }
        }
    }

    static func withGateway(
        warehouseURL: String, posURL: String, _ body: @Sendable (String, CurlHTTPClient) async throws -> Void
    ) async throws {
        try await LiveGateway.run(
            config: """
                backends:
                  - name: warehouse
                    dialect: stockgate
                    base_url: \(warehouseURL)
                    timeout_ms: 700
                  - name: pos
                    dialect: zettle
                    base_url: \(posURL)
                    timeout_ms: 700
                routes:
                  stockgate: warehouse
                  zettle: pos
                """
        ) { live, client in
            try await body(live.baseURL, client)
        }
    }

    static func check(base: String, client: CurlHTTPClient, warehouse: LiveGateway) async throws {
        // Three forwards whose answers never come in time: each is an unknown outcome.
        for (product, quantity) in [("tshirt-blue-m", 3), ("socks", 2)] {
            let answer = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "\#(product)", "quantity": \#(quantity), "from": "supplier", "to": "shop-floor"}]}"#
            )
            #expect(answer.status == 504, "\(answer.text)")
        }
        let zettle = try await HTTPClient.shared.send(
            .PUT, base + "/organizations/self/inventory",
            body:
                #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 1}]}"#
        )
        #expect(zettle.status == 504, "\(zettle.text)")
        // The tshirt movement did land at the warehouse (late); the socks one never arrived.
        let held = try await warehouse.ledger.balances(BalanceQuery(products: ["tshirt-blue-m", "socks"]))
        #expect(held.filter { $0.quantity != .zero }.map(\.product) == ["tshirt-blue-m"])

        // Found without the database: the API, and a gauge per backend.
        let reconciler = Reconciler(client: client, gatewayURL: base)
        let unknown = try await reconciler.rows(state: "sent")
        #expect(unknown.map(\.backend).sorted() == ["pos", "warehouse", "warehouse"], "\(unknown)")
        #expect(try await reconciler.rows(state: "sent", backend: "pos").count == 1)
        let metrics = try await HTTPClient.shared.send(.GET, base + "/metrics").text
        #expect(metrics.contains(#"stockgate_unknown_outcomes{backend="warehouse"} 2"#), "\(metrics)")
        #expect(metrics.contains(#"stockgate_unknown_outcomes{backend="pos"} 1"#), "\(metrics)")

        // Reconcile: the warehouse is asked by request id; the Zettle row waits for a person.
        let configured = try ConfigFile.parse(
            """
            backends:
              - name: warehouse
                dialect: stockgate
                base_url: \(warehouse.baseURL)
              - name: pos
                dialect: zettle
                base_url: http://127.0.0.1:9
            """)
        let report = try await reconciler.reconcile(
            backends: configured.backends.map { $0.reconcilable(client: reconciler.client) }, olderThan: .zero)
        let tshirt = try #require(unknown.first { $0.product == "tshirt-blue-m" })
        let socks = try #require(unknown.first { $0.product == "socks" })
        let pos = try #require(unknown.first { $0.backend == "pos" })
        #expect(report.applied == [tshirt.id])
        #expect(report.failed == [socks.id])
        #expect(report.undecided.map(\.row.id) == [pos.id])
        #expect(report.undecided.first?.why.contains("zettle backend cannot be asked") == true)

        // A person's decision, recorded once.
        #expect(try await reconciler.settle(id: pos.id, as: "failed").state == "failed")
        await #expect(throws: Reconciler.Failure.self) { _ = try await reconciler.settle(id: pos.id, as: "applied") }
        #expect(try await reconciler.rows(state: "sent").isEmpty)
        let settled = try await reconciler.rows()
        #expect(settled.first { $0.id == tshirt.id }?.state == "applied")
        #expect(settled.first { $0.id == socks.id }?.state == "failed")
        let after = try await HTTPClient.shared.send(.GET, base + "/metrics").text
        #expect(after.contains(#"stockgate_unknown_outcomes{backend="warehouse"} 0"#), "\(after)")
        // Only a forwarded row whose outcome is unknown can be settled.
        let refused = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/journal/\(tshirt.id)/settle", body: #"{"state": "failed"}"#)
        #expect(refused.status == 409, "\(refused.text)")
        let invalid = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/journal/\(tshirt.id)/settle", body: #"{"state": "sent"}"#)
        #expect(invalid.status == 400 && invalid.text.contains("state"), "\(invalid.text)")
    }
}
