import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import StockCore
import Synchronization
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
        return
            #"{"returnBalanceForLocationUuid": \#(returned), "productChanges": [{"productUuid": "\#(mugProduct)", "trackingStatusChange": "\#(tracking)", "variantChanges": [{"productUuid": "\#(mugProduct)", "variantUuid": "\#(mugWhite)", "fromLocationUuid": "\#(from)", "toLocationUuid": "\#(to)", "change": \#(change)}]}]}"#
    }

    /// What `Status::assign` and `Variant`'s setters accept: strings where the setter takes a string.
    static func expectParsableStatus(_ json: JSONValue?, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let variants = json?["variants"]?.arrayValue else {
            Issue.record("no variants", sourceLocation: sourceLocation)
            return
        }
        for variant in variants {
            for key in ["locationUuid", "locationType", "productUuid", "variantUuid", "balance"] {
                #expect(
                    variant[key]?.stringValue != nil, "\(key) must be a JSON string: \(variant)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    @Test(
        "the locations, a bulk change that starts tracking, and the inventory read, as SwagPayPal sends and parses them"
    )
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
                body: Self.bulk(
                    returnBalance: Self.store, tracking: "START_TRACKING", from: Self.supplier, to: Self.store,
                    change: 2))
            #expect(started.status == 200, "\(started.text)")
            Self.expectParsableStatus(started.json)
            #expect(started.json?["variants"]?.arrayValue?.first?["balance"] == "2")

            // A change without a balance wanted: returnBalanceForLocationUuid is null.
            let discarded = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/organizations/self/v2/inventory/bulk/",
                body: Self.bulk(returnBalance: nil, tracking: "NO_CHANGE", from: Self.store, to: Self.bin, change: 1))
            #expect(discarded.status == 200, "\(discarded.text)")

            // InventoryResource::getInventory: GET organizations/self/inventory/locations/{uuid}/
            let inventory = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/organizations/self/inventory/locations/\(Self.store)/")
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
    static let clients = ClientAuthenticator(clients: [
        .init(name: "tap", secret: Secret(secret), dialects: ["colleqtive", "stockgate"])
    ])

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
        let body =
            #"{"movements": [{"product": "\#(product)", "quantity": \#(quantity), "from": "supplier", "to": "\#(location)"}]}"#
        let answer = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/movements", body: body, headers: [("Authorization", "Bearer \(secret)")])
        #expect(answer.status == 200)
    }

    @Test(
        "a full sync pages through every store product with stock; an incremental sync returns only what changed since")
    func tapSync() async throws {
        // A clock that ticks a millisecond per reading, and that the test moves on.
        let now = Mutex(Date())
        let clock: @Sendable () -> Date = {
            now.withLock {
                $0 = $0.addingTimeInterval(0.001)
                return $0
            }
        }
        try await LiveGateway.run(clients: Self.clients, clock: clock) { live in
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
            now.withLock { $0 = $0.addingTimeInterval(1) }
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
            let latest = try #require(
                changed.first?["most_likely_datetime"]?.stringValue.flatMap(Timestamp.parseISO8601))
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

/// A StoreFeeder client pointed at StockGate: `POST /Token` (the password grant), then the
/// stock location reads and a transfer written with the casing ASP.NET's binder accepts.
/// Shapes from rest.storefeeder.com's Help pages (GET stocklocations, GET stocklocations/{id},
/// the StockLocationModel resource model, POST stocklocations/create-transfers).
@Suite("Real clients: StoreFeeder")
struct StoreFeederClientTests {
    static let clients = ClientAuthenticator(clients: [
        .init(name: "warehouse-app", secret: Secret("wh-secret-1"), dialects: ["storefeeder"]),
        .init(name: "pos", secret: Secret("pos-secret-2"), dialects: ["zettle"]),
    ])

    static func token(_ base: String, user: String, password: String) async throws -> HTTPResult {
        try await HTTPClient.shared.send(
            .POST, base + "/Token", body: "grant_type=password&username=\(user)&password=\(password)",
            headers: [("Content-Type", "application/x-www-form-urlencoded")])
    }

    @Test(
        "a token one instance issued is accepted by another with the same clients; a forged, altered, expired or revoked one is not"
    )
    func tokensAcrossInstances() async throws {
        try await LiveGateway.run(clients: Self.clients) { first in
            let granted = try await Self.token(first.baseURL, user: "warehouse-app", password: "wh-secret-1")
            let token = try #require(granted.json?["access_token"]?.stringValue)
            // A second instance: its own process state, the same configured clients.
            try await LiveGateway.run(clients: Self.clients) { second in
                let read = try await HTTPClient.shared.send(
                    .GET, second.baseURL + "/stocklocations", headers: [("Authorization", "Bearer \(token)")])
                #expect(read.status == 200, "\(read.text)")
            }
        }
        let now = Date()
        let token = Self.clients.issueToken(for: "warehouse-app", now: now)
        func decide(_ presented: String, at date: Date = now) -> ClientAuthenticator.Decision {
            var headers = HTTPFields()
            headers[.authorization] = "Bearer " + presented
            return Self.clients.decide(dialect: "storefeeder", headers: headers, now: date)
        }
        #expect(decide(token) == .allowed(client: "warehouse-app"))
        // Expired: the vendor's lifetime, 1,209,599 s.
        #expect(decide(token, at: now.addingTimeInterval(1_209_600)) == .unauthenticated)
        // Another client's name, a later expiry, a flipped signature byte: each breaks the signature.
        let parts = token.split(separator: ".").map(String.init)
        let posName = Data("pos".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        #expect(decide([parts[0], posName, parts[2], parts[3]].joined(separator: ".")) == .unauthenticated)
        #expect(
            decide([parts[0], parts[1], String(Int(parts[2])! + 1), parts[3]].joined(separator: "."))
                == .unauthenticated)
        let flipped = String(parts[3].dropLast()) + (parts[3].last == "0" ? "1" : "0")
        #expect(decide([parts[0], parts[1], parts[2], flipped].joined(separator: ".")) == .unauthenticated)
        #expect(decide("sg1.") == .unauthenticated)
        #expect(decide("sg1.a.b.c.d") == .unauthenticated)
        // The client's secret changed (rotation): tokens signed with the old one are refused.
        let rotated = ClientAuthenticator(clients: [
            .init(name: "warehouse-app", secret: Secret("wh-secret-NEW"), dialects: ["storefeeder"])
        ])
        var headers = HTTPFields()
        headers[.authorization] = "Bearer " + token
        #expect(rotated.decide(dialect: "storefeeder", headers: headers, now: now) == .unauthenticated)
    }

    @Test("the password grant issues a bearer token to a configured client, which then reads and writes")
    func tokenThenCalls() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let refused = try await Self.token(live.baseURL, user: "warehouse-app", password: "wrong")
            #expect(refused.status == 400)
            #expect(refused.json?["error"] == "invalid_grant")
            let otherDialect = try await Self.token(live.baseURL, user: "pos", password: "pos-secret-2")
            #expect(otherDialect.status == 400)  // a client not allowed StoreFeeder gets no StoreFeeder token
            let granted = try await Self.token(live.baseURL, user: "warehouse-app", password: "wh-secret-1")
            #expect(granted.status == 200)
            #expect(granted.json?["token_type"] == "bearer")
            #expect(granted.json?["expires_in"]?.numberText == "1209599")
            // .issued / .expires as the vendor's OAuth stack writes them (RFC 1123), 1209599 s apart.
            let issued = try #require(granted.json?[".issued"]?.stringValue)
            let expires = try #require(granted.json?[".expires"]?.stringValue)
            let format = DateFormatter()
            format.locale = Locale(identifier: "en_US_POSIX")
            format.timeZone = TimeZone(identifier: "GMT")
            format.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let from = try #require(format.date(from: issued), "\(issued)")
            let to = try #require(format.date(from: expires), "\(expires)")
            #expect(to.timeIntervalSince(from) == 1_209_599)
            #expect(abs(from.timeIntervalSinceNow) < 60)
            let token = try #require(granted.json?["access_token"]?.stringValue)
            #expect(token != "wh-secret-1")
            let auth = [("Authorization", "Bearer \(token)")]

            // Property names and enum values in another casing, as Json.NET binds them.
            let transfer =
                #"[{"productIDType": {"idType": "sku", "value": "sku10"}, "stockLocationFrom": {"IDType": "StockLocationReference", "Value": "Unspecified"}, "stockLocationTo": {"idtype": "id", "value": "3213"}, "transferAmount": 4, "immediateTransfer": true}]"#
            let moved = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stocklocations/create-transfers", body: transfer, headers: auth)
            #expect(moved.status == 200, "\(moved.text)")
            #expect(moved.json?["Successful"]?.numberText == "1", "\(moved.text)")

            let list = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/stocklocations?PageSize=2&Page=1", headers: auth)
            #expect(list.status == 200)
            #expect(list.json?["PagingInfo"]?["PageSize"]?.numberText == "2")
            let total = try #require(list.json?["TotalItems"]?.numberText.flatMap { Int($0) })
            #expect(list.json?["TotalPages"]?.numberText == String((total + 1) / 2))
            #expect(list.json?["Data"]?.arrayValue?.count == min(2, total))
            let holding = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/stocklocations?hasproducts=true", headers: auth)
            let rows = holding.json?["Data"]?.arrayValue ?? []
            #expect(rows.count == 1)
            #expect(rows.first?["StockLocationID"]?.numberText == "3213")
            #expect(rows.first?["HasProducts"] == true && rows.first?["IsEmpty"] == false)
            #expect(rows.first?["Warehouse"]?["WarehouseName"] == "Default Warehouse")

            let one = try await HTTPClient.shared.send(.GET, live.baseURL + "/stocklocations/3213", headers: auth)
            #expect(one.status == 200)
            #expect(one.json?["StockLocationReference"] == "pb2")
            let missing = try await HTTPClient.shared.send(.GET, live.baseURL + "/stocklocations/999999", headers: auth)
            #expect(missing.status == 404)
            #expect(
                missing.json?["Message"] == "Stock Location does not exist or you do not have permission to access it.")

            let anonymous = try await HTTPClient.shared.send(.GET, live.baseURL + "/stocklocations/3213")
            #expect(anonymous.status == 401)
            let forged = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/stocklocations/3213", headers: [("Authorization", "Bearer 0123")])
            #expect(forged.status == 401)
        }
    }
}
