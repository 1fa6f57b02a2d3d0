import GRDB
import GRDBSQLite
import StockCore

/// Quantities are stored as their exact decimal text (never a double) and sorted by value
/// through `Ledger.decimalCollation`.
extension Quantity: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { description.databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Quantity? {
        String.fromDatabaseValue(dbValue).flatMap { try? Quantity(parsing: $0) }
    }
}

/// A movement as its journal row: one prepared `INSERT`, cached per connection, its values
/// bound through SQLite's C API.
///
/// Written by hand rather than through GRDB's `PersistableRecord`, which builds the column
/// list and looks its statement up anew for every row: ~194,000 instructions per insert
/// against ~139,000 through `StatementArguments`, two thirds of it SQLite's own work on the
/// table and its indexes (callgrind, a forwarded write; BENCHMARKS.md). `StatementArguments`
/// itself boxed the 20 values, mapped them through an unspecialized generic and copied each
/// string into a C array before binding it: ~40,000 of those.
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
        var values = Bindings(statement)
        try values.text(movement.product)
        try values.text(movement.quantity.description)
        try values.text(movement.from)
        try values.text(movement.to)
        try values.text(movement.reason)
        try values.text(movement.reference)
        try values.text(movement.description)
        try values.text(movement.user)
        try values.text(movement.sourceSystem)
        try values.text(movement.externalID)
        try values.integer(createdAt)
        try values.integer(movement.state == .applied ? createdAt : nil)
        try values.text(movement.state.rawValue)
        try values.integer(movement.allowOverage ? 1 : 0)
        try values.text(extras)
        try values.integer(movement.reverses)
        try values.text(movement.dialect?.rawValue)
        try values.text(movement.requestID)
        try values.text(movement.idempotencyKey)
        try values.text(movement.backend)
        try statement.execute()
        return db.lastInsertedRowID
    }
}

/// A prepared statement's parameters bound in order from the first, as GRDB binds them (text
/// copied by SQLite, integers as 64-bit, nil as NULL); `statement.execute()` then runs it.
struct Bindings {
    private let statement: Statement
    private var index: Int32 = 1

    /// Resets `statement` and clears its parameters. GRDB takes them as set (no arguments of
    /// its own to check), and SQLite keeps what is bound here until the next reset of this kind.
    init(_ statement: Statement) {
        statement.setUncheckedArguments(StatementArguments())
        self.statement = statement
    }

    /// SQLite copies the bytes before the call returns (`SQLITE_TRANSIENT`).
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    mutating func text(_ value: String?) throws {
        let handle = statement.sqliteStatement
        guard var value else { return try check(sqlite3_bind_null(handle, index)) }
        // An empty string is '': bound from a literal, since an empty buffer may have no address
        // and a nil pointer would bind NULL.
        if value.isEmpty { return try check(sqlite3_bind_text(handle, index, "", 0, Self.transient)) }
        let code = value.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                sqlite3_bind_text(handle, index, chars.baseAddress, Int32(chars.count), Self.transient)
            }
        }
        try check(code)
    }

    mutating func integer(_ value: Int64?) throws {
        guard let value else { return try check(sqlite3_bind_null(statement.sqliteStatement, index)) }
        try check(sqlite3_bind_int64(statement.sqliteStatement, index, value))
    }

    private mutating func check(_ code: Int32) throws {
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "binding parameter \(index)")
        }
        index += 1
    }
}
