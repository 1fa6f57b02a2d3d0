import StockCore

/// Every dialect StockGate speaks, inbound and as a backend: the one list the gateway, the
/// backends, `translate`, configuration checks and the tests read.
public enum DialectRegistry {
    public static let all: [Dialect] = [
        CanonicalCodec.registration,
        ColleqtiveCodec.registration,
        StoreFeederCodec.registration,
        Open2bCodec.registrationV6,
        Open2bCodec.registrationV3,
        ZettleCodec.registration,
        ZettleV3Codec.registration,
    ]

    /// Every vendor's catalog columns and checks, in registry order.
    public static var catalogRules: [CatalogRules] { all.compactMap(\.catalogRules) }

    /// The ids, in registry order.
    public static var ids: [DialectID] { all.map(\.id) }

    /// The ids as text, in registry order (help texts, error messages).
    public static var names: [String] { ids.map(\.rawValue) }

    public static func dialect(_ id: DialectID) -> Dialect? { all.first { $0.id == id } }

    /// The registered dialect a text names (a configuration value, a path segment), if any.
    public static func dialect(named text: String) -> Dialect? { dialect(DialectID(text)) }
}

extension Catalog {
    /// Parses and validates the two catalog files against every vendor's columns and checks
    /// (`DialectRegistry.catalogRules`; see `Catalog.parse(productsCSV:locationsCSV:rules:…)`).
    public static func parse(
        productsCSV: String, locationsCSV: String, productsFile: String = "products.csv",
        locationsFile: String = "locations.csv"
    ) throws(CatalogError) -> Catalog {
        try parse(
            productsCSV: productsCSV, locationsCSV: locationsCSV, rules: DialectRegistry.catalogRules,
            productsFile: productsFile, locationsFile: locationsFile)
    }

    /// The columns `products.csv` and `locations.csv` may have.
    public static var productColumns: [String] { columns(.products, core: coreProductColumns) }
    public static var locationColumns: [String] { columns(.locations, core: coreLocationColumns) }

    static func columns(_ table: CatalogRules.Table, core: [String]) -> [String] {
        var names = core
        for rules in DialectRegistry.catalogRules {
            for column in rules.columns where column.table == table && !names.contains(column.name) {
                names.append(column.name)
            }
        }
        return names
    }
}
