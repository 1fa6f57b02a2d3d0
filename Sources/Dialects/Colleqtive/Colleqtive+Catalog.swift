import StockCore

/// Colleqtive's catalog columns: `products.csv` `colleqtive_product_number`; `locations.csv`
/// `colleqtive_store`, `colleqtive_location_code`, `colleqtive_stock_pool`.
extension ColleqtiveCodec {
    public static let catalogRules = CatalogRules(
        columns: [
            .init("colleqtive_product_number", .products),
            .init("colleqtive_store", .locations),
            .init("colleqtive_location_code", .locations),
            .init("colleqtive_stock_pool", .locations) { text in
                guard let pool = Int32(text) else {
                    return .problem("colleqtive_stock_pool '\(text)' is not a 32-bit integer")
                }
                return .value(String(pool))
            },
        ],
        locationChecks: [
            { location in
                (location.colleqtiveLocationCode != nil || location.colleqtiveStockPool != nil)
                    && location.colleqtiveStore == nil
                    ? "a Colleqtive location code or stock pool needs colleqtive_store" : nil
            },
            { location in
                location.colleqtiveStore != nil && location.colleqtiveLocationCode == nil
                    ? "colleqtive_store needs colleqtive_location_code" : nil
            },
        ],
        productKeys: [{ product in ("Colleqtive product number", product.effectiveColleqtiveNumber) }],
        locationKeys: [
            { location in
                guard let store = location.colleqtiveStore, let code = location.colleqtiveLocationCode else {
                    return nil
                }
                let pool = location.colleqtiveStockPool.map(String.init) ?? "-"
                return ("Colleqtive store/location/stock pool", "\(store)/\(code)/\(pool)")
            }
        ])
}

extension Product {
    public var colleqtiveProductNumber: String? { self["colleqtive_product_number"] }
    /// The Colleqtive product number: the mapped one, else the sku, else the key.
    public var effectiveColleqtiveNumber: String { colleqtiveProductNumber ?? sku ?? key }
}

extension Location {
    public var colleqtiveStore: String? { self["colleqtive_store"] }
    public var colleqtiveLocationCode: String? { self["colleqtive_location_code"] }
    public var colleqtiveStockPool: Int? { self["colleqtive_stock_pool"].flatMap { Int($0) } }
}

extension Catalog {
    /// The product with this Colleqtive number: the mapped number, else a product without one
    /// whose sku (else key) it is.
    public func product(colleqtiveNumber number: String) -> Product? {
        if let mapped = product("colleqtive_product_number", number) { return mapped }
        if let bySKU = product("sku", number), bySKU.colleqtiveProductNumber == nil { return bySKU }
        if let byKey = product(key: number), byKey.colleqtiveProductNumber == nil, byKey.sku == nil { return byKey }
        return nil
    }

    /// The Colleqtive store numbers the catalog knows, in catalog order.
    public var colleqtiveStores: [String] {
        var seen = Set<String>()
        return locations.compactMap(\.colleqtiveStore).filter { seen.insert($0).inserted }
    }

    /// Locations of a Colleqtive store, in catalog order.
    public func locations(colleqtiveStore store: String) -> [Location] {
        locations("colleqtive_store", store)
    }

    /// The location for a Colleqtive store, code and optional stock pool. Without a pool, the
    /// location with that code and no pool wins, else the only one with that code.
    public func location(colleqtiveStore store: String, code: String, stockPool: Int?) -> Location? {
        // The store's locations with that code, from both indexes at once (a location's fields
        // looked up one by one across the store's locations cost ~7,000 instructions a location
        // named); the code compared exactly, as it always was.
        let candidates = locations("colleqtive_store", store, "colleqtive_location_code", code)
            .filter { $0.colleqtiveLocationCode == code }
        if let stockPool { return candidates.first { $0.colleqtiveStockPool == stockPool } }
        if let unpooled = candidates.first(where: { $0.colleqtiveStockPool == nil }) { return unpooled }
        return candidates.count == 1 ? candidates[0] : nil
    }
}
