import GRDB
import StockCore

/// Quantities are stored as their exact decimal text (never a double) and sorted by value
/// through `Ledger.decimalCollation`.
extension Quantity: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { description.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Quantity? {
        String.fromDatabaseValue(dbValue).flatMap { try? Quantity(parsing: $0) }
    }
}

/// A movement as its journal row, each value under its column's name.
struct MovementRecord: PersistableRecord {
    static let databaseTableName = "movement"

    var movement: Movement
    /// Milliseconds since 1970, UTC.
    var createdAt: Int64
    /// `MovementExtras` as JSON, nil when empty.
    var extras: String?

    func encode(to container: inout PersistenceContainer) throws {
        container["product"] = movement.product
        container["quantity"] = movement.quantity
        container["from_location"] = movement.from
        container["to_location"] = movement.to
        container["reason"] = movement.reason
        container["reference"] = movement.reference
        container["description"] = movement.description
        container["acting_user"] = movement.user
        container["source_system"] = movement.sourceSystem
        container["external_id"] = movement.externalID
        container["created_at"] = createdAt
        container["applied_at"] = movement.state == .applied ? createdAt : nil
        container["state"] = movement.state.rawValue
        container["allow_overage"] = movement.allowOverage
        container["extras"] = extras
        container["reverses"] = movement.reverses
        container["dialect"] = movement.dialect
        container["request_id"] = movement.requestID
        container["idempotency_key"] = movement.idempotencyKey
        container["backend"] = movement.backend
    }
}
