import StockCore

/// Zettle's catalog columns, read by both its APIs: `products.csv` `zettle_product_uuid` and
/// `zettle_variant_uuid` (given together; a product row is one variant), `locations.csv`
/// `zettle_uuid`. UUIDs are stored lowercase and looked up regardless of case.
extension ZettleCodec {
    public static let catalogRules = CatalogRules(
        columns: [
            .uuid("zettle_product_uuid", .products),
            .uuid("zettle_variant_uuid", .products, unique: true),
            .uuid("zettle_uuid", .locations, unique: true),
        ],
        productChecks: [
            { product in
                (product.zettleProductUUID == nil) != (product.zettleVariantUUID == nil)
                    ? "zettle_product_uuid and zettle_variant_uuid must be given together" : nil
            }
        ],
        locationChecks: [
            { location in
                location.zettleUUID != nil && location.kind == .outside
                    ? "zettle_uuid on an outside location: Zettle has STORE, SUPPLIER, SOLD and BIN only" : nil
            }
        ])
}

extension Product {
    /// Lowercase UUID text.
    public var zettleProductUUID: String? { self["zettle_product_uuid"] }
    /// Lowercase UUID text.
    public var zettleVariantUUID: String? { self["zettle_variant_uuid"] }
}

extension Location {
    /// Lowercase UUID text.
    public var zettleUUID: String? { self["zettle_uuid"] }
}

extension Catalog {
    /// The product with this Zettle variant (case-insensitive UUID).
    public func product(zettleVariant: String) -> Product? { product("zettle_variant_uuid", zettleVariant.caseFolded) }

    /// The location with this Zettle UUID (case-insensitive).
    public func location(zettleUUID: String) -> Location? { location("zettle_uuid", zettleUUID.caseFolded) }
}
