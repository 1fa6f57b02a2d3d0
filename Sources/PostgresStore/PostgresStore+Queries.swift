import Foundation
import NIOCore
import PostgresNIO
import StockCore

extension PostgresStore: MovementReader {
    public func movements(_ query: MovementQuery) async throws -> [Movement] {
        try await read { connection in
            var builder = QueryBuilder("\(Self.selectMovement) ")
            self.filter(query, into: &builder)
            builder.append(" ")
            self.order(query, into: &builder)
            if let limit = query.limit {
                builder.append(" LIMIT \(builder.bind(Int64(limit))) OFFSET \(builder.bind(Int64(query.offset)))")
            } else if query.offset > 0 {
                builder.append(" OFFSET \(builder.bind(Int64(query.offset)))")
            }
            return try await self.fetchMovements(connection, builder.query)
        }
    }

    public func count(_ query: MovementQuery) async throws -> Int {
        try await read { connection in
            var builder = QueryBuilder("SELECT COUNT(*) FROM movement ")
            self.filter(query, into: &builder)
            var count = 0
            for try await value in try await connection.query(builder.query, logger: self.logger).decode(Int64.self) {
                count = Int(value)
            }
            return count
        }
    }

    public func movement(id: Int64) async throws -> Movement? {
        try await read { connection in
            try await self.fetchMovements(connection, "\(unescaped: Self.selectMovement) WHERE id = \(id)").first
        }
    }

    public func balances(_ query: BalanceQuery) async throws -> [Balance] {
        if let products = query.products, products.isEmpty { return [] }
        return try await read { connection in
            var builder = QueryBuilder("SELECT product, location, quantity::text, updated_at FROM balance")
            var clauses: [String] = []
            if let products = query.products { clauses.append("product = ANY(\(builder.bind(products)))") }
            if let location = query.location { clauses.append("location = \(builder.bind(location))") }
            if !clauses.isEmpty { builder.append(" WHERE " + clauses.joined(separator: " AND ")) }
            builder.append(" ORDER BY product, location")
            var balances: [Balance] = []
            let rows = try await connection.query(builder.query, logger: self.logger)
            for try await (product, location, text, updated) in rows.decode((String, String, String, Int64?).self) {
                let quantity = try Self.quantity(text)
                if quantity.isZero && !query.includeZero { continue }
                balances.append(
                    Balance(product: product, location: location, quantity: quantity, updatedAt: updated.map(Self.date))
                )
            }
            return balances
        }
    }

    // MARK: Internals

    /// The columns of a movement, in the order `movement(from:)` reads them.
    static let selectMovement = """
        SELECT id, product, quantity::text, from_location, to_location, reason, reference, description, acting_user,
            source_system, external_id, created_at, applied_at, state, allow_overage, extras, reverses, dialect,
            request_id, idempotency_key, backend FROM movement
        """

    func fetchMovements(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> [Movement] {
        var movements: [Movement] = []
        for try await row in try await connection.query(query, logger: logger) {
            movements.append(try Self.movement(from: PostgresRandomAccessRow(row)))
        }
        return movements
    }

    static func movement(from row: PostgresRandomAccessRow) throws -> Movement {
        let extras = try row[15].decode(String?.self)
        var movement = Movement(
            id: try row[0].decode(Int64.self), product: try row[1].decode(String.self),
            quantity: try quantity(try row[2].decode(String.self)), from: try row[3].decode(String.self),
            to: try row[4].decode(String.self), reason: try row[5].decode(String?.self),
            reference: try row[6].decode(String?.self), description: try row[7].decode(String?.self),
            user: try row[8].decode(String?.self), sourceSystem: try row[9].decode(String?.self),
            externalID: try row[10].decode(String?.self), createdAt: date(try row[11].decode(Int64.self)),
            appliedAt: try row[12].decode(Int64?.self).map(date),
            state: MovementState(rawValue: try row[13].decode(String.self)) ?? .applied,
            allowOverage: try row[14].decode(Bool.self),
            reverses: try row[16].decode(Int64?.self), dialect: try row[17].decode(String?.self).map { DialectID($0) },
            requestID: try row[18].decode(String.self), idempotencyKey: try row[19].decode(String?.self),
            backend: try row[20].decode(String?.self))
        try movement.restoreExtras(extras)
        return movement
    }

    /// `WHERE …` for a query, the same conditions as the SQLite ledger's.
    func filter(_ query: MovementQuery, into builder: inout QueryBuilder) {
        var clauses: [String] = []
        if query.backend == MovementQuery.anyBackend {
            clauses.append("backend IS NOT NULL")
        } else if let backend = query.backend {
            clauses.append("backend = \(builder.bind(backend))")
        } else {
            clauses.append("backend IS NULL")
        }
        if let product = query.product { clauses.append("product = \(builder.bind(product))") }
        if let location = query.location {
            let bound = builder.bind(location)
            clauses.append("(from_location = \(bound) OR to_location = \(bound))")
        }
        if let after = query.afterID { clauses.append("id > \(builder.bind(after))") }
        if let from = query.createdFrom { clauses.append("created_at >= \(builder.bind(Self.millis(from)))") }
        if let to = query.createdTo { clauses.append("created_at <= \(builder.bind(Self.millis(to)))") }
        for pattern in query.keywordPatterns {
            clauses.append("description LIKE \(builder.bind(pattern)) ESCAPE '\\'")
        }
        if query.appliedOnly { clauses.append("state = 'applied' AND reverses IS NULL") }
        if let state = query.state { clauses.append("state = \(builder.bind(state.rawValue))") }
        if let requestID = query.requestID { clauses.append("request_id = \(builder.bind(requestID))") }
        builder.append("WHERE " + clauses.joined(separator: " AND "))
    }

    /// `ORDER BY …`: quantities by exact `numeric` value, signed as seen from the query's
    /// location when there is one.
    func order(_ query: MovementQuery, into builder: inout QueryBuilder) {
        var terms: [String] = []
        for sort in query.order {
            let column: String
            if sort.field != .quantity {
                column = sort.field.journalColumn
            } else if let location = query.location {
                column =
                    "(CASE WHEN to_location = \(builder.bind(location)) THEN movement.quantity ELSE -movement.quantity END)"
            } else {
                // Qualified: the output column `quantity::text` is also named quantity, and
                // ORDER BY would sort by that text.
                column = "movement.quantity"
            }
            terms.append(column + (sort.descending ? " DESC" : " ASC"))
        }
        if !query.order.contains(where: { $0.field == .id }) { terms.append("id ASC") }
        builder.append("ORDER BY " + terms.joined(separator: ", "))
    }
}

/// A query assembled from parts, each value bound as a parameter (`$n`), never spliced.
struct QueryBuilder {
    private var sql: String
    private var binds = PostgresBindings()

    init(_ sql: String) { self.sql = sql }

    mutating func append(_ text: String) { sql += text }

    /// Binds a value and returns its placeholder.
    mutating func bind<Value: PostgresNonThrowingEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
