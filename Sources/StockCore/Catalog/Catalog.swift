/// The products and locations StockGate knows, and every dialect's name for each.
///
/// Built once at start from `mappings/products.csv` and `mappings/locations.csv`
/// (see `Catalog+CSV.swift`; the columns and their rules come from the vendor folders of
/// `Dialects`) and read-only afterwards, so it is shared freely.
public struct Catalog: Sendable {
    public private(set) var products: [Product] = []
    public private(set) var locations: [Location] = []
    /// Columns whose lookups ignore case (a StoreFeeder reference).
    public let caseInsensitiveColumns: Set<String>

    private var productsByKey: [String: Int] = [:]
    private var locationsByKey: [String: Int] = [:]
    /// Column → value (case-folded for the case-insensitive columns) → rows with it, in order.
    /// The column is found by a scan of the few names (`ColumnList`), the value by its hash.
    private var productIndex = ColumnList<ColumnIndex>()
    private var locationIndex = ColumnList<ColumnIndex>()

    /// One column's values and the rows holding each. Whether the column ignores case is kept
    /// with it, so a lookup hashes the column's name once.
    private struct ColumnIndex {
        let folded: Bool
        var rows: [String: [Int]] = [:]

        subscript(value: String) -> [Int]? { rows[folded ? value.caseFolded : value] }

        mutating func add(_ value: String, row: Int) {
            rows[folded ? value.caseFolded : value, default: []].append(row)
        }
    }

    /// An empty catalog.
    public init() { caseInsensitiveColumns = [] }

    /// Builds a catalog from validated values. Use `Catalog.parse` for files; this one is for
    /// code and tests and trusts that keys are unique.
    public init(products: [Product], locations: [Location], caseInsensitiveColumns: Set<String> = []) {
        self.caseInsensitiveColumns = caseInsensitiveColumns
        for product in products { add(product) }
        for location in locations { add(location) }
    }

    /// The same catalog with only the products `keep` accepts.
    public func filtered(products keep: (Product) -> Bool) -> Catalog {
        Catalog(products: products.filter(keep), locations: locations, caseInsensitiveColumns: caseInsensitiveColumns)
    }

    mutating func add(_ product: Product) {
        let index = products.count
        products.append(product)
        productsByKey[product.key] = index
        for (column, value) in product.identifiers {
            productIndex.update(column, initial: { ColumnIndex(folded: caseInsensitiveColumns.contains(column)) }) {
                $0.add(value, row: index)
            }
        }
    }

    mutating func add(_ location: Location) {
        let index = locations.count
        locations.append(location)
        locationsByKey[location.key] = index
        for (column, value) in location.identifiers {
            locationIndex.update(column, initial: { ColumnIndex(folded: caseInsensitiveColumns.contains(column)) }) {
                $0.add(value, row: index)
            }
        }
    }

    // MARK: Products

    public func product(key: String) -> Product? { productsByKey[key].map { products[$0] } }

    /// The first product whose `column` holds `value`.
    public func product(_ column: String, _ value: String) -> Product? {
        productIndex[column]?[value]?.first.map { products[$0] }
    }

    // MARK: Locations

    public func location(key: String) -> Location? { locationsByKey[key].map { locations[$0] } }

    /// The first location whose `column` holds `value`.
    public func location(_ column: String, _ value: String) -> Location? {
        locationIndex[column]?[value]?.first.map { locations[$0] }
    }

    /// Whether some location's `column` holds `value` (an index lookup, nothing copied).
    public func hasLocation(_ column: String, _ value: String) -> Bool {
        locationIndex[column]?[value]?.isEmpty == false
    }

    /// Every location whose `column` holds `value`, in catalog order.
    public func locations(_ column: String, _ value: String) -> [Location] {
        (locationIndex[column]?[value] ?? []).map { locations[$0] }
    }

    /// Every location whose `column` holds `value` and whose `other` column holds `otherValue`,
    /// in catalog order: the two index lookups intersected, without a lookup per location.
    public func locations(_ column: String, _ value: String, _ other: String, _ otherValue: String) -> [Location] {
        guard let first = locationIndex[column]?[value],
            let second = locationIndex[other]?[otherValue]
        else { return [] }
        // Both lists hold row numbers in ascending (catalog) order.
        var result: [Location] = []
        var (i, j) = (0, 0)
        while i < first.count, j < second.count {
            if first[i] == second[j] {
                result.append(locations[first[i]])
                i += 1
                j += 1
            } else if first[i] < second[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return result
    }

    /// The first location of a kind (Zettle's STORE is the first stock location with a UUID).
    public func firstLocation(kind: LocationKind, where predicate: (Location) -> Bool = { _ in true }) -> Location? {
        locations.first { $0.kind == kind && predicate($0) }
    }
}

extension String {
    /// The string lowercased, for case-insensitive keys and UUIDs: itself, without a copy, when it is
    /// ASCII with no uppercase letter (UUIDs, most references).
    public var caseFolded: String {
        // Over the contiguous bytes (a native string's own; a bridged one is made contiguous),
        // eight at a time: a closure per byte through the UTF-8 view cost ~1,200 instructions per
        // UUID, a byte at a time over the bytes ~460 (callgrind, the read hop).
        var text = self
        let plain = text.withUTF8 { Self.isPlainLowercase(UnsafeRawBufferPointer($0)) }
        return plain ? self : lowercased()
    }

    /// Whether `bytes` are ASCII without an uppercase letter.
    static func isPlainLowercase(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        // Per byte b < 0x80 of a word: b + 0x3F sets the byte's top bit when b ≥ "A" (0x41),
        // b + 0x25 when b > "Z" (0x5A); neither carries into the next byte.
        let high: UInt64 = 0x8080_8080_8080_8080
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            if word & high != 0 { return false }
            if (word &+ 0x3F3F_3F3F_3F3F_3F3F) & ~(word &+ 0x2525_2525_2525_2525) & high != 0 { return false }
            offset += 8
        }
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte >= 0x80 || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) { return false }
            offset += 1
        }
        return true
    }

    public func caseInsensitiveEquals(_ other: String) -> Bool {
        caseFolded == other.caseFolded
    }
}
