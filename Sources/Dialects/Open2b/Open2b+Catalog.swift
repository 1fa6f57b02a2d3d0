import StockCore

/// The part a location plays in Open2b's one-location view of the ledger.
public enum Open2bRole: String, Sendable, CaseIterable {
    /// The location whose stock Open2b's signed adjustments change.
    case stock
    /// Where positive adjustments come from.
    case `in`
    /// Where negative adjustments go to.
    case out
}

/// Open2b's catalog columns: `products.csv` `sku` (at most 32 characters, Open2b's limit; also
/// StoreFeeder's `SKU` and Colleqtive's fallback number), `locations.csv` `open2b_role`.
extension Open2bCodec {
    public static let catalogRules = CatalogRules(
        columns: [
            .init("sku", .products, unique: true) { sku in
                sku.count > 32 ? .problem("sku '\(sku)' is longer than 32 characters (Open2b's limit)") : .value(sku)
            },
            .init("open2b_role", .locations, unique: true) { text in
                guard let role = Open2bRole(rawValue: text.lowercased()) else {
                    return .problem("unknown open2b_role '\(text)' (expected stock, in or out)")
                }
                return .value(role.rawValue)
            },
        ],
        locationChecks: [
            { location in
                location.open2bRole == .stock && location.kind != .stock
                    ? "open2b_role stock must be on a stock location, not \(location.kind.rawValue)" : nil
            },
            { location in
                guard let role = location.open2bRole, role != .stock, location.kind == .stock else { return nil }
                return "open2b_role \(role.rawValue) must be on a supplier, sold, bin or outside location"
            },
        ])
}

extension Product {
    /// What Open2b and StoreFeeder (IDType `SKU`) call the product.
    public var sku: String? { self["sku"] }
}

extension Location {
    public var open2bRole: Open2bRole? { self["open2b_role"].flatMap(Open2bRole.init(rawValue:)) }
}

extension Catalog {
    public func product(sku: String) -> Product? { product("sku", sku) }

    /// The location playing `role` in Open2b's view.
    public func location(open2bRole role: Open2bRole) -> Location? { location("open2b_role", role.rawValue) }
}
