import Foundation
import GRDB
import StockCore

/// The webhook simulator's state in the ledger's file (migration v9), written through the
/// group commit like every other write: a message queued is on disk before the change that
/// caused it is answered.
extension Ledger: WebhookStateStore {
    public func webhookSubscriptions() async throws -> [StoredSubscription] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT uuid, owner, document FROM webhook_subscription ORDER BY rowid").map {
                StoredSubscription(uuid: $0["uuid"], owner: $0["owner"], document: $0["document"])
            }
        }
    }

    public func saveWebhookSubscription(_ subscription: StoredSubscription, replacing: Bool) async throws -> Bool {
        try await write { db in
            let arguments: StatementArguments = [subscription.uuid, subscription.owner, subscription.document]
            if replacing {
                try db.execute(
                    sql: """
                        INSERT INTO webhook_subscription (uuid, owner, document) VALUES (?, ?, ?)
                        ON CONFLICT(uuid) DO UPDATE SET owner = excluded.owner, document = excluded.document
                        """, arguments: arguments)
                return true
            }
            try db.execute(
                sql: "INSERT OR IGNORE INTO webhook_subscription (uuid, owner, document) VALUES (?, ?, ?)",
                arguments: arguments)
            return db.changesCount == 1
        }
    }

    public func deleteWebhookSubscription(uuid: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM webhook_subscription WHERE uuid = ?", arguments: [uuid])
            try db.execute(sql: "DELETE FROM webhook_message WHERE subscription = ?", arguments: [uuid])
        }
    }

    public func queueWebhookMessages(
        _ messages: [WebhookMessage], keep: Int
    ) async throws
        -> (queued: [String], dropped: [WebhookMessage])
    {
        try await write { db in
            var queued: [String] = []
            for message in messages {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO webhook_message (message_id, subscription, body, signature, queued_at)
                        VALUES (?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        message.messageID, message.subscription, Data(message.body), message.signature,
                        Self.millis(message.queuedAt),
                    ])
                if db.changesCount == 1 { queued.append(message.messageID) }
            }
            var dropped: [WebhookMessage] = []
            for subscription in Set(messages.map(\.subscription)).sorted() {
                let surplus = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM webhook_message WHERE subscription = ? AND outcome IS NULL AND seq > (
                            SELECT MIN(seq) FROM webhook_message WHERE subscription = ? AND outcome IS NULL)
                        ORDER BY seq DESC LIMIT -1 OFFSET ?
                        """, arguments: [subscription, subscription, keep]
                ).map(Self.webhookMessage)
                for message in surplus {
                    try db.execute(
                        sql: "UPDATE webhook_message SET outcome = ? WHERE message_id = ?",
                        arguments: [WebhookMessage.dropped, message.messageID])
                }
                dropped += surplus.reversed()
            }
            return (queued, dropped)
        }
    }

    public func claimWebhookDelivery(
        subscription: String, deliverer: String, until: Date, now: Date
    ) async throws
        -> Bool
    {
        try await write(durable: false) { db in
            try db.execute(
                sql: """
                    UPDATE webhook_subscription SET deliverer = ?, lease_until = ?
                    WHERE uuid = ? AND (deliverer IS NULL OR deliverer = ? OR lease_until < ?)
                    """,
                arguments: [deliverer, Self.millis(until), subscription, deliverer, Self.millis(now)])
            return db.changesCount == 1
        }
    }

    public func releaseWebhookDelivery(subscription: String, deliverer: String) async throws {
        try await write(durable: false) { db in
            try db.execute(
                sql:
                    "UPDATE webhook_subscription SET deliverer = NULL, lease_until = 0 WHERE uuid = ? AND deliverer = ?",
                arguments: [subscription, deliverer])
        }
    }

    public func pendingWebhookMessages(subscription: String, limit: Int) async throws -> [WebhookMessage] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM webhook_message WHERE subscription = ? AND outcome IS NULL ORDER BY seq LIMIT ?",
                arguments: [subscription, limit]
            ).map(Self.webhookMessage)
        }
    }

    public func finishWebhookMessage(_ messageID: String, outcome: String) async throws {
        try await write(durable: false) { db in
            try db.execute(
                sql: "UPDATE webhook_message SET outcome = ? WHERE message_id = ?", arguments: [outcome, messageID])
        }
    }

    public func pruneWebhookMessages(queuedBefore: Date) async throws {
        try await write(durable: false) { db in
            try db.execute(
                sql: "DELETE FROM webhook_message WHERE queued_at < ?", arguments: [Self.millis(queuedBefore)])
        }
    }

    public func clearWebhooks() async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM webhook_subscription; DELETE FROM webhook_message")
        }
    }

    static func webhookMessage(_ row: Row) -> WebhookMessage {
        WebhookMessage(
            messageID: row["message_id"], subscription: row["subscription"], body: [UInt8](row["body"] as Data),
            signature: row["signature"], queuedAt: date(row["queued_at"]))
    }
}
