import AsyncHTTPClient
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// Zettle Inventory V3 (`zettle-v3`): as PayPal's own POS integration calls it (inbound), and
/// StockGate calling a backend that answers as the vendor documents (outbound).
@Suite("Zettle Inventory V3")
struct ZettleV3Tests {
    static let store = "89ac1e4a-5f0f-11ec-bf63-0242ac130002"
    static let tshirt = "65314d7e-5f0f-11ec-bf63-0242ac130002"
    static let tshirtM = "78194842-5f0f-11ec-bf63-0242ac130002"
    static let integration = "947d712a-892d-11ea-bc55-0242ac130003"

    /// The calls of inpsyde/paypal-point-of-sale (`paypal-pos-php-sdk/src/API/Inventory/{Inventory,Locations}.php`)
    /// in the order its `InventoryTrackingTest` makes them, parsed the way its builders parse
    /// the answers (`builders.array.php`: `inventoryType` indexes the inventories; a stock row's
    /// `inventoryUuid`, `productUuid`, `variantUuid` and `(int) balance`).
    @Test("PayPal's V3 flow: inventories by type, start tracking, supply, purchase, the product's stock, stop tracking")
    func paypalFlow() async throws {
        try await LiveGateway.run { live in
            let base = live.baseURL
            // Locations::all(): GET /v3/inventories, indexed by inventoryType.
            let listed = try await HTTPClient.shared.send(.GET, base + "/v3/inventories")
            #expect(listed.status == 200)
            var byType: [String: String] = [:]
            for entry in listed.json?.arrayValue ?? [] {
                guard let type = entry["inventoryType"]?.stringValue, let uuid = entry["inventoryUuid"]?.stringValue,
                    entry["name"]?.stringValue != nil
                else { Issue.record("an inventory PayPal's builder cannot build: \(entry)"); continue }
                byType[type] = uuid
            }
            #expect(Set(byType.keys) == ["STORE", "SUPPLIER", "SOLD", "BIN"])
            let store = try #require(byType["STORE"]), supplier = try #require(byType["SUPPLIER"]),
                sold = try #require(byType["SOLD"])

            // startTracking(): POST /v3/products [{productUuid, tracking: enable}].
            let tracking = try await HTTPClient.shared.send(
                .POST, base + "/v3/products", body: #"[{"productUuid": "\#(Self.tshirt)", "tracking": "enable"}]"#)
            #expect(tracking.status == 204)

            // supply(10), then purchase(10): POST /v3/movements with the integration UUID as identifier.
            func move(_ from: String, _ to: String, _ change: Int) async throws -> HTTPResult {
                try await HTTPClient.shared.send(
                    .POST, base + "/v3/movements",
                    body:
                        #"{"movements": [{"productUuid": "\#(Self.tshirt)", "variantUuid": "\#(Self.tshirtM)", "from": "\#(from)", "to": "\#(to)", "change": \#(change)}], "identifier": "\#(Self.integration)"}"#
                )
            }
            let supplied = try await move(supplier, store, 10)
            #expect(supplied.status == 204 && supplied.body.isEmpty, "\(supplied.text)")
            let sold1 = try await move(store, sold, 3)
            #expect(sold1.status == 204)
            let sold2 = try await move(store, sold, 3)  // the same body again: a second sale, applied
            #expect(sold2.status == 204)

            // productInventory(): GET /v3/stock/{STORE uuid}/products/{productUuid}.
            let stock = try await HTTPClient.shared.send(.GET, base + "/v3/stock/\(store)/products/\(Self.tshirt)")
            #expect(stock.status == 200)
            var balances: [String: Int] = [:]
            for row in stock.json?.arrayValue ?? [] {
                #expect(row["inventoryUuid"]?.stringValue == store)
                #expect(row["productUuid"]?.stringValue == Self.tshirt)
                guard let variant = row["variantUuid"]?.stringValue,
                    let balance = row["balance"]?.numberText.flatMap({ Int($0) })
                else { Issue.record("a row PayPal's builder cannot build: \(row)"); continue }
                balances[variant] = balance
            }
            #expect(balances[Self.tshirtM] == 4)
            #expect(try await live.ledger.totalStock(product: "tshirt-blue-m") == Quantity(4))
            // The identifier is kept on every movement as a correlation id.
            let journal = try await live.ledger.movements(MovementQuery())
            #expect(journal.count == 3 && journal.allSatisfy { $0.externalID == Self.integration })

            // stopTracking().
            let stopped = try await HTTPClient.shared.send(
                .POST, base + "/v3/products", body: #"[{"productUuid": "\#(Self.tshirt)", "tracking": "disable"}]"#)
            #expect(stopped.status == 204)
        }
    }

    @Test("GET /v3/stock pages: following the Link header until there is none reads every row once")
    func pagingFollowsLink() async throws {
        try await LiveGateway.run { live in
            for product in ["tshirt-blue-m", "tshirt-blue-l", "mug-white", "mug-black"] {
                let restock =
                    #"{"movements": [{"product": "\#(product)", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#
                _ = try await HTTPClient.shared.send(.POST, live.baseURL + "/stockgate/v1/movements", body: restock)
            }
            var url: String? = live.baseURL + "/v3/stock?limit=1"
            var variants: [String] = []
            var pages = 0
            while let next = url, pages < 10 {
                let page = try await HTTPClient.shared.send(.GET, next)
                #expect(page.status == 200)
                variants += (page.json?.arrayValue ?? []).compactMap { $0["variantUuid"]?.stringValue }
                pages += 1
                url = page.headers.first(name: "Link").flatMap { LinkHeader.next($0) }
            }
            #expect(pages == 4)
            #expect(variants.count == 4 && Set(variants).count == 4)
        }
    }

    static let canonicalMove =
        #"{"movements": [{"product": "tshirt-blue-m", "quantity": 2, "from": "supplier", "to": "shop-floor", "externalId": "947d712a-892d-11ea-bc55-0242ac130003"}]}"#

    @Test("to a V3 backend: POST /v3/movements answered 204 is applied; the vendor's error envelope is a refusal")
    func outboundMoves() async throws {
        let refuse = Atomic<Bool>(false)
        let upstream = FakeUpstream { _ in
            refuse.load(ordering: .relaxed)
                ? (
                    400,
                    #"{"developerMessage": "Variant not tracked", "errorType": "PRODUCT_NOT_TRACKED", "violations": []}"#
                )
                : (204, "")
        }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("stockgate", to: "zettle-v3", base: base) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                let applied = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalMove)
                #expect(applied.status == 200, "\(applied.text)")
                #expect(applied.json?["applied"] == 1)
                let sent = try #require(upstream.requests.first)
                #expect(sent.method == "POST" && sent.path == "/v3/movements")
                let body = try JSONParser.parse(Array(sent.body.utf8))
                let movement = body["movements"]?.arrayValue?.first
                #expect(movement?["productUuid"]?.stringValue == Self.tshirt)
                #expect(movement?["variantUuid"]?.stringValue == Self.tshirtM)
                #expect(movement?["from"]?.stringValue == "c1a0b7e2-5f0f-11ec-bf63-0242ac130002")
                #expect(movement?["to"]?.stringValue == Self.store)
                #expect(movement?["change"]?.numberText == "2")
                #expect(body["identifier"]?.stringValue == Self.integration)

                refuse.store(true, ordering: .relaxed)
                let refused = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalMove)
                #expect(refused.json?["failed"] == 1, "\(refused.text)")
                #expect(refused.text.contains("Variant not tracked"))
                // Issue 33: the failed journal row keeps why (the API, `stockgate journal`, the page).
                let journal = try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/stockgate/v1/movements?backend=*&state=failed")
                let rows = journal.json?["movements"]?.arrayValue ?? []
                #expect(rows.count == 1, "\(journal.text)")
                #expect(
                    rows.first?["failure"]?.stringValue?.contains("Variant not tracked") == true, "\(journal.text)")
            }
        }
    }

    /// Issue 31: the V3 API refuses a movement over 100,000 (PayPal's integration caps each one,
    /// inpsyde/paypal-point-of-sale SyncStockJob.php); a larger one goes as several movements of
    /// one request, which V3 applies all or nothing. Exact to the last decimal.
    @Test("to a V3 backend: a movement over 100,000 goes as parts of at most 100,000 in one request")
    func outboundSplitsLargeMovements() async throws {
        let upstream = FakeUpstream { _ in (204, "") }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("stockgate", to: "zettle-v3", base: base) { live in
                let applied = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/stockgate/v1/movements",
                    body:
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": "250000.5", "from": "supplier", "to": "shop-floor"}, {"product": "tshirt-blue-m", "quantity": "100000", "from": "shop-floor", "to": "sold"}], "atomic": true}"#
                )
                #expect(applied.json?["applied"] == 2, "\(applied.text)")
                #expect(upstream.requests.count == 1)
                let sent = try #require(upstream.requests.first)
                let movements = try JSONParser.parse(Array(sent.body.utf8))["movements"]?.arrayValue ?? []
                #expect(movements.compactMap { $0["change"]?.numberText } == ["100000", "100000", "50000.5", "100000"])
                #expect(
                    movements.map { $0["to"]?.stringValue } == [
                        Self.store, Self.store, Self.store, "92646e02-5f0f-11ec-bf63-0242ac130002",
                    ])
                // One movement each in the answer and the journal, as the caller sent them.
                let quantities = applied.json?["results"]?.arrayValue?.compactMap {
                    $0["movement"]?["quantity"]?.stringValue
                }
                #expect(quantities == ["250000.5", "100000"])
            }
        }
    }

    @Test(
        "to a V3 backend: a movement that would need more parts than one request holds is refused at once, nothing sent (the split was quantity ÷ 100,000 steps)"
    )
    func outboundRefusesTooManyParts() async throws {
        let upstream = FakeUpstream { _ in (204, "") }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("stockgate", to: "zettle-v3", base: base) { live in
                let started = ContinuousClock.now
                // The largest quantity the decoders take: 10¹³ parts before.
                let huge = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/stockgate/v1/movements",
                    body:
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": "999999999999999999", "from": "supplier", "to": "shop-floor"}]}"#
                )
                #expect(ContinuousClock.now - started < .seconds(5))
                let error = huge.json?["results"]?.arrayValue?.first?["error"]
                #expect(error?["field"] == "movements[0].quantity", "\(huge.text)")
                #expect(error?["message"]?.stringValue?.contains("at most 1000 movements") == true, "\(huge.text)")
                // Two movements that fit alone but not together (600 parts each).
                let together = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/stockgate/v1/movements",
                    body:
                        #"{"atomic": true, "movements": [{"product": "tshirt-blue-m", "quantity": "60000000", "from": "supplier", "to": "shop-floor"}, {"product": "tshirt-blue-l", "quantity": "60000000", "from": "supplier", "to": "shop-floor"}]}"#
                )
                #expect(together.status == 422, "\(together.text)")
                #expect(together.text.contains("these need 1200"), "\(together.text)")
                #expect(upstream.requests.isEmpty)
            }
        }
    }

    @Test(
        "to a V3 backend: 429 with Retry-After is waited for and retried (not processed), then applied once; the wait is on the backend's clock"
    )
    func outboundRateLimit() async throws {
        let calls = Atomic<Int>(0)
        let upstream = FakeUpstream(extraHeaders: { _ in
            calls.load(ordering: .relaxed) == 1 ? ["Retry-After": "1"] : [:]
        }) { _ in
            calls.wrappingAdd(1, ordering: .relaxed).newValue == 1
                ? (429, #"{"developerMessage": "Too many requests", "errorType": "RATE_LIMITED", "violations": []}"#)
                : (204, "")
        }
        let time = ManualClock()
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "zettle-v3", base: base, timeout: .seconds(5), clock: time.clock
            ) { live in
                let answer = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/stockgate/v1/movements", body: Self.canonicalMove)
                #expect(answer.json?["applied"] == 1, "\(answer.text)")
                #expect(upstream.requests.count == 2)
                #expect(time.slept == [.seconds(1)])  // as long as the vendor's Retry-After asked
            }
        }
    }

    @Test(
        "from a V3 backend: balances read page after page; a Link to another host is followed only as a path on this backend"
    )
    func outboundBalancePages() async throws {
        let upstream = FakeUpstream(extraHeaders: { request in
            request.path.contains("cursor=")
                ? [:] : ["Link": "<http://evil.example/v3/stock/\(Self.store)?cursor=p2&limit=1000>; rel=\"next\""]
        }) { request in
            let row: String
            if request.path.contains("cursor=p2") {
                row =
                    #"{"inventoryUuid": "\#(Self.store)", "productUuid": "3cc3b9f6-623b-11ec-90d6-0242ac120003", "variantUuid": "4066f6cc-623b-11ec-90d6-0242ac120003", "balance": 7}"#
            } else {
                row =
                    #"{"inventoryUuid": "\#(Self.store)", "productUuid": "\#(Self.tshirt)", "variantUuid": "\#(Self.tshirtM)", "balance": 42}"#
            }
            return (200, "[\(row)]")
        }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("zettle", to: "zettle-v3", base: base) { live in
                let answer = try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/organizations/self/inventory/locations/\(Self.store)")
                #expect(answer.status == 200, "\(answer.text)")
                let balances = Dictionary(
                    uniqueKeysWithValues: (answer.json?["variants"]?.arrayValue ?? []).compactMap {
                        row -> (String, String)? in
                        guard let variant = row["variantUuid"]?.stringValue, let balance = row["balance"]?.stringValue
                        else { return nil }
                        return (variant, balance)
                    })
                #expect(balances == [Self.tshirtM: "42", "4066f6cc-623b-11ec-90d6-0242ac120003": "7"])
                let paths = upstream.requests.map(\.path)
                #expect(
                    paths == ["/v3/stock/\(Self.store)?limit=1000", "/v3/stock/\(Self.store)?cursor=p2&limit=1000"])
            }
        }
    }

    @Test("Link headers: the next target, and only a path taken from it")
    func linkHeader() {
        #expect(
            LinkHeader.next(#"<https://inventory.izettle.com/v3/stock?cursor=81f6&limit=100>; rel="next""#)
                == "https://inventory.izettle.com/v3/stock?cursor=81f6&limit=100")
        #expect(
            LinkHeader.next(#"<https://a/prev>; rel="prev", <https://a/v3/stock/x?cursor=2>; rel="next""#)
                == "https://a/v3/stock/x?cursor=2")
        #expect(LinkHeader.next(#"<https://a/x>; rel="prev""#) == nil)
        #expect(LinkHeader.pathAndQuery("https://evil.example/v3/stock/a?cursor=1") == "/v3/stock/a?cursor=1")
        #expect(LinkHeader.pathAndQuery("/v3/stock/a?cursor=1#frag") == "/v3/stock/a?cursor=1")
        #expect(LinkHeader.pathAndQuery("//evil.example/v3") == nil)
        #expect(LinkHeader.pathAndQuery("/v3/stock/a\r\nX-Injected: 1") == nil)
        let codec = ZettleV3Outbound()
        #expect(
            codec.nextBalanceRequest(
                after: OutboundResponse(status: 200, body: [], link: "</v3/stock/../admin>; rel=\"next\"")) == nil)
        #expect(
            codec.nextBalanceRequest(after: OutboundResponse(status: 200, body: [], link: "</admin>; rel=\"next\""))
                == nil)
    }
}
