import Foundation
import GRDB

/// The answer given to a write sent with an idempotency key, kept to answer a repeat.
public struct StoredResponse: Sendable, Equatable {
    /// A digest of the request (method, path, query, body): a repeat must match it.
    public var fingerprint: String
    public var status: Int
    public var headers: [String]
    public var body: [UInt8]
    public var createdAt: Date

    public init(fingerprint: String, status: Int, headers: [String], body: [UInt8], createdAt: Date = Date()) {
        self.fingerprint = fingerprint
        self.status = status
        self.headers = headers
        self.body = body
        self.createdAt = createdAt
    }
}

extension Ledger {
    /// The answer stored for `key` in `dialect`, unless it is older than `since`.
    public func storedResponse(dialect: String, key: String, since: Date) async throws -> StoredResponse? {
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
    public func store(_ response: StoredResponse, dialect: String, key: String, expiredBefore: Date) async throws {
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
}
