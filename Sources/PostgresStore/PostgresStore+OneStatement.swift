import Foundation
import PostgresNIO
import StockCore

/// Writes in one round trip.
///
/// Measured first (BENCHMARKS.md, "PostgreSQL"): a write as a transaction of single-row
/// statements cost one round trip per balance and per journal row, each ~150 µs of the
/// gateway's CPU in postgres-nio and the event loops, and held the balance rows locked across
/// all of them — 567 single movements/s. As one call of `stockgate_write` (migration 2) a write
/// is one statement in its own implicit transaction: the rows stay locked for the statement and
/// its commit only.
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

    /// Runs `stockgate_write` once (again after a deadlock or a serialization failure).
    ///
    /// A connection lost with the statement on its way is an unknown outcome (504), never
    /// `unavailable`: the statement commits on its own, and may have.
    func writeInOneStatement(
        window: AcceptanceWindow?, rows: [Movement], facts: RequestFacts, stamp: Int64, replaySince: Int64?
    ) async throws -> OneStatementResult {
        let balances = JSONWriter.string(
            .array(
                (window?.entries ?? []).map { entry in
                    [
                        "product": .string(entry.key.product), "location": .string(entry.key.location),
                        "delta": .number(entry.delta.description), "low": .number(entry.low.description),
                        "high": .number(entry.high.description),
                    ]
                }))
        let journal = JSONWriter.string(.array(try rows.map(Self.journalRow)))
        var attempt = 0
        while true {
            attempt += 1
            do {
                let result = try await withLease { connection -> OneStatementResult in
                    let answer = try await connection.query(
                        """
                        SELECT movement_id, replayed FROM stockgate_write(\(balances)::jsonb, \(journal)::jsonb,
                            \(stamp), \(Self.insertLock), \(facts.dialect), \(facts.requestID),
                            \(facts.idempotencyKey), \(replaySince))
                        """, logger: self.logger)
                    var ids: [Int64] = []
                    var replayed = false
                    for try await (id, again) in answer.decode((Int64, Bool).self) {
                        ids.append(id)
                        replayed = again
                    }
                    return replayed ? .replayed(ids) : .written(ids)
                }
                reached()
                return result
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "SG001" {
                reached()
                return .outsideWindow
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < 3 {
                continue
            } catch let error as PSQLError
                where error.serverInfo == nil && error.code != .clientClosedConnection && error.code != .poolClosed
            {
                unreachable.withLock { $0 = "the stock database connection was lost" }
                logger.warning("database connection lost during a write", metadata: ["error": "\(error.code)"])
                throw GatewayError(
                    code: .unknownOutcome,
                    message:
                        "the stock database connection was lost during the write; it may or may not be applied")
            } catch {
                throw translated(error)
            }
        }
    }

    /// A journal row as `stockgate_write` reads it (its stamp, dialect, request id and key
    /// come with the call; `applied` stamps `applied_at` with the call's stamp).
    static func journalRow(_ movement: Movement) throws -> JSONValue {
        [
            "product": .string(movement.product), "quantity": .number(movement.quantity.description),
            "from": .string(movement.from), "to": .string(movement.to), "reason": .optional(movement.reason),
            "reference": .optional(movement.reference), "description": .optional(movement.description),
            "user": .optional(movement.user), "source": .optional(movement.sourceSystem),
            "external_id": .optional(movement.externalID),
            "applied": .bool(movement.appliedAt != nil),
            "state": .string(movement.state.rawValue), "allow_overage": .bool(movement.allowOverage),
            "extras": .optional(movement.extras.isEmpty ? nil : try MovementExtras.json(movement.extras)),
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
