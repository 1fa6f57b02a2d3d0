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

/// A customer order reference carried by Colleqtive on either end of a movement.
public struct CustomerOrderRef: Sendable, Equatable, Codable {
    public var orderNumber: String?
    public var lineNumber: Int?
    public var shipmentNumber: String?
    public var shipmentLineNumber: Int?

    public init(
        orderNumber: String? = nil, lineNumber: Int? = nil, shipmentNumber: String? = nil,
        shipmentLineNumber: Int? = nil
    ) {
        self.orderNumber = orderNumber
        self.lineNumber = lineNumber
        self.shipmentNumber = shipmentNumber
        self.shipmentLineNumber = shipmentLineNumber
    }

    public var isEmpty: Bool {
        orderNumber == nil && lineNumber == nil && shipmentNumber == nil && shipmentLineNumber == nil
    }
}

/// Optional facts some dialects carry with a movement; StockGate keeps them and passes them on.
public struct MovementExtras: Sendable, Equatable, Codable {
    /// StoreFeeder `StockLocationFromBatchReference`.
    public var batchReference: String?
    /// StoreFeeder `StockLocationFromExpiryDate`, as sent.
    public var expiryDate: String?
    /// StoreFeeder `StockLocationFromDeliveredDate`, as sent.
    public var deliveredDate: String?
    /// Colleqtive customer order references at the source and destination.
    public var fromOrder: CustomerOrderRef?
    public var toOrder: CustomerOrderRef?
    /// StoreFeeder `DissociateProductIfEmpty`.
    public var dissociateIfEmpty: Bool?
    /// StoreFeeder `IsSystem`.
    public var isSystem: Bool?
    /// Zettle `trackingStatusChange` (e.g. `START_TRACKING`).
    public var trackingStatusChange: String?

    public init(
        batchReference: String? = nil, expiryDate: String? = nil, deliveredDate: String? = nil,
        fromOrder: CustomerOrderRef? = nil, toOrder: CustomerOrderRef? = nil, dissociateIfEmpty: Bool? = nil,
        isSystem: Bool? = nil, trackingStatusChange: String? = nil
    ) {
        self.batchReference = batchReference
        self.expiryDate = expiryDate
        self.deliveredDate = deliveredDate
        self.fromOrder = fromOrder
        self.toOrder = toOrder
        self.dissociateIfEmpty = dissociateIfEmpty
        self.isSystem = isSystem
        self.trackingStatusChange = trackingStatusChange
    }

    public var isEmpty: Bool { self == MovementExtras() }
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
    public var dialect: String?
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
        dialect: String? = nil, requestID: String? = nil, idempotencyKey: String? = nil, backend: String? = nil,
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
