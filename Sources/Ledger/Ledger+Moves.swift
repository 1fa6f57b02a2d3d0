import Foundation
import GRDB
import StockCore

extension Ledger {
    /// Records a batch in one transaction.
    ///
    /// Items are applied in order, each in a savepoint. A per-item batch commits the items
    /// that succeeded; an all-or-nothing batch with any failure rolls everything back and
    /// reports the other items as `notApplied`.
    public func move(_ batch: MoveBatch, facts: RequestFacts) async throws -> BatchOutcome {
        let now = clock()
        // Validation against the catalog needs no database: do it before taking the writer.
        let checked: [GatewayError?] = batch.items.map { item -> GatewayError? in
            do throws(GatewayError) {
                try item.check(against: self.catalog)
                return nil
            } catch {
                return error
            }
        }
        if batch.atomicity == .allOrNothing, checked.contains(where: { $0 != nil }) {
            return BatchOutcome(items: checked.map { $0.map(BatchOutcome.Item.failed) ?? .notApplied })
        }
        let outcome = try await write { db -> BatchOutcome in
            // A batch recorded before under the same key is answered, not applied again.
            if let key = facts.idempotencyKey {
                let earlier = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM movement WHERE idempotency_key = ? AND reverses IS NULL AND backend IS NULL
                        AND created_at >= ? ORDER BY id
                        """,
                    arguments: [key, Self.millis(now.addingTimeInterval(-self.idempotencyWindow))])
                if !earlier.isEmpty {
                    return BatchOutcome(
                        items: try earlier.map { .applied(try Self.movement(from: $0)) }, replayed: true)
                }
            }
            // Every check first, against balances read once and changed in memory in item order;
            // then each changed balance written once and the journal rows inserted. A refused
            // item has written nothing, so no savepoint is needed to take it back.
            var changes = BalanceChanges()
            var accepted: [Bool] = []
            accepted.reserveCapacity(batch.items.count)
            var items: [BatchOutcome.Item] = []
            items.reserveCapacity(batch.items.count)
            var resolved = batch.items
            for (index, item) in batch.items.enumerated() {
                var failure = checked[index]
                if failure == nil && item.state != .pending {
                    do {
                        resolved[index] = try changes.apply(item, catalog: self.catalog) { product, location in
                            try self.balance(product: product, location: location, db: db)
                        }
                    } catch let error as GatewayError {
                        failure = error
                    }
                }
                accepted.append(failure == nil)
                items.append(failure.map(BatchOutcome.Item.failed) ?? .notApplied)
            }
            if batch.atomicity == .allOrNothing && accepted.contains(false) {
                return BatchOutcome(items: items)
            }
            try changes.write { product, location, quantity in
                try self.setBalance(product: product, location: location, quantity, db: db)
            }
            for (index, item) in resolved.enumerated() where accepted[index] {
                items[index] = .applied(try self.insert(item, at: now, facts: facts, db: db))
            }
            return BatchOutcome(items: items)
        }
        let applied = outcome.appliedCount
        if applied > 0 {
            logger.debug(
                "movements recorded",
                metadata: ["count": "\(applied)", "dialect": "\(facts.dialect)", "request_id": "\(facts.requestID)"])
        }
        return outcome
    }

    /// Applies a pending transfer now.
    public func confirm(id: Int64, facts: RequestFacts) async throws -> Movement {
        let now = clock()
        return try await write { db in
            guard var movement = try self.fetchMovement(id: id, db: db) else {
                throw GatewayError.notFound("Transfer \(id) does not exist", field: "id")
            }
            guard movement.state == .pending else {
                throw GatewayError.conflict("Transfer \(id) is \(movement.state.rawValue), not pending", field: "id")
            }
            try self.changeBalances(for: movement, db: db)
            try db.execute(
                sql: "UPDATE movement SET state = 'applied', applied_at = ? WHERE id = ?",
                arguments: [Self.millis(now), id])
            movement.state = .applied
            movement.appliedAt = Self.date(Self.millis(now))
            return movement
        }
    }

    /// Changes the description of a movement, and nothing else.
    public func updateDescription(id: Int64, description: String) async throws -> Movement {
        try await write { db in
            try db.execute(sql: "UPDATE movement SET description = ? WHERE id = ?", arguments: [description, id])
            guard db.changesCount > 0, let movement = try self.fetchMovement(id: id, db: db) else {
                throw GatewayError.notFound("Movement \(id) does not exist", field: "id")
            }
            return movement
        }
    }

    /// Deletes movements by undoing them: each gets a reversal movement (allowed to overdraw,
    /// since it restores an earlier state) and is marked `reversed`, so balances always equal
    /// the sum of the journal. Ids that do not exist, are already reversed, or are reversals
    /// themselves are skipped. Returns the ids actually deleted.
    public func delete(ids: [Int64], facts: RequestFacts) async throws -> [Int64] {
        let now = clock()
        return try await write { db in
            var deleted: [Int64] = []
            for id in ids where !deleted.contains(id) {
                guard let original = try self.fetchMovement(id: id, db: db), original.reverses == nil,
                    original.backend == nil
                else { continue }
                switch original.state {
                case .reversed, .sent, .failed:
                    continue
                case .pending:
                    // Never applied: nothing to undo in the balances.
                    try db.execute(sql: "UPDATE movement SET state = 'reversed' WHERE id = ?", arguments: [id])
                case .applied:
                    let reversal = Movement(
                        product: original.product, quantity: original.quantity, from: original.to, to: original.from,
                        reason: "reversal", reference: original.reference,
                        description: "reversal of movement \(id)", allowOverage: true, reverses: id)
                    _ = try self.record(reversal, at: now, facts: facts, db: db)
                    try db.execute(sql: "UPDATE movement SET state = 'reversed' WHERE id = ?", arguments: [id])
                }
                deleted.append(id)
            }
            return deleted
        }
    }

    /// Journals movements about to be forwarded to a remote backend, in state `sent` (or the
    /// state given): rows for the gateway's own queries, with no effect on the embedded balances.
    /// - Returns: the movements as stored, with their journal ids.
    public func journalForwarded(
        _ items: [Movement], backend: String, facts: RequestFacts, state: MovementState
    ) async throws -> [Movement] {
        let now = clock()
        // A keyed write's `sent` rows are on disk before it is sent: they are what keeps a resend
        // from being applied twice. An unkeyed write promises no such thing: its rows commit
        // without waiting for the disk and reach it with the next durable commit (its settlement,
        // normally). A crash of the process loses none of them; only an OS crash or power loss
        // in between can lose the trace of an unkeyed write whose outcome nobody was told.
        let durable = facts.idempotencyKey != nil || state != .sent
        return try await commits.write(durable: durable) { db in
            try items.map { try self.insert($0, at: now, facts: facts, db: db, forwardedTo: backend, state: state) }
        }
    }

    /// Settles forwarded movements from the backend's answer.
    /// - Returns: the time recorded as `appliedAt` for those now applied.
    @discardableResult
    public func settleForwarded(_ states: [(id: Int64, state: MovementState)]) async throws -> Date {
        let now = Self.millis(clock())
        return try await write { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE movement SET state = ?1, applied_at = CASE WHEN ?1 = 'applied' THEN ?2 ELSE applied_at END
                    WHERE id = ?3
                    """)
            for (id, state) in states {
                var values = Bindings(statement)
                try values.text(state.rawValue)
                try values.integer(now)
                try values.integer(id)
                try statement.execute()
            }
            return Self.date(now)
        }
    }

