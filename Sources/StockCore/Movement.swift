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
    /// The fields, shared by copies until one of them changes (copy on write). A movement
    /// is passed through many layers on a write (decoded, planned, journaled, forwarded,
    /// settled, answered): as one reference, each copy is a retain instead of ~440 bytes
    /// and a retain per field, and an async function holding one keeps a word in its context.
    private var storage: Storage

    private final class Storage: @unchecked Sendable {
        // Changed only through `Movement`'s `_modify` accessors, and only when uniquely
        // referenced; a shared box is only read. The dynamic exclusivity check a class's
        // stored property gets on every access (~60 instructions, ~20 reads of a movement's
        // fields per forwarded write) has nothing to catch that the static check on the
        // `Movement` value does not.
        @exclusivity(unchecked) var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Equatable {
        var id: Int64?
        var product: String
        var quantity: Quantity
        var from: String
        var to: String
        var reason: String?
        var reference: String?
        var description: String?
        var user: String?
        var sourceSystem: String?
        var externalID: String?
        var createdAt: Date?
        var appliedAt: Date?
        var state: MovementState
        var allowOverage: Bool
        var extras: MovementExtras
        var reverses: Int64?
        var dialect: DialectID?
        var requestID: String?
        var idempotencyKey: String?
        var backend: String?
        var level: StockLevel?
        var failureReason: String?
        var settlementNote: String?
    }

    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
    }

    public var id: Int64? {
        get { storage.fields.id }
        _modify {
            makeUnique()
            yield &storage.fields.id
        }
    }
    public var product: String {
        get { storage.fields.product }
        _modify {
            makeUnique()
            yield &storage.fields.product
        }
    }
    /// Greater than zero; zero only in a level movement (unresolved, or a level already held).
    public var quantity: Quantity {
        get { storage.fields.quantity }
        _modify {
            makeUnique()
            yield &storage.fields.quantity
        }
    }
    public var from: String {
        get { storage.fields.from }
        _modify {
            makeUnique()
            yield &storage.fields.from
        }
    }
    public var to: String {
        get { storage.fields.to }
        _modify {
            makeUnique()
            yield &storage.fields.to
        }
    }
    public var reason: String? {
        get { storage.fields.reason }
        _modify {
            makeUnique()
            yield &storage.fields.reason
        }
    }
    public var reference: String? {
        get { storage.fields.reference }
        _modify {
            makeUnique()
            yield &storage.fields.reference
        }
    }
    public var description: String? {
        get { storage.fields.description }
        _modify {
            makeUnique()
            yield &storage.fields.description
        }
    }
    /// The acting user (Colleqtive `AppUserName`, StoreFeeder `AssignedUserID`).
    public var user: String? {
        get { storage.fields.user }
        _modify {
            makeUnique()
            yield &storage.fields.user
        }
    }
    /// The system that started the movement (Colleqtive `source`).
    public var sourceSystem: String? {
        get { storage.fields.sourceSystem }
        _modify {
            makeUnique()
            yield &storage.fields.sourceSystem
        }
    }
    /// The caller's own id for the movement (Zettle `externalUuid`).
    public var externalID: String? {
        get { storage.fields.externalID }
        _modify {
            makeUnique()
            yield &storage.fields.externalID
        }
    }
    public var createdAt: Date? {
        get { storage.fields.createdAt }
        _modify {
            makeUnique()
            yield &storage.fields.createdAt
        }
    }
    /// When stock changed: the creation time, or the confirmation time of a pending transfer.
    public var appliedAt: Date? {
        get { storage.fields.appliedAt }
        _modify {
            makeUnique()
            yield &storage.fields.appliedAt
        }
    }
    public var state: MovementState {
        get { storage.fields.state }
        _modify {
            makeUnique()
            yield &storage.fields.state
        }
    }
    /// Allow the source stock location to go below zero.
    public var allowOverage: Bool {
        get { storage.fields.allowOverage }
        _modify {
            makeUnique()
            yield &storage.fields.allowOverage
        }
    }
    public var extras: MovementExtras {
        get { storage.fields.extras }
        _modify {
            makeUnique()
            yield &storage.fields.extras
        }
    }
    /// Set on a reversal: the id of the movement it undoes.
    public var reverses: Int64? {
        get { storage.fields.reverses }
        _modify {
            makeUnique()
            yield &storage.fields.reverses
        }
    }
    /// Journal facts: the dialect it came in by, the request id, the idempotency key.
    public var dialect: DialectID? {
        get { storage.fields.dialect }
        _modify {
            makeUnique()
            yield &storage.fields.dialect
        }
    }
    public var requestID: String? {
        get { storage.fields.requestID }
        _modify {
            makeUnique()
            yield &storage.fields.requestID
        }
    }
    public var idempotencyKey: String? {
        get { storage.fields.idempotencyKey }
        _modify {
            makeUnique()
            yield &storage.fields.idempotencyKey
        }
    }
    /// The remote backend the gateway forwarded it to; nil for the embedded ledger.
    public var backend: String? {
        get { storage.fields.backend }
        _modify {
            makeUnique()
            yield &storage.fields.backend
        }
    }
    /// Set when the movement carries a level command (see `StockLevel`).
    public var level: StockLevel? {
        get { storage.fields.level }
        _modify {
            makeUnique()
            yield &storage.fields.level
        }
    }
    /// Why a forwarded movement failed: the backend's refusal, as the caller was told it
    /// (journal state `failed`).
    public var failureReason: String? {
        get { storage.fields.failureReason }
        _modify {
            makeUnique()
            yield &storage.fields.failureReason
        }
    }
    /// Who settled an unknown outcome (journal state `sent`), as what, and why.
    public var settlementNote: String? {
        get { storage.fields.settlementNote }
        _modify {
            makeUnique()
            yield &storage.fields.settlementNote
        }
    }

    public init(
        id: Int64? = nil, product: String, quantity: Quantity, from: String, to: String, reason: String? = nil,
        reference: String? = nil, description: String? = nil, user: String? = nil, sourceSystem: String? = nil,
        externalID: String? = nil, createdAt: Date? = nil, appliedAt: Date? = nil, state: MovementState = .applied,
        allowOverage: Bool = false, extras: MovementExtras = MovementExtras(), reverses: Int64? = nil,
        dialect: DialectID? = nil, requestID: String? = nil, idempotencyKey: String? = nil, backend: String? = nil,
        level: StockLevel? = nil
    ) {
        storage = Storage(
            Fields(
                id: id, product: product, quantity: quantity, from: from, to: to, reason: reason, reference: reference,
                description: description, user: user, sourceSystem: sourceSystem, externalID: externalID,
                createdAt: createdAt, appliedAt: appliedAt, state: state, allowOverage: allowOverage, extras: extras,
                reverses: reverses, dialect: dialect, requestID: requestID, idempotencyKey: idempotencyKey,
                backend: backend, level: level, failureReason: nil, settlementNote: nil))
    }

    public static func == (lhs: Movement, rhs: Movement) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
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
