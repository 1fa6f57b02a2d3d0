import Foundation
import NIOCore
import PostgresNIO
import StockCore

extension PostgresStore: ResponseStore, TrackingStore {
    public func storedResponse(dialect: DialectID, key: String, since: Date) async throws -> StoredResponse? {
        let cutoff = Self.millis(since)
        return try await read { connection in
            let rows = try await connection.query(
                """
                SELECT fingerprint, status, headers, body, created_at FROM idempotency
                WHERE dialect = \(dialect.rawValue) AND key = \(key) AND created_at >= \(cutoff)
                """, logger: self.logger)
            var stored: StoredResponse?
            for try await (fingerprint, status, headers, body, created) in rows.decode(
                (String, Int32, String, ByteBuffer, Int64).self)
            {
                stored = StoredResponse(
                    fingerprint: fingerprint, status: Int(status),
                    headers: headers.isEmpty ? [] : headers.components(separatedBy: "\n"),
                    body: Array(body.readableBytesView), createdAt: Self.date(created))
            }
            return stored
        }
    }

    public func store(_ response: StoredResponse, dialect: DialectID, key: String, expiredBefore: Date) async throws {
        let created = Self.millis(response.createdAt)
        let expired = Self.millis(expiredBefore)
        try await transaction { connection in
            try await connection.query(
                """
                INSERT INTO idempotency (dialect, key, fingerprint, status, headers, body, created_at)
                VALUES (\(dialect.rawValue), \(key), \(response.fingerprint), \(Int32(response.status)),
                    \(response.headers.joined(separator: "\n")), \(ByteBuffer(bytes: response.body)), \(created))
                ON CONFLICT (dialect, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                    status = excluded.status, headers = excluded.headers, body = excluded.body,
                    created_at = excluded.created_at
                """, logger: self.logger)
            try await connection.query("DELETE FROM idempotency WHERE created_at < \(expired)", logger: self.logger)
            return ((), true)
        }
    }

    /// A row per claim: the primary key makes two claims of one key, from any instances,
    /// exclusive; a claim older than `staleBefore` (its instance died mid-request) is taken over.
    public func claim(dialect: DialectID, key: String, now: Date, staleBefore: Date) async throws -> Bool {
        let claimed = Self.millis(now)
        let stale = Self.millis(staleBefore)
        return try await transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO idempotency_claim (dialect, key, claimed_at) VALUES (\(dialect.rawValue), \(key), \(claimed))
                ON CONFLICT (dialect, key) DO UPDATE SET claimed_at = excluded.claimed_at
                    WHERE idempotency_claim.claimed_at < \(stale)
                RETURNING claimed_at
                """, logger: self.logger)
            var taken = false
            for try await _ in rows.decode(Int64.self) { taken = true }
            return (taken, true)
        }
    }

    public func releaseClaim(dialect: DialectID, key: String) async {
        do {
            try await transaction { connection in
                try await connection.query(
                    "DELETE FROM idempotency_claim WHERE dialect = \(dialect.rawValue) AND key = \(key)",
                    logger: self.logger)
                return ((), true)
            }
        } catch {
            // Left behind, the claim goes stale and is taken over; nothing is lost.
            logger.warning("idempotency claim not released", metadata: ["error": "\(error)"])
        }
    }

    public func setTracking(products: [String], tracked: Bool) async throws {
        for product in products where catalog.product(key: product) == nil {
            throw GatewayError.notFound("unknown product '\(product)'", field: "product")
        }
        let now = Self.millis(clock())
        try await transaction { connection in
            for product in products {
                try await connection.query(
                    """
                    INSERT INTO tracking (product, tracked, changed_at) VALUES (\(product), \(tracked), \(now))
                    ON CONFLICT (product) DO UPDATE SET tracked = excluded.tracked, changed_at = excluded.changed_at
                    """, logger: self.logger)
            }
            return ((), true)
        }
    }

    public func untrackedProducts() async throws -> Set<String> {
        try await read { connection in
            var products: Set<String> = []
            let rows = try await connection.query("SELECT product FROM tracking WHERE NOT tracked", logger: self.logger)
            for try await product in rows.decode(String.self) { products.insert(product) }
            return products
        }
    }
}
