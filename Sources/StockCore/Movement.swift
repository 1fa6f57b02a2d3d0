import Foundation

/// Whether a movement has changed stock yet.
public enum MovementState: String, Sendable, Codable, CaseIterable {
    /// Stock changed when the movement was recorded (or when it was confirmed).
    case applied
    /// Recorded, stock unchanged until confirmed (StoreFeeder's pending transfer).
    case pending
    /// Undone by a later reversal movement (Open2b `delete`); it no longer counts in views
    /// that hide deleted movements, and its reversal restores the balances.
    case reversed
    /// Forwarded to a remote backend whose answer has not come (yet): if it stays so after a
    /// crash or a timeout, the backend may or may not have applied it.
    case sent
    /// Forwarded to a remote backend, which refused it.
    case failed
}

/// Facts a dialect carries with a movement that the canonical model has no member for (a
/// StoreFeeder batch reference, a Colleqtive customer order, Zettle's tracking change):
/// StockGate keeps them with the movement, shows them in its own API and passes them to a
/// backend whose dialect has a place for them. The fields are declared by the dialects that
/// know them (`ExtraField` in Dialects, with typed accessors beside each vendor's codec); here
/// they are JSON values by name, so the model and the stores know no vendor.
public struct MovementExtras: Sendable, Equatable {
    /// The fields set, by name.
    public private(set) var values: [String: JSONValue] = [:]

    public init() {}

    public var isEmpty: Bool { values.isEmpty }

    /// The value of field `name`; setting nil (or JSON null) removes it. An object's members are
    /// kept sorted by name, as the stores write them, so a value read back equals the one set.
    public subscript(name: String) -> JSONValue? {
        get { values[name] }
        set {
            if let newValue, !newValue.isNull { values[name] = Self.sorted(newValue) } else { values[name] = nil }
        }
    }

    private static func sorted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            return .object(
                JSONObject(
                    object.members.sorted { $0.key < $1.key }.map { JSONObject.Member($0.key, sorted($0.value)) }))
        case .array(let items): return .array(items.map(sorted))
        default: return value
        }
    }
}

/// One movement of stock: `quantity` of `product` from one location to another.
///
/// Locations and products are canonical keys of the catalog. A movement arriving from a
/// dialect has no `id`, `createdAt` or journal facts yet; the ledger fills them.
public struct Movement: Sendable, Equatable {
    public var id: Int64?
    public var product: String
    /// Greater than zero; zero only in a level movement (unresolved, or a level already held).
    public var quantity: Quantity
    public var from: String
    public var to: String
    public var reason: String?
    public var reference: String?
    public var description: String?
    /// The acting user (Colleqtive `AppUserName`, StoreFeeder `AssignedUserID`).
    public var user: String?
    /// The system that started the movement (Colleqtive `source`).
    public var sourceSystem: String?
    /// The caller's own id for the movement (Zettle `externalUuid`).
    public var externalID: String?
    public var createdAt: Date?
    /// When stock changed: the creation time, or the confirmation time of a pending transfer.
    public var appliedAt: Date?
    public var state: MovementState
    /// Allow the source stock location to go below zero.
    public var allowOverage: Bool
    public var extras: MovementExtras
    /// Set on a reversal: the id of the movement it undoes.
    public var reverses: Int64?
    /// Journal facts: the dialect it came in by, the request id, the idempotency key.
    public var dialect: DialectID?
    public var requestID: String?
    public var idempotencyKey: String?
    /// The remote backend the gateway forwarded it to; nil for the embedded ledger.
    public var backend: String?
    /// Set when the movement carries a level command (see `StockLevel`).
    public var level: StockLevel?
    /// Why a forwarded movement failed: the backend's refusal, as the caller was told it
    /// (journal state `failed`).
    public var failureReason: String?
    /// Who settled an unknown outcome (journal state `sent`), as what, and why.
    public var settlementNote: String?

    public init(
        id: Int64? = nil, product: String, quantity: Quantity, from: String, to: String, reason: String? = nil,
        reference: String? = nil, description: String? = nil, user: String? = nil, sourceSystem: String? = nil,
        externalID: String? = nil, createdAt: Date? = nil, appliedAt: Date? = nil, state: MovementState = .applied,
        allowOverage: Bool = false, extras: MovementExtras = MovementExtras(), reverses: Int64? = nil,
        dialect: DialectID? = nil, requestID: String? = nil, idempotencyKey: String? = nil, backend: String? = nil,
        level: StockLevel? = nil
    ) {
        self.backend = backend
        self.level = level
        self.id = id
        self.product = product
        self.quantity = quantity
        self.from = from
        self.to = to
        self.reason = reason
        self.reference = reference
        self.description = description
        self.user = user
        self.sourceSystem = sourceSystem
        self.externalID = externalID
        self.createdAt = createdAt
        self.appliedAt = appliedAt
        self.state = state
        self.allowOverage = allowOverage
        self.extras = extras
        self.reverses = reverses
        self.dialect = dialect
        self.requestID = requestID
        self.idempotencyKey = idempotencyKey
    }
}

/// The stock of one product at one stock location.
public struct Balance: Sendable, Equatable {
    public var product: String
    public var location: String
    public var quantity: Quantity
    /// When the balance last changed, where the store knows it (Colleqtive's `most_likely_datetime`).
    /// Metadata: two balances are equal when product, location and quantity are.
    public var updatedAt: Date?

    public init(product: String, location: String, quantity: Quantity, updatedAt: Date? = nil) {
        self.product = product
        self.location = location
        self.quantity = quantity
        self.updatedAt = updatedAt
    }

    public static func == (lhs: Balance, rhs: Balance) -> Bool {
        lhs.product == rhs.product && lhs.location == rhs.location && lhs.quantity == rhs.quantity
    }
}
