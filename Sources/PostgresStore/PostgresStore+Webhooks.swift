import Foundation
import NIOCore
import PostgresNIO
import StockCore

/// The webhook simulator's state in the shared database (migration 5): every instance sees
/// every subscription, a message id is queued once whichever instance publishes it, and one
/// instance at a time delivers a subscriber's messages (its lease).
extension PostgresStore: WebhookStateStore {
    public func webhookSubscriptions() async throws -> [StoredSubscription] {
        try await read { connection in
            let rows = try await connection.query(
                "SELECT uuid, owner, document FROM webhook_subscription ORDER BY uuid", logger: self.logger)
            var list: [StoredSubscription] = []
            for try await (uuid, owner, document) in rows.decode((String, String?, String).self) {
                list.append(StoredSubscription(uuid: uuid, owner: owner, document: document))
            }
            return list
        }
    }

    public func saveWebhookSubscription(_ subscription: StoredSubscription, replacing: Bool) async throws -> Bool {
        let (uuid, owner, document) = (subscription.uuid, subscription.owner, subscription.document)
        return try await transaction { connection in
            let rows =
                replacing
                ? try await connection.query(
                    """
                    INSERT INTO webhook_subscription (uuid, owner, document) VALUES (\(uuid), \(owner), \(document))
                    ON CONFLICT (uuid) DO UPDATE SET owner = excluded.owner, document = excluded.document
                    RETURNING uuid
                    """, logger: self.logger)
                : try await connection.query(
                    """
                    INSERT INTO webhook_subscription (uuid, owner, document) VALUES (\(uuid), \(owner), \(document))
                    ON CONFLICT (uuid) DO NOTHING RETURNING uuid
                    """, logger: self.logger)
            return (try await rows.collect().count == 1, true)
        }
    }

    public func deleteWebhookSubscription(uuid: String) async throws {
        try await transaction { connection in
            try await connection.query("DELETE FROM webhook_subscription WHERE uuid = \(uuid)", logger: self.logger)
            try await connection.query("DELETE FROM webhook_message WHERE subscription = \(uuid)", logger: self.logger)
            return ((), true)
        }
    }

    public func queueWebhookMessages(
        _ messages: [WebhookMessage], keep: Int
    ) async throws
        -> (queued: [String], dropped: [WebhookMessage])
    {
        try await transaction { connection in
            var queued: [String] = []
            for message in messages {
                let rows = try await connection.query(
                    """
                    INSERT INTO webhook_message (message_id, subscription, body, signature, queued_at)
                    VALUES (\(message.messageID), \(message.subscription), \(ByteBuffer(bytes: message.body)),
                        \(message.signature), \(Self.millis(message.queuedAt)))
                    ON CONFLICT (message_id) DO NOTHING RETURNING message_id
                    """, logger: self.logger)
                if try await rows.collect().count == 1 { queued.append(message.messageID) }
            }
            var dropped: [WebhookMessage] = []
            for subscription in Set(messages.map(\.subscription)).sorted() {
                let rows = try await connection.query(
                    """
                    UPDATE webhook_message SET outcome = \(WebhookMessage.dropped) WHERE seq IN (
                        SELECT seq FROM webhook_message WHERE subscription = \(subscription) AND outcome IS NULL
                            AND seq > (SELECT MIN(seq) FROM webhook_message
                                WHERE subscription = \(subscription) AND outcome IS NULL)
                        ORDER BY seq DESC OFFSET \(keep))
                    RETURNING seq, message_id, subscription, body, signature, queued_at
                    """, logger: self.logger)
                dropped += try await Self.webhookMessages(rows)
            }
            return ((queued, dropped), true)
        }
    }

    public func claimWebhookDelivery(
        subscription: String, deliverer: String, until: Date, now: Date
    ) async throws
        -> Bool
    {
        let (end, current) = (Self.millis(until), Self.millis(now))
        return try await transaction { connection in
            let rows = try await connection.query(
                """
                UPDATE webhook_subscription SET deliverer = \(deliverer), lease_until = \(end)
                WHERE uuid = \(subscription) AND (deliverer IS NULL OR deliverer = \(deliverer) OR lease_until < \(current))
                RETURNING uuid
                """, logger: self.logger)
            return (try await rows.collect().count == 1, true)
        }
    }

    public func releaseWebhookDelivery(subscription: String, deliverer: String) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE webhook_subscription SET deliverer = NULL, lease_until = 0
                WHERE uuid = \(subscription) AND deliverer = \(deliverer)
                """, logger: self.logger)
            return ((), true)
        }
    }

    public func pendingWebhookMessages(subscription: String, limit: Int) async throws -> [WebhookMessage] {
        try await read { connection in
            let rows = try await connection.query(
                """
                SELECT seq, message_id, subscription, body, signature, queued_at FROM webhook_message
                WHERE subscription = \(subscription) AND outcome IS NULL ORDER BY seq LIMIT \(limit)
                """, logger: self.logger)
            return try await Self.webhookMessages(rows)
        }
    }

    public func finishWebhookMessage(_ messageID: String, outcome: String) async throws {
        try await transaction { connection in
            try await connection.query(
                "UPDATE webhook_message SET outcome = \(outcome) WHERE message_id = \(messageID)", logger: self.logger)
            return ((), true)
        }
    }

    public func pruneWebhookMessages(queuedBefore: Date) async throws {
        let cutoff = Self.millis(queuedBefore)
        try await transaction { connection in
            try await connection.query("DELETE FROM webhook_message WHERE queued_at < \(cutoff)", logger: self.logger)
            return ((), true)
        }
    }

    public func clearWebhooks() async throws {
        try await transaction { connection in
            try await connection.query("TRUNCATE webhook_subscription, webhook_message", logger: self.logger)
            return ((), true)
        }
    }

    /// Rows of `seq, message_id, subscription, body, signature, queued_at` as messages in queue
    /// order (an `UPDATE … RETURNING` gives its rows in no order).
    static func webhookMessages(_ rows: PostgresRowSequence) async throws -> [WebhookMessage] {
        var messages: [(seq: Int64, message: WebhookMessage)] = []
        for try await (seq, id, subscription, body, signature, queued) in rows.decode(
            (Int64, String, String, ByteBuffer, String, Int64).self)
        {
            messages.append(
                (
                    seq,
                    WebhookMessage(
                        messageID: id, subscription: subscription, body: Array(body.readableBytesView),
                        signature: signature, queuedAt: date(queued))
                ))
        }
        return messages.sorted { $0.seq < $1.seq }.map(\.message)
    }
}