    /// Movements forwarded to `backend` under an idempotency key, in every state (`sent`,
    /// `applied`, `failed`, `reversed`; reversals themselves left out), oldest first: the one
    /// truth about what became of a keyed write, whatever answer the caller was given.
    public func forwarded(idempotencyKey key: String, backend: String) async throws -> [Movement] {
        let since = Self.millis(clock().addingTimeInterval(-idempotencyWindow))
        return try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM movement WHERE idempotency_key = ? AND backend = ? AND reverses IS NULL
                    AND created_at >= ? ORDER BY id
                    """,
                arguments: [key, backend, since]
            ).map(Self.movement(from:))
        }
    }

    /// Marks a forwarded movement reversed (its reversal was sent and journaled).
    public func markReversed(id: Int64) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE movement SET state = 'reversed' WHERE id = ?", arguments: [id])
        }
    }

    public func recordNotes(_ notes: [(id: Int64, note: JournalNote, text: String)]) async throws {
        guard !notes.isEmpty else { return }
        try await write { db in
            for (id, note, text) in notes {
                // The key is the enum's own raw value, never caller text.
                try db.execute(
                    sql:
                        "UPDATE movement SET extras = json_set(COALESCE(extras, '{}'), '$.\(note.rawValue)', ?) WHERE id = ?",
                    arguments: [text, id])
            }
        }
    }

    public func recordLevelResolution(id: Int64, as movement: Movement) async throws {
        let extras = try movement.storedExtras()
        try await write { db in
            try db.execute(
                sql: "UPDATE movement SET quantity = ?, from_location = ?, to_location = ?, extras = ? WHERE id = ?",
                arguments: [movement.quantity, movement.from, movement.to, extras, id])
        }
    }

    /// Empties the ledger: no movements, no balances, ids from 1 again, no stored answers of
    /// idempotency keys, every product tracked again — what PostgreSQL's reset truncates too.
    /// Only for contract testing (`serve --enable-test-reset`); never wired in a normal run.
    public func reset() async throws {
        try await write { db in
            try db.execute(
                sql: """
                    DELETE FROM balance; DELETE FROM movement; DELETE FROM sqlite_sequence WHERE name = 'movement';
                    DELETE FROM idempotency; DELETE FROM tracking; DELETE FROM webhook_subscription;
                    DELETE FROM webhook_message
                    """)
        }
        logger.warning("ledger reset for testing")
    }

    // MARK: Internals

    /// Inserts one movement (applying it unless pending) and returns it as stored.
    /// The caller has validated `item`.
    func record(_ item: Movement, at now: Date, facts: RequestFacts, db: Database) throws -> Movement {
        if item.state != .pending { try changeBalances(for: item, db: db) }
        return try insert(item, at: now, facts: facts, db: db)
    }

    /// Writes the journal row only: a movement of the embedded ledger, or one forwarded to
    /// `backend` in `state`.
    func insert(
        _ item: Movement, at now: Date, facts: RequestFacts, db: Database, forwardedTo backend: String? = nil,
        state: MovementState? = nil
    ) throws -> Movement {
        let created = Self.millis(now)
        var movement = item.journaled(atMillis: created, facts: facts)
        if let backend, let state {
            movement.backend = backend
            movement.state = state
            if state != .applied { movement.appliedAt = nil }
        }
        let extras = try movement.storedExtras()
        movement.id = try MovementRecord.insert(movement, createdAt: created, extras: extras, db: db)
        return movement
    }

    /// Takes the quantity out of a stock source and puts it into a stock destination.
    func changeBalances(for movement: Movement, db: Database) throws {
        var changes = BalanceChanges()
        try changes.apply(movement, catalog: catalog) { product, location in
            try self.balance(product: product, location: location, db: db)
        }
        try changes.write { product, location, quantity in
            try self.setBalance(product: product, location: location, quantity, db: db)
        }
    }

    func balance(product: String, location: String, db: Database) throws -> Quantity {
        let statement = try db.cachedStatement(sql: "SELECT quantity FROM balance WHERE product = ? AND location = ?")
        guard let text = try String.fetchOne(statement, arguments: [product, location]) else { return .zero }
        return try Self.quantity(text)
    }

    func setBalance(product: String, location: String, _ quantity: Quantity, db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO balance (product, location, quantity, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (product, location) DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at
                """)
        try statement.execute(arguments: [product, location, quantity, Self.millis(clock())])
    }
}
