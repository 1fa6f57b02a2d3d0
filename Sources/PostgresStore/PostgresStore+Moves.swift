import Foundation
import PostgresNIO
import StockCore

extension PostgresStore: LedgerStore, ForwardJournal {
    public var storeDescription: String { "shared PostgreSQL database" }

    public func move(_ batch: MoveBatch, facts: RequestFacts) async throws -> BatchOutcome {
        let now = clock()
        let checked: [GatewayError?] = batch.items.map { item -> GatewayError? in
            do throws(GatewayError) {
                try item.check(against: catalog)
                return nil
            } catch {
                return error
            }
        }
        if batch.atomicity == .allOrNothing, checked.contains(where: { $0 != nil }) {
            return BatchOutcome(items: checked.map { $0.map(BatchOutcome.Item.failed) ?? .notApplied })
        }
        let replaySince = Self.millis(now.addingTimeInterval(-idempotencyWindow))
        // Every movement well-formed: one statement, unless a balance lies outside the window
        // in which all of them are accepted.
        if !checked.contains(where: { $0 != nil }), let window = AcceptanceWindow(batch.items, catalog: catalog) {
            let stamp = Self.millis(now)
            let rows = batch.items.map { $0.journaled(atMillis: stamp, facts: facts) }
            switch try await writes.submit(
                WriteGroup.Write(window: window, rows: rows, facts: facts, stamp: stamp, replay: true), on: self)
            {
            case .written(let ids):
                guard ids.count == rows.count else {
                    throw GatewayError.internalError("the database journaled \(ids.count) of \(rows.count) movements")
                }
                return BatchOutcome(
                    items: zip(rows, ids).map { row, id in
                        var movement = row
                        movement.id = id
                        return .applied(movement)
                    })
            case .replayed(let ids):
                return BatchOutcome(items: try await movements(ids: ids).map { .applied($0) }, replayed: true)
            case .outsideWindow:
                break
            }
        }
        return try await moveLocked(batch, checked: checked, facts: facts, now: now, replaySince: replaySince)
    }

    /// The batch in one transaction with its balances locked: what a single statement could not
    /// write (a balance outside the acceptance window, a pending movement, a refused item).
    func moveLocked(
        _ batch: MoveBatch, checked: [GatewayError?], facts: RequestFacts, now: Date, replaySince: Int64
    ) async throws -> BatchOutcome {
        return try await transaction { connection in
            // A batch recorded before under the same key is answered, not applied again.
            if let key = facts.idempotencyKey {
                let earlier = try await self.fetchMovements(
                    connection,
                    "\(unescaped: Self.selectMovement) WHERE idempotency_key = \(key) AND reverses IS NULL AND backend IS NULL AND created_at >= \(replaySince) ORDER BY id"
                )
                if !earlier.isEmpty {
                    return (BatchOutcome(items: earlier.map { .applied($0) }, replayed: true), false)
                }
            }
            let live = batch.items.enumerated().filter { checked[$0.offset] == nil && $0.element.state != .pending }
            var held = try await self.lockBalances(
                connection, live.flatMap { BalanceChanges.keys(of: $0.element, catalog: self.catalog) })
            var changes = BalanceChanges()
            var accepted: [Bool] = []
            var items: [BatchOutcome.Item] = []
            var resolved = batch.items
            for (index, item) in batch.items.enumerated() {
                var failure = checked[index]
                if failure == nil && item.state != .pending {
                    do {
                        resolved[index] = try changes.apply(item, catalog: self.catalog) { product, location in
                            held[BalanceChanges.Key(product: product, location: location)] ?? .zero
                        }
                    } catch let error as GatewayError {
                        failure = error
                    }
                }
                accepted.append(failure == nil)
                items.append(failure.map(BatchOutcome.Item.failed) ?? .notApplied)
            }
            if batch.atomicity == .allOrNothing && accepted.contains(false) {
                return (BatchOutcome(items: items), false)
            }
            if !accepted.contains(true) { return (BatchOutcome(items: items), false) }
            try await self.writeBalances(connection, changes, now: now, into: &held)
            try await self.takeInsertLock(connection)
            for (index, item) in resolved.enumerated() where accepted[index] {
                items[index] = .applied(try await self.insert(connection, item, at: now, facts: facts))
            }
            return (BatchOutcome(items: items), true)
        }
    }

    public func confirm(id: Int64, facts: RequestFacts) async throws -> Movement {
        let now = clock()
        return try await transaction { connection in
            guard
                var movement = try await self.fetchMovements(
                    connection, "\(unescaped: Self.selectMovement) WHERE id = \(id) FOR UPDATE"
                ).first
            else {
                throw GatewayError.notFound("Transfer \(id) does not exist", field: "id")
            }
            guard movement.state == .pending else {
                throw GatewayError.conflict("Transfer \(id) is \(movement.state.rawValue), not pending", field: "id")
            }
            try await self.applyBalances(connection, of: [movement], now: now)
            let applied = Self.millis(now)
            try await connection.query(
                "UPDATE movement SET state = 'applied', applied_at = \(applied) WHERE id = \(id)", logger: self.logger)
            movement.state = .applied
            movement.appliedAt = Self.date(applied)
            return (movement, true)
        }
    }

