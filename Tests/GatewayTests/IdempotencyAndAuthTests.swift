import AsyncHTTPClient
import Dialects
import Foundation
import GatewayTestSupport
import HTTPTypes
import Ledger
import NIOHTTP1
import StockCore
import Synchronization
import Testing

@testable import Gateway

@Suite("Idempotency keys")
struct IdempotencyTests {
    static let move =
        #"{"movements": [{"product": "mug-white", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#

    @Test("the same key and body get the stored answer and apply nothing; another body is refused")
    func sameKey() async throws {
        try await LiveGateway.run { live in
            let url = live.baseURL + "/stockgate/v1/movements"
            let first = try await HTTPClient.shared.send(
                .POST, url, body: Self.move, headers: [("Idempotency-Key", "k-1")])
            let again = try await HTTPClient.shared.send(
                .POST, url, body: Self.move, headers: [("Idempotency-Key", "k-1")])
            #expect(first.status == 200)
            #expect(again.status == 200)
            #expect(again.body == first.body)
            #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(try await live.ledger.totalStock(product: "mug-white") == Quantity(2))

            let other = try await HTTPClient.shared.send(
                .POST, url, body: Self.move.replacingOccurrences(of: "2", with: "3"),
                headers: [("Idempotency-Key", "k-1")])
            #expect(other.status == 409)
            #expect(other.json?["error"]?["field"] == "Idempotency-Key")
            #expect(try await live.ledger.totalStock(product: "mug-white") == Quantity(2))

            // In another dialect's envelope: Open2b's InvalidCombination.
            let body = #"{"movement": {"sku": "sku5", "adjustment": "1.00"}}"#
            let created = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v6/commerce.movements.create", body: body,
                headers: [("Idempotency-Key", "o-1")])
            let reused = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v6/commerce.movements.create",
                body: body.replacingOccurrences(of: "1.00", with: "2.00"), headers: [("Idempotency-Key", "o-1")])
            #expect(created.json?["status"] == "ok")
            #expect(reused.json?["error"]?["type"] == "InvalidCombination")
            #expect(reused.json?["error"]?["field"] == "Idempotency-Key")
        }
    }

    @Test("keys survive a restart")
    func restart() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await LiveGateway.run(dataDirectory: directory) { live in
            try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move,
                headers: [("Idempotency-Key", "k-restart")])
        }
        try await LiveGateway.run(dataDirectory: directory) { live in
            let again = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move,
                headers: [("Idempotency-Key", "k-restart")])
            #expect(again.body == first.body)
            #expect(try await live.ledger.totalStock(product: "mug-white") == Quantity(2))
        }
    }

    @Test("keys expire after the configured time")
    func expiry() async throws {
        let now = Mutex(Date())
        try await LiveGateway.run(idempotencyTTL: 3600, clock: { now.withLock { $0 } }) { live in
            let url = live.baseURL + "/api/v2/public/stores/1001/storeproductlocation/movement"
            let body =
                #"[{"product_number": "sku5", "quantity": 1, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
            _ = try await HTTPClient.shared.send(.POST, url, body: body, headers: [("Idempotency-Key", "short")])
            now.withLock { $0 = $0.addingTimeInterval(3599) }
            let within = try await HTTPClient.shared.send(
                .POST, url, body: body.replacingOccurrences(of: "1,", with: "5,"),
                headers: [("Idempotency-Key", "short")])
            #expect(within.status == 409, "\(within.text)")  // another request under a key still kept
            now.withLock { $0 = $0.addingTimeInterval(2) }
            let later = try await HTTPClient.shared.send(
                .POST, url, body: body.replacingOccurrences(of: "1,", with: "5,"),
                headers: [("Idempotency-Key", "short")])
            #expect(later.status == 200, "\(later.text)")
            #expect(try await live.ledger.totalStock(product: "mug-white") == Quantity(6))
        }
    }
}

@Suite("Client credentials")
struct ClientAuthTests {
    static let clients = ClientAuthenticator(clients: [
        .init(name: "webshop", secret: Secret("shop-key-123"), dialects: ["open2b-v6"]),
        .init(name: "everything", secret: Secret("all-access-token"), dialects: Set(DialectRegistry.ids)),
    ])

    @Test("constant-time comparison compares whole values")
    func comparison() {
        #expect(ClientAuthenticator.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ClientAuthenticator.constantTimeEquals([], Array("a".utf8)))
    }

    @Test("failures are answered the way each vendor does")
    func vendorAnswers() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let base = live.baseURL
            let open2b = try await HTTPClient.shared.send(.POST, base + "/api/v6/commerce.movements.count", body: "{}")
            #expect(open2b.status == 403)
            #expect(open2b.json == nil)  // not JSON, as Open2b
            let storefeeder = try await HTTPClient.shared.send(
                .POST, base + "/stocklocations/create-transfers", body: "[]",
                headers: [("Authorization", "Bearer wrong")])
            #expect(storefeeder.status == 401)
            #expect(storefeeder.json?["Message"] == "Authorization has been denied for this request.")
            let zettle = try await HTTPClient.shared.send(.GET, base + "/organizations/self/locations")
            #expect(zettle.status == 401)
            #expect(zettle.json?["error"] == "invalid_token")
            let colleqtive = try await HTTPClient.shared.send(.GET, base + "/api/v2/public/stores")
            #expect(colleqtive.status == 401)
            #expect(colleqtive.json?["success"] == false)
            let stockgate = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/balances")
            #expect(stockgate.status == 401)
        }
    }

    @Test("a client is let into its dialects only")
    func dialects() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let base = live.baseURL
            let allowed = try await HTTPClient.shared.send(
                .POST, base + "/api/v6/commerce.movements.count", body: "{}", headers: [("X-Key", "shop-key-123")])
            #expect(allowed.json?["status"] == "ok")
            let viaBearer = try await HTTPClient.shared.send(
                .POST, base + "/api/v6/commerce.movements.count", body: "{}",
                headers: [("Authorization", "Bearer shop-key-123")])
            #expect(viaBearer.json?["status"] == "ok")
            let otherDialect = try await HTTPClient.shared.send(
                .GET, base + "/stockgate/v1/balances", headers: [("Authorization", "Bearer shop-key-123")])
            #expect(otherDialect.status == 403)
            let everything = try await HTTPClient.shared.send(
                .GET, base + "/stockgate/v1/balances", headers: [("Authorization", "Bearer all-access-token")])
            #expect(everything.status == 200)
            let health = try await HTTPClient.shared.send(.GET, base + "/healthz")
            #expect(health.status == 200)
        }
    }
}
