import StockCore

/// StoreFeeder's catalog columns: `storefeeder_id` (products and locations),
/// `storefeeder_reference` (case-insensitive, unique within its warehouse) and
/// `storefeeder_warehouse` (locations). Products are also named by `sku` (Open2b's column).
extension StoreFeederCodec {
    public static let catalogRules = CatalogRules(
        columns: [
            .init("storefeeder_id", .products, unique: true),
            .init("storefeeder_id", .locations, unique: true),
            .init("storefeeder_reference", .locations, caseInsensitive: true),
            .init("storefeeder_warehouse", .locations),
        ],
        locationChecks: [
            { location in
                guard let reference = location.storefeederReference, reference.lowercased() == "unspecified",
                    location.kind != .outside
                else { return nil }
                return
                    "the StoreFeeder reference 'Unspecified' belongs to an outside location, not \(location.kind.rawValue)"
            },
            { location in
                location.storefeederWarehouse != nil && location.storefeederReference == nil
                    ? "storefeeder_warehouse needs storefeeder_reference" : nil
            },
        ],
        locationKeys: [
            { location in
                guard let reference = location.storefeederReference else { return nil }
                let warehouse = location.storefeederWarehouse?.lowercased() ?? "-"
                return ("storefeeder_reference in its warehouse", "\(reference.lowercased())/\(warehouse)")
            }
        ])
}

extension Product {
    public var storefeederID: String? { self["storefeeder_id"] }
}

extension Location {
    public var storefeederID: String? { self["storefeeder_id"] }
    public var storefeederReference: String? { self["storefeeder_reference"] }
    public var storefeederWarehouse: String? { self["storefeeder_warehouse"] }
}

extension Catalog {
    public func product(storefeederID: String) -> Product? { product("storefeeder_id", storefeederID) }
    public func location(storefeederID: String) -> Location? { location("storefeeder_id", storefeederID) }

    /// Locations with this StoreFeeder reference (case-insensitive), optionally within a warehouse.
    public func locations(storefeederReference reference: String, warehouse: String? = nil) -> [Location] {
        locations("storefeeder_reference", reference).filter { location in
            guard let warehouse else { return true }
            return location.storefeederWarehouse?.caseInsensitiveEquals(warehouse) == true
        }
    }
}