    public func updateDescription(id: Int64, description: String) async throws -> Movement {
        try await transaction { connection in
            try await connection.query(
                "UPDATE movement SET description = \(description) WHERE id = \(id)", logger: self.logger)
            guard
                let movement = try await self.fetchMovements(
                    connection, "\(unescaped: Self.selectMovement) WHERE id = \(id)"
                ).first
            else {
                throw GatewayError.notFound("Movement \(id) does not exist", field: "id")
            }
            return (movement, true)
        }
    }

    public func delete(ids: [Int64], facts: RequestFacts) async throws -> [Int64] {
        let now = clock()
        return try await transaction { connection in
            var originals: [Movement] = []
            for id in ids where !originals.contains(where: { $0.id == id }) {
                guard
                    let original = try await self.fetchMovements(
                        connection, "\(unescaped: Self.selectMovement) WHERE id = \(id) FOR UPDATE"
                    ).first,
                    original.reverses == nil, original.backend == nil,
                    original.state == .applied || original.state == .pending
                else { continue }
                originals.append(original)
            }
            let reversals = originals.filter { $0.state == .applied }.map { original in
                Movement(
                    product: original.product, quantity: original.quantity, from: original.to, to: original.from,
                    reason: "reversal", reference: original.reference,
                    description: "reversal of movement \(original.id ?? 0)", allowOverage: true, reverses: original.id)
            }
            // Balances first, then the insert lock: the one lock order of every write.
            try await self.applyBalances(connection, of: reversals, now: now)
            if !reversals.isEmpty { try await self.takeInsertLock(connection) }
            for reversal in reversals { _ = try await self.insert(connection, reversal, at: now, facts: facts) }
            for original in originals {
                try await connection.query(
                    "UPDATE movement SET state = 'reversed' WHERE id = \(original.id ?? 0)", logger: self.logger)
            }
            return (originals.compactMap(\.id), true)
        }
    }

    public func journalForwarded(
        _ items: [Movement], backend: String, facts: RequestFacts, state: MovementState
    ) async throws -> [Movement] {
        let stamp = Self.millis(clock())
        let rows = items.map { item in
            var movement = item.journaled(atMillis: stamp, facts: facts)
            movement.backend = backend
            movement.state = state
            movement.appliedAt = state == .applied ? movement.createdAt : nil
            return movement
        }
        // Through the same group commit as the ledger's writes: no balances, no replay.
        let write = WriteGroup.Write(window: .none, rows: rows, facts: facts, stamp: stamp, replay: false)
        guard case .written(let ids) = try await writes.submit(write, on: self), ids.count == rows.count
        else { throw GatewayError.internalError("the database did not journal the forwarded movements") }
        return zip(rows, ids).map { row, id in
            var movement = row
            movement.id = id
            return movement
        }
    }

