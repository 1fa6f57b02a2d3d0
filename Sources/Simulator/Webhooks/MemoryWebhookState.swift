import Foundation
import StockCore

/// The webhook state of a hub given no store (tests, and tools that run a hub alone): the same
/// rules as the stores' tables, forgotten with the process.
actor MemoryWebhookState: WebhookStateStore {
    private var subscriptions: [StoredSubscription] = []
    private var leases: [String: (deliverer: String, until: Date)] = [:]
    /// Every message queued lately, in queue order; `outcome` nil while pending.
    private var messages: [(message: WebhookMessage, outcome: String?)] = []
    private var known: Set<String> = []

    func webhookSubscriptions() -> [StoredSubscription] { subscriptions }

    func saveWebhookSubscription(_ subscription: StoredSubscription, replacing: Bool) -> Bool {
        if let index = subscriptions.firstIndex(where: { $0.uuid == subscription.uuid }) {
            guard replacing else { return false }
            subscriptions[index] = subscription
        } else {
            subscriptions.append(subscription)
        }
        return true
    }

    func deleteWebhookSubscription(uuid: String) {
        subscriptions.removeAll { $0.uuid == uuid }
        leases[uuid] = nil
        messages.removeAll { $0.message.subscription == uuid }
    }

    func queueWebhookMessages(_ new: [WebhookMessage], keep: Int) -> (queued: [String], dropped: [WebhookMessage]) {
        var queued: [String] = []
        for message in new where known.insert(message.messageID).inserted {
            messages.append((message, nil))
            queued.append(message.messageID)
        }
        var dropped: [WebhookMessage] = []
        for subscription in Set(new.map(\.subscription)).sorted() {
            let pending = messages.indices.filter {
                messages[$0].message.subscription == subscription && messages[$0].outcome == nil
            }
            for index in pending.dropFirst().dropLast(keep) {
                messages[index].outcome = WebhookMessage.dropped
                dropped.append(messages[index].message)
            }
        }
        return (queued, dropped)
    }

    func claimWebhookDelivery(subscription: String, deliverer: String, until: Date, now: Date) -> Bool {
        guard subscriptions.contains(where: { $0.uuid == subscription }) else { return false }
        if let lease = leases[subscription], lease.deliverer != deliverer, lease.until >= now { return false }
        leases[subscription] = (deliverer, until)
        return true
    }

    func releaseWebhookDelivery(subscription: String, deliverer: String) {
        if leases[subscription]?.deliverer == deliverer { leases[subscription] = nil }
    }

    func pendingWebhookMessages(subscription: String, limit: Int) -> [WebhookMessage] {
        Array(
            messages.lazy.filter { $0.message.subscription == subscription && $0.outcome == nil }.map(\.message)
                .prefix(limit))
    }

    func finishWebhookMessage(_ messageID: String, outcome: String) {
        if let index = messages.firstIndex(where: { $0.message.messageID == messageID }) {
            messages[index].outcome = outcome
        }
    }

    func pruneWebhookMessages(queuedBefore: Date) {
        let old = messages.filter { $0.message.queuedAt < queuedBefore }.map(\.message.messageID)
        messages.removeAll { $0.message.queuedAt < queuedBefore }
        known.subtract(old)
    }

    func clearWebhooks() {
        subscriptions.removeAll()
        leases.removeAll()
        messages.removeAll()
        known.removeAll()
    }
}
