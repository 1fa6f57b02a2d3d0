import Foundation

/// A subscription to webhooks as a store keeps it: the simulator's document (JSON text) and
/// what the store needs to know of it.
public struct StoredSubscription: Sendable, Equatable {
    public var uuid: String
    /// The configured client that made it; nil when no client is configured.
    public var owner: String?
    /// The subscription as the simulator writes it (JSON).
    public var document: String

    public init(uuid: String, owner: String?, document: String) {
        self.uuid = uuid
        self.owner = owner
        self.document = document
    }
}

/// One message to one subscriber, as queued.
public struct WebhookMessage: Sendable, Equatable {
    public var messageID: String
    public var subscription: String
    public var body: [UInt8]
    public var signature: String
    public var queuedAt: Date

    public init(messageID: String, subscription: String, body: [UInt8], signature: String, queuedAt: Date) {
        self.messageID = messageID
        self.subscription = subscription
        self.body = body
        self.signature = signature
        self.queuedAt = queuedAt
    }
}

/// Where the webhook simulator keeps what must survive a restart and be shared by the
/// instances of one store: subscriptions, the messages not yet delivered (in queue order per
/// subscriber), the ids of messages queued lately (so a change is never queued twice), and who
/// delivers each subscriber's messages (a lease, so that one deliverer sends them in order).
/// The SQLite ledger and the PostgreSQL store keep it in their own tables; a hub without a
/// store keeps it in memory.
public protocol WebhookStateStore: Sendable {
    func webhookSubscriptions() async throws -> [StoredSubscription]
    /// Adds `subscription`, or replaces the one with its uuid when `replacing`; false when
    /// adding and the uuid is taken.
    func saveWebhookSubscription(_ subscription: StoredSubscription, replacing: Bool) async throws -> Bool
    /// Removes a subscription and its messages.
    func deleteWebhookSubscription(uuid: String) async throws
    /// Queues each message whose id is not known yet, durably, then keeps at most `keep`
    /// messages pending per subscriber behind the oldest (which may be on its way): the oldest
    /// of the others go first. Returns the ids queued now and the messages dropped.
    func queueWebhookMessages(
        _ messages: [WebhookMessage], keep: Int
    ) async throws
        -> (queued: [String], dropped: [WebhookMessage])
    /// Takes or keeps the right to deliver `subscription`'s messages until `until`: true when
    /// `deliverer` holds it now, false when another holds it and `now` is before its end.
    func claimWebhookDelivery(subscription: String, deliverer: String, until: Date, now: Date) async throws -> Bool
    /// Gives the right up (a deliverer that stops).
    func releaseWebhookDelivery(subscription: String, deliverer: String) async throws
    /// The oldest messages still pending for `subscription`, in the order they were queued.
    func pendingWebhookMessages(subscription: String, limit: Int) async throws -> [WebhookMessage]
    /// A message delivered, dropped or given up: it is not sent again.
    func finishWebhookMessage(_ messageID: String, outcome: String) async throws
    /// Forgets the messages queued before `before`, finished or not.
    func pruneWebhookMessages(queuedBefore: Date) async throws
    /// No subscription, no message (the test reset).
    func clearWebhooks() async throws
}

extension WebhookMessage {
    /// The outcomes a finished message records.
    public static let delivered = "delivered"
    public static let dropped = "dropped"
    public static let givenUp = "given-up"
}
