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

/// A movement as its journal row: one prepared `INSERT`, cached per connection.
///
/// Written by hand rather than through GRDB's `PersistableRecord`, which builds the column
/// list and looks its statement up anew for every row: ~194,000 instructions per insert
/// against ~139,000 here, two thirds of it SQLite's own work on the table and its indexes
/// (callgrind, a forwarded write; BENCHMARKS.md).
enum MovementRecord {
    static let insertSQL = """
        INSERT INTO movement (product, quantity, from_location, to_location, reason, reference, description,
        acting_user, source_system, external_id, created_at, applied_at, state, allow_overage, extras, reverses,
        dialect, request_id, idempotency_key, backend)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Inserts `movement`, created at `createdAt` (milliseconds since 1970, UTC), with its
    /// `MovementExtras` as JSON (nil when empty).
    /// - Returns: the new row's id.
    static func insert(_ movement: Movement, createdAt: Int64, extras: String?, db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(sql: insertSQL)
        let values: [(any DatabaseValueConvertible)?] = [
            movement.product, movement.quantity, movement.from, movement.to, movement.reason,
            movement.reference, movement.description, movement.user, movement.sourceSystem, movement.externalID,
            createdAt, movement.state == .applied ? createdAt : nil, movement.state.rawValue, movement.allowOverage,
            extras, movement.reverses, movement.dialect, movement.requestID, movement.idempotencyKey,
            movement.backend,
        ]
        statement.setUncheckedArguments(StatementArguments(values))
        try statement.execute()
        return db.lastInsertedRowID
    }
}
