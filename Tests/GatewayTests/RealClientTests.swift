import AsyncHTTPClient
import Gateway
import Foundation
import StockCore
import Testing

/// StockGate driven the way the production Zettle clients call it, with bodies shaped exactly as
/// they send them and answers checked the way they parse them.
///
/// Shopware's POS module (shopware/SwagPayPal): `src/Pos/Api/PosRequestUri.php` (paths with a
/// trailing slash), `src/Pos/Api/Inventory/{BulkChanges,Status,Location}.php` and
/// `Status/Variant.php` (`PosStruct::assign` calls typed setters under `strict_types=1`, so a
/// field must have exactly the JSON type its setter takes: `setBalance(string)`,
/// `setDefault(bool)`), fixtures under `tests/Pos/Mock/Client/_fixtures/`.
@Suite("Real clients: Shopware's Zettle calls")
struct RealClientTests {
    static let store = "89ac1e4a-5f0f-11ec-bf63-0242ac130002"
    static let supplier = "c1a0b7e2-5f0f-11ec-bf63-0242ac130002"
    static let bin = "d4c2e9f0-5f0f-11ec-bf63-0242ac130002"
    static let mugProduct = "3cc3b9f6-623b-11ec-90d6-0242ac120003"
    static let mugWhite = "4066f6cc-623b-11ec-90d6-0242ac120003"

    /// Shopware's BulkChanges as `jsonSerialize` writes it: every property, the product UUID
    /// repeated in each variant change, `returnBalanceForLocationUuid` null when unset.
    static func bulk(returnBalance: String?, tracking: String, from: String, to: String, change: Int) -> String {
        let returned = returnBalance.map { "\"\($0)\"" } ?? "null"
        return #"{"returnBalanceForLocationUuid": \#(returned), "productChanges": [{"productUuid": "\#(mugProduct)", "trackingStatusChange": "\#(tracking)", "variantChanges": [{"productUuid": "\#(mugProduct)", "variantUuid": "\#(mugWhite)", "fromLocationUuid": "\#(from)", "toLocationUuid": "\#(to)", "change": \#(change)}]}]}"#
    }

