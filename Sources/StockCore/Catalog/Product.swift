/// A product of the catalog: its canonical key, and the names dialects call it by.
///
/// Immutable and shared, like `Location`: a lookup costs one retain, not a copy.
public final class Product: Sendable, Equatable {
    /// The canonical identity.
    public let key: String
    public let name: String?
    /// The names dialects call it by, by catalog column (`sku`, `zettle_variant_uuid`, …), as
    /// the column's rules normalized them. Each vendor's folder in `Dialects` declares its
    /// columns and reads them through typed accessors (`product.zettleVariantUUID`).
    public var identifiers: [String: String] { Dictionary(uniqueKeysWithValues: columns.entries) }
    /// Kept as a list scanned by name (`ColumnList`): a lookup compares a few names instead of
    /// hashing one.
    private let columns: ColumnList<String>

    public init(key: String, name: String? = nil, identifiers: [String: String] = [:]) {
        self.key = key
        self.name = name
        self.columns = ColumnList(identifiers)
    }

    /// The value of a catalog column, nil when not mapped.
    public subscript(column: String) -> String? { columns[column] }

    public static func == (lhs: Product, rhs: Product) -> Bool {
        lhs === rhs || (lhs.key == rhs.key && lhs.name == rhs.name && lhs.columns == rhs.columns)
    }
}