    @discardableResult
    public func settleForwarded(_ states: [(id: Int64, state: MovementState)]) async throws -> Date {
        let now = Self.millis(clock())
        let ids = states.map(\.id)
        let names = states.map(\.state.rawValue)
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE movement SET state = s.state,
                    applied_at = CASE WHEN s.state = 'applied' THEN \(now) ELSE movement.applied_at END
                FROM unnest(\(ids)::bigint[], \(names)::text[]) AS s(id, state)
                WHERE movement.id = s.id
                """, logger: self.logger)
            return ((), true)
        }
        return Self.date(now)
    }

    public func forwarded(idempotencyKey key: String, backend: String) async throws -> [Movement] {
        let since = Self.millis(clock().addingTimeInterval(-idempotencyWindow))
        return try await read { connection in
            try await self.fetchMovements(
                connection,
                "\(unescaped: Self.selectMovement) WHERE idempotency_key = \(key) AND backend = \(backend) AND reverses IS NULL AND created_at >= \(since) ORDER BY id"
            )
        }
    }

    public func markReversed(id: Int64) async throws {
        try await transaction { connection in
            try await connection.query("UPDATE movement SET state = 'reversed' WHERE id = \(id)", logger: self.logger)
            return ((), true)
        }
    }

    public func recordNotes(_ notes: [(id: Int64, note: JournalNote, text: String)]) async throws {
        guard !notes.isEmpty else { return }
        let ids = notes.map(\.id)
        let keys = notes.map(\.note.rawValue)
        let texts = notes.map(\.text)
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE movement SET extras = (COALESCE(movement.extras, '{}')::jsonb || jsonb_build_object(r.key, r.text))::text
                FROM unnest(\(ids)::bigint[], \(keys)::text[], \(texts)::text[]) AS r(id, key, text)
                WHERE movement.id = r.id
                """, logger: self.logger)
            return ((), true)
        }
    }

    public func recordLevelResolution(id: Int64, as movement: Movement) async throws {
        let extras = try movement.storedExtras()
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE movement SET quantity = \(movement.quantity.description)::numeric, from_location = \(movement.from),
                    to_location = \(movement.to), extras = \(extras)
                WHERE id = \(id)
                """, logger: self.logger)
            return ((), true)
        }
    }

    public func reset() async throws {
        try await transaction { connection in
            try await connection.query(
                """
                TRUNCATE movement, balance, idempotency, idempotency_claim, tracking, webhook_subscription,
                    webhook_message RESTART IDENTITY
                """,
                logger: self.logger)
            return ((), true)
        }
        logger.warning("database reset for testing")
    }

    public var healthProblem: String? { unreachable.withLock { $0 } }
    public var probesOverNetwork: Bool { true }

    /// `SELECT 1` on a pooled connection, given a second.
    public func probe() async -> String? {
        let answered = await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                do {
                    try await self.read { connection in _ = try await connection.query("SELECT 1", logger: self.logger)
                    }
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        switch answered {
        case true?: return nil
        case false?: return healthProblem ?? "the stock database is unreachable"
        case nil:
            unreachable.withLock { $0 = "the stock database did not answer within a second" }
            return "the stock database did not answer within a second"
        }
    }

    // MARK: Internals

    /// The balances at `keys`, locked for this transaction in one sorted order; a missing row
    /// is created at zero first, so that it can be locked too.
    func lockBalances(
        _ connection: PostgresConnection, _ keys: [BalanceChanges.Key]
    ) async throws -> [BalanceChanges.Key: Quantity] {
        let sorted = Array(Set(keys)).sorted()
        guard !sorted.isEmpty else { return [:] }
        var held: [BalanceChanges.Key: Quantity] = [:]
        for key in sorted {
            try await connection.query(
                """
                INSERT INTO balance (product, location, quantity) VALUES (\(key.product), \(key.location), 0)
                ON CONFLICT (product, location) DO NOTHING
                """, logger: logger)
            let rows = try await connection.query(
                """
                SELECT quantity::text FROM balance WHERE product = \(key.product) AND location = \(key.location)
                FOR UPDATE
                """, logger: logger)
            for try await text in rows.decode(String.self) { held[key] = try Self.quantity(text) }
        }
        return held
    }

    /// Writes each changed balance once (the rows are locked by `lockBalances`).
    func writeBalances(
        _ connection: PostgresConnection, _ changes: BalanceChanges, now: Date,
        into held: inout [BalanceChanges.Key: Quantity]
    ) async throws {
        var updates: [(BalanceChanges.Key, Quantity)] = []
        try changes.write { product, location, quantity in
            updates.append((BalanceChanges.Key(product: product, location: location), quantity))
        }
        let stamp = Self.millis(now)
        for (key, quantity) in updates {
            try await connection.query(
                """
                UPDATE balance SET quantity = \(quantity.description)::numeric, updated_at = \(stamp)
                WHERE product = \(key.product) AND location = \(key.location)
                """, logger: logger)
            held[key] = quantity
        }
    }

    /// Locks, checks and changes the balances of movements that are applied now.
    func applyBalances(_ connection: PostgresConnection, of movements: [Movement], now: Date) async throws {
        guard !movements.isEmpty else { return }
        var held = try await lockBalances(
            connection, movements.flatMap { BalanceChanges.keys(of: $0, catalog: catalog) })
        var changes = BalanceChanges()
        for movement in movements {
            try changes.apply(movement, catalog: catalog) { product, location in
                held[BalanceChanges.Key(product: product, location: location)] ?? .zero
            }
        }
        try await writeBalances(connection, changes, now: now, into: &held)
    }

    func takeInsertLock(_ connection: PostgresConnection) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.insertLock))", logger: logger)
    }

    /// Inserts one journal row and returns the movement as stored.
    func insert(
        _ connection: PostgresConnection, _ item: Movement, at now: Date, facts: RequestFacts
    ) async throws
        -> Movement
    {
        let created = Self.millis(now)
        var movement = item.journaled(atMillis: created, facts: facts)
        let extras = try movement.storedExtras()
        let applied: Int64? = movement.state == .applied ? created : nil
        let rows = try await connection.query(
            """
            INSERT INTO movement (product, quantity, from_location, to_location, reason, reference, description,
                acting_user, source_system, external_id, created_at, applied_at, state, allow_overage, extras,
                reverses, dialect, request_id, idempotency_key)
            VALUES (\(movement.product), \(movement.quantity.description)::numeric, \(movement.from), \(movement.to),
                \(movement.reason), \(movement.reference), \(movement.description), \(movement.user),
                \(movement.sourceSystem), \(movement.externalID), \(created), \(applied), \(movement.state.rawValue),
                \(movement.allowOverage), \(extras), \(movement.reverses), \(facts.dialect.rawValue), \(facts.requestID),
                \(facts.idempotencyKey))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { movement.id = id }
        return movement
    }

    static func quantity(_ text: String) throws -> Quantity {
        do {
            return try Quantity(parsing: text)
        } catch {
            throw GatewayError.internalError("corrupt quantity '\(text)' in the database")
        }
    }
}
