import Foundation

/// What a caller asks of the ledger, in canonical terms. Every dialect decodes into these.
public enum Command: Sendable, Equatable {
    /// Move a batch of stock.
    case move(MoveBatch)
    /// List movements of the journal.
    case findMovements(MovementQuery)
    /// One movement by id.
    case getMovement(id: Int64)
    /// How many movements match.
    case countMovements(MovementQuery)
    /// Change only the description of a movement.
    case updateDescription(id: Int64, description: String)
    /// Delete movements: each is undone by a reversal that stays in the journal.
    case deleteMovements(ids: [Int64])
    /// Balances of stock locations.
    case readBalances(BalanceQuery)
    /// The locations of the catalog.
    case listLocations
    /// Apply a pending transfer.
    case confirmTransfer(id: Int64)
    /// Start (`tracked`) or stop tracking the stock of products (catalog keys). A product
    /// nobody has stopped tracking is tracked. Stopping keeps its balances and journal; reads
    /// of dialects that know tracking (Zettle) just leave it out, as the vendor does.
    case setTracking(products: [String], tracked: Bool)
    /// Which products are not tracked.
    case readTracking
    /// Records a person's (or `stockgate reconcile`'s) decision about a forwarded movement
    /// whose outcome was unknown (journal state `sent`): `applied` or `failed`.
    case settleForwarded(id: Int64, state: MovementState)

    /// Whether the command changes the ledger.
    public var isWrite: Bool {
        switch self {
        case .move, .updateDescription, .deleteMovements, .confirmTransfer, .setTracking, .settleForwarded: return true
        case .findMovements, .getMovement, .countMovements, .readBalances, .listLocations, .readTracking: return false
        }
    }
}

/// A batch of movements and how its items stand or fall.
public struct MoveBatch: Sendable, Equatable {
    public enum Atomicity: String, Sendable, Equatable {
        /// Every item applies, or none does.
        case allOrNothing
        /// Each item applies or fails on its own.
        case perItem
    }

    public var items: [Movement]
    public var atomicity: Atomicity

    public init(items: [Movement], atomicity: Atomicity) {
        self.items = items
        self.atomicity = atomicity
    }
}

/// Which movements a find or count selects, and in what order.
public struct MovementQuery: Sendable, Equatable {
    public enum SortField: String, Sendable, Equatable, CaseIterable {
        case id, product, quantity, createdAt, description
    }

    public struct Sort: Sendable, Equatable {
        public var field: SortField
        public var descending: Bool
        public init(_ field: SortField, descending: Bool = false) {
            self.field = field
            self.descending = descending
        }
    }

    public var product: String?
    /// Only movements from or to this location.
    public var location: String?
    /// Only movements with an id greater than this.
    public var afterID: Int64?
    /// Created at or after this time.
    public var createdFrom: Date?
    /// Created at or before this time.
    public var createdTo: Date?
    /// Every word must occur in the description (case-insensitive).
    public var keywords: String?
    /// Only movements that changed stock and still stand: applied, not undone by a delete,
    /// not a reversal (Open2b's view of the journal).
    public var appliedOnly: Bool
    /// Whose journal: nil for the embedded ledger's own movements, or a remote backend's
    /// name for the movements the gateway forwarded there. Set by the backend, not by codecs.
    public var backend: String?
    /// `backend` meaning every remote backend's journal at once.
    public static let anyBackend = "*"
    /// Only movements in this state (`sent`: forwarded, outcome unknown).
    public var state: MovementState?
    /// Only movements recorded for this request id (what a StockGate backend is asked by
    /// `stockgate reconcile`: the gateway's `X-Request-Id` travels with each forward).
    public var requestID: String?
    public var order: [Sort]
    public var offset: Int
    public var limit: Int?

    public init(
        product: String? = nil, location: String? = nil, afterID: Int64? = nil, createdFrom: Date? = nil,
        createdTo: Date? = nil, keywords: String? = nil, appliedOnly: Bool = false, order: [Sort] = [Sort(.id)],
        offset: Int = 0, limit: Int? = nil
    ) {
        self.product = product
        self.location = location
        self.afterID = afterID
        self.createdFrom = createdFrom
        self.createdTo = createdTo
        self.keywords = keywords
        self.appliedOnly = appliedOnly
        self.backend = nil
        self.order = order
        self.offset = offset
        self.limit = limit
    }
}

/// Which balances to read. Both filters optional.
public struct BalanceQuery: Sendable, Equatable {
    public var products: [String]?
    public var location: String?
    /// Include zero balances.
    public var includeZero: Bool

    public init(products: [String]? = nil, location: String? = nil, includeZero: Bool = true) {
        self.products = products
        self.location = location
        self.includeZero = includeZero
    }
}

/// Facts about the request a command came in with, recorded in the journal.
public struct RequestFacts: Sendable, Equatable {
    public var dialect: DialectID
    public var requestID: String
    public var idempotencyKey: String?
    /// The configured client that sent it (nil when no clients are configured).
    public var client: String?
    /// The caller's W3C trace context (`traceparent`, and `tracestate` as sent), when valid.
    public var traceparent: String?
    public var tracestate: String?

    public init(dialect: DialectID, requestID: String, idempotencyKey: String? = nil, client: String? = nil) {
        self.dialect = dialect
        self.requestID = requestID
        self.idempotencyKey = idempotencyKey
        self.client = client
    }
}
