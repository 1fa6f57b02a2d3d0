import AsyncHTTPClient
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
