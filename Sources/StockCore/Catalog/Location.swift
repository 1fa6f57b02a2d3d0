/// What a location is to the ledger.
public enum LocationKind: String, Sendable, CaseIterable, Codable {
    /// A tracked location: it has balances, and cannot go below zero unless overage is allowed.
    case stock
    /// Where goods come from (an unlimited source).
    case supplier
    /// Where sold goods go (an unlimited sink).
    case sold
    /// Where discarded goods go (an unlimited sink).
    case bin
    /// Anywhere outside the tracked locations (StoreFeeder's `Unspecified`).
    case outside

    /// Only stock locations hold balances.
    public var isTracked: Bool { self == .stock }
}

/// A location of the catalog: its key and kind, and the names dialects call it by.
///
/// Immutable and shared: a reference, so every lookup that hands one out of the catalog costs
/// one retain instead of a copy.
public final class Location: Sendable, Equatable {
    public let key: String
    public let kind: LocationKind
    /// The names dialects call it by, by catalog column (`zettle_uuid`, `storefeeder_id`, …),
    /// as the column's rules normalized them (see `Product.identifiers`).
    public var identifiers: [String: String] { Dictionary(uniqueKeysWithValues: columns.entries) }
    /// Kept as a list scanned by name (`ColumnList`): a lookup compares a few names instead of
    /// hashing one.
    private let columns: ColumnList<String>

    public init(key: String, kind: LocationKind, identifiers: [String: String] = [:]) {
        self.key = key
        self.kind = kind
        self.columns = ColumnList(identifiers)
    }

    /// The value of a catalog column, nil when not mapped.
    public subscript(column: String) -> String? { columns[column] }

    public static func == (lhs: Location, rhs: Location) -> Bool {
        lhs === rhs || (lhs.key == rhs.key && lhs.kind == rhs.kind && lhs.columns == rhs.columns)
    }
}