    /// What `Status::assign` and `Variant`'s setters accept: strings where the setter takes a string.
    static func expectParsableStatus(_ json: JSONValue?, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let variants = json?["variants"]?.arrayValue else {
            Issue.record("no variants", sourceLocation: sourceLocation)
            return
        }
        for variant in variants {
            for key in ["locationUuid", "locationType", "productUuid", "variantUuid", "balance"] {
                #expect(variant[key]?.stringValue != nil, "\(key) must be a JSON string: \(variant)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("the locations, a bulk change that starts tracking, and the inventory read, as SwagPayPal sends and parses them")
    func shopwareInventorySync() async throws {
        try await LiveGateway.run { live in
            // InventoryResource::getLocations: GET organizations/self/locations/
            let locations = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/locations/")
            #expect(locations.status == 200)
            let list = try #require(locations.json?.arrayValue)
            #expect(list.contains { $0["type"] == "STORE" && $0["uuid"]?.stringValue == Self.store })
            for location in list {
                for key in ["uuid", "type", "name", "description"] { #expect(location[key]?.stringValue != nil) }
                #expect(location["default"]?.boolValue != nil)
            }

            // InventoryResource::changeInventoryBulk: POST organizations/self/v2/inventory/bulk/
            let started = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/organizations/self/v2/inventory/bulk/",
                body: Self.bulk(returnBalance: Self.store, tracking: "START_TRACKING", from: Self.supplier, to: Self.store, change: 2))
            #expect(started.status == 200, "\(started.text)")
            Self.expectParsableStatus(started.json)
            #expect(started.json?["variants"]?.arrayValue?.first?["balance"] == "2")

            // A change without a balance wanted: returnBalanceForLocationUuid is null.
            let discarded = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/organizations/self/v2/inventory/bulk/",
                body: Self.bulk(returnBalance: nil, tracking: "NO_CHANGE", from: Self.store, to: Self.bin, change: 1))
            #expect(discarded.status == 200, "\(discarded.text)")

            // InventoryResource::getInventory: GET organizations/self/inventory/locations/{uuid}/
            let inventory = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/inventory/locations/\(Self.store)/")
            #expect(inventory.status == 200, "\(inventory.text)")
            #expect(inventory.json?["locationUuid"]?.stringValue == Self.store)
            let tracked = try #require(inventory.json?["trackedProducts"]?.arrayValue)
            #expect(tracked.allSatisfy { $0.stringValue != nil })
            #expect(tracked.contains(.string(Self.mugProduct)))
            Self.expectParsableStatus(inventory.json)
            let mug = inventory.json?["variants"]?.arrayValue?.first { $0["variantUuid"]?.stringValue == Self.mugWhite }
            #expect(mug?["balance"] == "1")
            #expect(try await live.ledger.totalStock(product: "mug-white") == Quantity(1))
        }
    }
}

/// The Colleqtive production tap (Optiply/tap-colleqtive), as `tap_colleqtive/streams.py` and
/// `client.py` read the store-product stock: `GET /api/v2/public/storeproducts/stock` with
/// `Page_Size` / `Page_Start` from 1, rows under `list`, the next page until one comes back
/// short, `last_stock_modified_datetime` from its bookmark (`most_likely_datetime`), and
/// `Authorization: Bearer <token>`; the Colleqtive SDK sends `Authorization: <token>`.
@Suite("Real clients: Colleqtive's tap and SDK")
struct ColleqtiveClientTests {
    static let secret = "colleqtive-client-token"
    static let clients = ClientAuthenticator(clients: [.init(name: "tap", secret: Secret(secret), dialects: ["colleqtive", "stockgate"])])

    /// The tap's loop: pages until a short one; every row as the tap normalizes it.
    static func sync(_ base: String, since: String? = nil, pageSize: Int = 2) async throws -> [JSONValue] {
        var rows: [JSONValue] = []
        var page = 1
        while true {
            var url = base + "/api/v2/public/storeproducts/stock?Page_Size=\(pageSize)&Page_Start=\(page)"
            if let since { url += "&last_stock_modified_datetime=" + since }
            let answer = try await HTTPClient.shared.send(.GET, url, headers: [("Authorization", "Bearer \(secret)")])
            #expect(answer.status == 200, "\(answer.text)")
            let items = answer.json?["list"]?.arrayValue ?? []
            rows += items
            if items.count < pageSize { break }
            page += 1
        }
        return rows
    }

    static func restock(_ base: String, _ product: String, _ quantity: Int, to location: String) async throws {
        let body = #"{"movements": [{"product": "\#(product)", "quantity": \#(quantity), "from": "supplier", "to": "\#(location)"}]}"#
        let answer = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/movements", body: body, headers: [("Authorization", "Bearer \(secret)")])
        #expect(answer.status == 200)
    }

    @Test("a full sync pages through every store product with stock; an incremental sync returns only what changed since")
    func tapSync() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            try await Self.restock(live.baseURL, "tshirt-blue-m", 5, to: "shop-floor")
            try await Self.restock(live.baseURL, "tshirt-blue-m", 2, to: "back-room")
            try await Self.restock(live.baseURL, "mug-black", 3, to: "shop-floor")
            try await Self.restock(live.baseURL, "socks", 7, to: "warehouse")
            let full = try await Self.sync(live.baseURL)
            // Store 1001 holds shop-floor and back-room: one row for its t-shirts (5 + 2), one for
            // its black mugs; store 9001 (warehouse) one for the socks.
            #expect(full.count == 3)
            let shirts = full.first { $0["product_number"] == "100200" && $0["store_number"] == "1001" }
            #expect(shirts?["most_likely_quantity"]?.numberText.flatMap { try? Quantity(parsing: $0) } == Quantity(7))
            for row in full {
                // The types of the tap's STOCK_FIELDS.
                #expect(row["id"]?.numberText.flatMap { Int($0) } != nil)
                #expect(row["product_number"]?.stringValue != nil && row["store_number"]?.stringValue != nil)
                #expect(row["most_likely_quantity"]?.numberText != nil)
                #expect(row["most_likely_datetime"]?.stringValue.flatMap(Timestamp.parseISO8601) != nil)
            }
            let ids = full.compactMap { $0["id"]?.numberText }
            #expect(Set(ids).count == ids.count)
            // The bookmark: the newest most_likely_datetime seen. Later, one product changes.
            let seen = full.compactMap { $0["most_likely_datetime"]?.stringValue }
            let bookmark = try #require(seen.max())
            try await Task.sleep(for: .milliseconds(20))
            try await Self.restock(live.baseURL, "mug-black", 1, to: "back-room")
            let increment = try await Self.sync(live.baseURL, since: bookmark)
            // Inclusive: the row stamped at the bookmark itself comes again (a change sharing its
            // millisecond is never missed); everything older stays out.
            let changed = increment.filter { $0["product_number"] == "100300" }
            #expect(changed.count == 1)
            #expect(changed.first?["most_likely_quantity"]?.numberText == "4")
            #expect(increment.count <= 2)
            #expect(increment.allSatisfy { ($0["most_likely_datetime"]?.stringValue ?? "") >= bookmark })
            // Nothing changed after the last change: an empty page.
            let latest = try #require(changed.first?["most_likely_datetime"]?.stringValue.flatMap(Timestamp.parseISO8601))
            let unchanged = try await Self.sync(live.baseURL, since: Timestamp.iso8601(latest.addingTimeInterval(1)))
            #expect(unchanged.isEmpty)
        }
    }

    @Test("the SDK's Authorization header (the token alone, no scheme) is accepted; a wrong one is refused")
    func sdkAuthorization() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let url = live.baseURL + "/api/v2/public/stores"
            let bare = try await HTTPClient.shared.send(.GET, url, headers: [("Authorization", Self.secret)])
            #expect(bare.status == 200)
            let wrong = try await HTTPClient.shared.send(.GET, url, headers: [("Authorization", "not-the-token")])
            #expect(wrong.status == 401)
            #expect(wrong.json?["success"] == false)
        }
    }
}
