import Foundation
import PostgresNIO
import StockCore

/// Writes in one round trip.
///
/// Measured first (BENCHMARKS.md, "PostgreSQL"): a write as a transaction of single-row
/// statements cost one round trip per balance and per journal row, each ~150 µs of the
/// gateway's CPU in postgres-nio and the event loops, and held the balance rows locked across
/// all of them — 567 single movements/s. As one statement in its own implicit transaction
/// (`stockgate_write`, migration 2, since replaced by `stockgate_write_group`, migration 3,
/// which `WriteGroup` calls for all the writes that arrive together) the rows stay locked for
/// the statement and its commit only.
///
/// The rules stay in Swift: `AcceptanceWindow` says, from `BalanceChanges.apply`, for which
/// stored balances every movement is accepted; the function only locks, compares and adds.
/// A balance outside its window (a refusal is likely) sends the write down the general path,
/// the transaction that runs `BalanceChanges` on the locked rows.
extension PostgresStore {
    enum OneStatementResult {
        /// The journal ids of the rows, in their order.
        case written([Int64])
        /// Movements journaled before under the key (ids in order); nothing written.
        case replayed([Int64])
        /// A balance lies outside the window; nothing written.
        case outsideWindow
    }

    /// A journal row as the write functions read it (its stamp, dialect, request id and key
    /// come with its write; `applied` stamps `applied_at` with the write's stamp).
    static func journalRow(_ movement: Movement) throws -> JSONValue {
        [
            "product": .string(movement.product), "quantity": .number(movement.quantity.description),
            "from": .string(movement.from), "to": .string(movement.to), "reason": .optional(movement.reason),
            "reference": .optional(movement.reference), "description": .optional(movement.description),
            "user": .optional(movement.user), "source": .optional(movement.sourceSystem),
            "external_id": .optional(movement.externalID),
            "applied": .bool(movement.appliedAt != nil),
            "state": .string(movement.state.rawValue), "allow_overage": .bool(movement.allowOverage),
            "extras": .optional(try movement.storedExtras()),
            "reverses": movement.reverses.map { .integer($0) } ?? .null, "backend": .optional(movement.backend),
        ]
    }

    /// The journal rows with these ids, in id order.
    func movements(ids: [Int64]) async throws -> [Movement] {
        try await read { connection in
            try await self.fetchMovements(
                connection, "\(unescaped: Self.selectMovement) WHERE id = ANY(\(ids)) ORDER BY id")
        }
    }
}
