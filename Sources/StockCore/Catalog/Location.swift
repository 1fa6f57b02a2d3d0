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

/// The part a location plays in Open2b's one-location view of the ledger.
public enum Open2bRole: String, Sendable, CaseIterable {
    /// The location whose stock Open2b's signed adjustments change.
    case stock
    /// Where positive adjustments come from.
    case `in`
    /// Where negative adjustments go to.
    case out
}

/// A location of the catalog, with the identifiers each dialect calls it by.
///
/// Immutable and shared: a reference, so every lookup that hands one out of the catalog costs
/// one retain instead of a copy of a dozen strings (several lookups per movement).
public final class Location: Sendable, Equatable {
    public let key: String
    public let kind: LocationKind
    public let colleqtiveStore: String?
    public let colleqtiveLocationCode: String?
    public let colleqtiveStockPool: Int?
    public let storefeederID: String?
    public let storefeederReference: String?
    public let storefeederWarehouse: String?
    /// Lowercase UUID text.
    public let zettleUUID: String?
    public let open2bRole: Open2bRole?

    public init(
        key: String, kind: LocationKind, colleqtiveStore: String? = nil, colleqtiveLocationCode: String? = nil,
        colleqtiveStockPool: Int? = nil, storefeederID: String? = nil, storefeederReference: String? = nil,
        storefeederWarehouse: String? = nil, zettleUUID: String? = nil, open2bRole: Open2bRole? = nil
    ) {
        self.key = key
        self.kind = kind
        self.colleqtiveStore = colleqtiveStore
        self.colleqtiveLocationCode = colleqtiveLocationCode
        self.colleqtiveStockPool = colleqtiveStockPool
        self.storefeederID = storefeederID
        self.storefeederReference = storefeederReference
        self.storefeederWarehouse = storefeederWarehouse
        self.zettleUUID = zettleUUID
        self.open2bRole = open2bRole
    }

    public static func == (lhs: Location, rhs: Location) -> Bool {
        lhs === rhs
            || (lhs.key == rhs.key && lhs.kind == rhs.kind && lhs.colleqtiveStore == rhs.colleqtiveStore
                && lhs.colleqtiveLocationCode == rhs.colleqtiveLocationCode
                && lhs.colleqtiveStockPool == rhs.colleqtiveStockPool && lhs.storefeederID == rhs.storefeederID
                && lhs.storefeederReference == rhs.storefeederReference
                && lhs.storefeederWarehouse == rhs.storefeederWarehouse && lhs.zettleUUID == rhs.zettleUUID
                && lhs.open2bRole == rhs.open2bRole)
    }
}
