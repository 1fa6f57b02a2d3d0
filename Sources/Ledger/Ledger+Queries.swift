import Foundation
import GRDB
import StockCore

extension Ledger {
    /// Movements of the journal that match `query`, in its order.
    public func movements(_ query: MovementQuery) async throws -> [Movement] {
        try await writer.read { db in
            var sql: SQL = "SELECT * FROM movement \(Self.whereClause(query)) \(Self.orderClause(query))"
            if let limit = query.limit {
                sql += " LIMIT \(limit) OFFSET \(query.offset)"
            } else if query.offset > 0 {
                sql += " LIMIT -1 OFFSET \(query.offset)"
            }
            return try Row.fetchAll(db, SQLRequest(literal: sql)).map(Self.movement(from:))
        }
    }

    /// How many movements match `query` (its order, offset and limit are ignored).
    public func count(_ query: MovementQuery) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, SQLRequest(literal: "SELECT COUNT(*) FROM movement \(Self.whereClause(query))")) ?? 0
        }
    }

    /// One movement, or nil.
    public func movement(id: Int64) async throws -> Movement? {
        try await writer.read { db in try self.fetchMovement(id: id, db: db) }
    }

    /// Balances of stock locations, ordered by product then location.
    public func balances(_ query: BalanceQuery) async throws -> [Balance] {
        try await writer.read { db in
            var clauses: [SQL] = []
            if let products = query.products {
                if products.isEmpty { return [] }
                clauses.append("product IN \(products)")
            }
            if let location = query.location {
                clauses.append("location = \(location)")
            }
            let filter: SQL = clauses.isEmpty ? "" : "WHERE \(clauses.joined(operator: .and))"
            let rows = try Row.fetchAll(
                db,
                SQLRequest(
                    literal:
                        "SELECT product, location, quantity, updated_at FROM balance \(filter) ORDER BY product, location"
                ))
            return try rows.compactMap { row in
                let quantity = try Self.quantity(row["quantity"])
                if quantity.isZero && !query.includeZero { return nil }
                let updated: Int64? = row["updated_at"]
                return Balance(
                    product: row["product"], location: row["location"], quantity: quantity,
                    updatedAt: updated.map(Self.date))
            }
        }
    }

    // MARK: Internals

    func fetchMovement(id: Int64, db: Database) throws -> Movement? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM movement WHERE id = ?")
        return try Row.fetchOne(statement, arguments: [id]).map(Self.movement(from:))
    }

    /// `WHERE …` for a query, its values bound through SQL interpolation.
    static func whereClause(_ query: MovementQuery) -> SQL {
        var clauses: [SQL] = []
        if query.backend == MovementQuery.anyBackend {
            clauses.append("backend IS NOT NULL")
        } else if let backend = query.backend {
            clauses.append("backend = \(backend)")
        } else {
            clauses.append("backend IS NULL")
        }
        if let product = query.product {
            clauses.append("product = \(product)")
        }
        if let location = query.location {
            clauses.append("(from_location = \(location) OR to_location = \(location))")
        }
        if let after = query.afterID {
            clauses.append("id > \(after)")
        }
        if let from = query.createdFrom {
            clauses.append("created_at >= \(millis(from))")
        }
        if let to = query.createdTo {
            clauses.append("created_at <= \(millis(to))")
        }
        for pattern in query.keywordPatterns {
            clauses.append("description LIKE \(pattern) ESCAPE '\\'")
        }
        if query.appliedOnly {
            clauses.append("state = 'applied' AND reverses IS NULL")
        }
        if let state = query.state {
            clauses.append("state = \(state.rawValue)")
        }
        if let requestID = query.requestID {
            clauses.append("request_id = \(requestID)")
        }
        return "WHERE \(clauses.joined(operator: .and))"
    }

    /// `ORDER BY` for a query; quantities sort by exact value (`Ledger.decimalCollation`),
    /// signed as seen from `query.location` when there is one (so Open2b's signed adjustments
    /// sort as Open2b shows them).
    static func orderClause(_ query: MovementQuery) -> SQL {
        var terms: [SQL] = []
        for sort in query.order {
            let column: SQL
            if sort.field != .quantity {
                column = SQL(sql: sort.field.journalColumn)
            } else if let location = query.location {
                column =
                    "(CASE WHEN to_location = \(location) THEN quantity ELSE '-' || quantity END) COLLATE stockgate_decimal"
            } else {
                column = "quantity COLLATE stockgate_decimal"
            }
            terms.append(sort.descending ? "\(column) DESC" : "\(column) ASC")
        }
        if !query.order.contains(where: { $0.field == .id }) { terms.append("id ASC") }
        return "ORDER BY \(terms.joined(separator: ", "))"
    }

    static func movement(from row: Row) throws -> Movement {
        let extrasText: String? = row["extras"]
        let state: String = row["state"]
        let applied: Int64? = row["applied_at"]
        var movement = Movement(
            id: row["id"], product: row["product"], quantity: try quantity(row["quantity"]),
            from: row["from_location"], to: row["to_location"], reason: row["reason"], reference: row["reference"],
            description: row["description"], user: row["acting_user"], sourceSystem: row["source_system"],
            externalID: row["external_id"], createdAt: date(row["created_at"]), appliedAt: applied.map(date),
            state: MovementState(rawValue: state) ?? .applied, allowOverage: row["allow_overage"],
            reverses: row["reverses"], dialect: row["dialect"], requestID: row["request_id"],
            idempotencyKey: row["idempotency_key"], backend: row["backend"])
        try movement.restoreExtras(extrasText)
        return movement
    }

    static func quantity(_ text: String) throws -> Quantity {
        do {
            return try Quantity(parsing: text)
        } catch {
            throw GatewayError.internalError("corrupt quantity '\(text)' in the ledger")
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

}
