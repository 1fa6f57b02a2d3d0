import AsyncHTTPClient
import CurlHTTP
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

@testable import Gateway
@testable import Simulator

/// Issue 32, "a reset that resets": the test reset emptied the ledger but kept Zettle tracking
/// and used idempotency keys, so the documented quick start failed cases on a fresh server and
/// more on every later run. Now it resets everything a case can observe.
@Suite("The test reset")
struct TestResetTests {
    @Test("after a reset: no movements, ids from 1, keys unused, every product tracked, no faults, no subscriptions")
    func resetsEverything() async throws {
        let client = CurlHTTPClient()
        let hub = PusherHub(client: client, logger: quietLogger)
        try await LiveGateway.run(faults: FaultSchedule(), pusher: hub, testReset: true) { live in
            let base = live.baseURL
            let ledger = live.ledger
            func move(_ quantity: Int) async throws -> HTTPResult {
                try await HTTPClient.shared.send(
                    .POST, base + "/stockgate/v1/movements",
                    body:
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": \#(quantity), "from": "supplier", "to": "shop-floor"}]}"#,
                    headers: [("Idempotency-Key", "case-key")])
            }
            #expect(try await move(1).status == 200)
            let untracked = try await HTTPClient.shared.send(
                .DELETE, base + "/organizations/self/inventory/products/65314d7e-5f0f-11ec-bf63-0242ac130002")
            #expect(untracked.status < 300, "\(untracked.text)")
            #expect(try await ledger.untrackedProducts().isEmpty == false)
            let fault = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/test/faults",
                body: #"{"kind": "unavailable", "match": {"dialect": "zettle"}}"#)
            #expect(fault.status < 300, "\(fault.text)")
            let subscribed = try await HTTPClient.shared.send(
                .POST, base + "/organizations/self/subscriptions",
                body: PusherTests.subscription(
                    uuid: "6c8c9a1e-5f0f-41ec-bf63-024200000000", destination: "https://hooks.example.com/in"))
            #expect(subscribed.status == 200, "\(subscribed.text)")

            let reset = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/test/reset")
            #expect(reset.status == 200, "\(reset.text)")

            #expect(try await ledger.count(MovementQuery()) == 0)
            #expect(try await ledger.untrackedProducts().isEmpty, "every product tracked again")
            let faults = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/test/faults")
            #expect(faults.json?["faults"]?.arrayValue?.isEmpty == true, "\(faults.text)")
            #expect(hub.all.isEmpty)
            // The key is unused again: another request under it is applied, not refused 409.
            let again = try await move(2)
            #expect(again.status == 200, "\(again.text)")
            #expect(again.json?["results"]?.arrayValue?.first?["movement"]?["id"] == 1, "ids from 1: \(again.text)")
        }
        await client.shutdown()
    }
}
