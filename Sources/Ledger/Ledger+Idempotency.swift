import Foundation
import GRDB
import StockCore

extension Ledger {
    /// The answer stored for `key` in `dialect`, unless it is older than `since`.
    public func storedResponse(dialect: DialectID, key: String, since: Date) async throws -> StoredResponse? {
        try await writer.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM idempotency WHERE dialect = ? AND key = ? AND created_at >= ?",
                    arguments: [dialect, key, Self.millis(since)])
            else { return nil }
            let headers: String = row["headers"]
            return StoredResponse(
                fingerprint: row["fingerprint"], status: row["status"],
                headers: headers.isEmpty ? [] : headers.components(separatedBy: "\n"),
                body: [UInt8](row["body"] as Data),
                createdAt: Self.date(row["created_at"]))
        }
    }

    /// Keeps the answer for `key` (the first one wins) and forgets answers older than `expiredBefore`.
    public func store(_ response: StoredResponse, dialect: DialectID, key: String, expiredBefore: Date) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO idempotency (dialect, key, fingerprint, status, headers, body, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    dialect, key, response.fingerprint, response.status, response.headers.joined(separator: "\n"),
                    Data(response.body), Self.millis(response.createdAt),
                ])
            try db.execute(sql: "DELETE FROM idempotency WHERE created_at < ?", arguments: [Self.millis(expiredBefore)])
        }
    }

    /// Claims live in this process: one process owns the data directory, so no other instance
    /// can hold one.
    public func claim(dialect: DialectID, key: String, now: Date, staleBefore: Date) async throws -> Bool {
        claims.withLock { $0.insert(dialect.rawValue + "\u{0}" + key).inserted }
    }

    public func releaseClaim(dialect: DialectID, key: String) async {
        _ = claims.withLock { $0.remove(dialect.rawValue + "\u{0}" + key) }
    }
}

extension Ledger: LedgerStore, ForwardJournal, ResponseStore, TrackingStore {
    public var storeDescription: String { "embedded ledger" }
}
