import Foundation
import StoreTestSupport
import TestSupport
import Testing

@testable import StockCore

/// Issue 33, point 7: the webhook simulator's state in the store, the same rules on the SQLite
/// ledger and on PostgreSQL.
@Suite("Webhook state in the store")
struct WebhookStateTests {
    static func message(_ id: String, _ subscription: String = "s1", at seconds: TimeInterval = 0) -> WebhookMessage {
        WebhookMessage(
            messageID: id, subscription: subscription, body: Array("{\"m\":\"\(id)\"}".utf8), signature: "sig-\(id)",
            queuedAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
    }

    static func webhooks(_ store: any Storage) throws -> any WebhookStateStore {
        try #require(store as? any WebhookStateStore, "the store keeps webhook state")
    }

    @Test("subscriptions: added once per uuid, replaced, removed with their messages", arguments: StoreKind.testable)
    func subscriptions(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { storage in
            let store = try Self.webhooks(storage)
            let first = StoredSubscription(uuid: "s1", owner: "shop", document: #"{"destination":"https://a"}"#)
            #expect(try await store.saveWebhookSubscription(first, replacing: false))
            #expect(try await !store.saveWebhookSubscription(first, replacing: false), "the uuid is taken")
            var changed = first
            changed.document = #"{"destination":"https://b"}"#
            #expect(try await store.saveWebhookSubscription(changed, replacing: true))
            _ = try await store.saveWebhookSubscription(
                StoredSubscription(uuid: "s2", owner: nil, document: "{}"), replacing: false)
            #expect(
                try await store.webhookSubscriptions().sorted { $0.uuid < $1.uuid } == [
                    changed, StoredSubscription(uuid: "s2", owner: nil, document: "{}"),
                ])
            _ = try await store.queueWebhookMessages([Self.message("m1")], keep: 10)
            try await store.deleteWebhookSubscription(uuid: "s1")
            #expect(try await store.webhookSubscriptions().map(\.uuid) == ["s2"])
            #expect(try await store.pendingWebhookMessages(subscription: "s1", limit: 10).isEmpty)
        }
    }

    @Test(
        "messages: queued once per id, pending in queue order with their bytes, finished ones not pending, pruned by age",
        arguments: StoreKind.testable)
    func messages(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { storage in
            let store = try Self.webhooks(storage)
            let queued = try await store.queueWebhookMessages(
                [Self.message("m1"), Self.message("m2", at: 1), Self.message("m3", "s2", at: 2)], keep: 10)
            #expect(queued.queued == ["m1", "m2", "m3"] && queued.dropped.isEmpty)
            // A change published again (a resend, a recovery, another instance): not queued again,
            // even once delivered.
            try await store.finishWebhookMessage("m1", outcome: WebhookMessage.delivered)
            let again = try await store.queueWebhookMessages([Self.message("m1"), Self.message("m4", at: 3)], keep: 10)
            #expect(again.queued == ["m4"])
            #expect(
                try await store.pendingWebhookMessages(subscription: "s1", limit: 10) == [
                    Self.message("m2", at: 1), Self.message("m4", at: 3),
                ])
            #expect(try await store.pendingWebhookMessages(subscription: "s1", limit: 1).map(\.messageID) == ["m2"])
            // Forgotten after their lifetime: then an id could be queued again.
            try await store.pruneWebhookMessages(queuedBefore: Date(timeIntervalSince1970: 1_800_000_002))
            #expect(try await store.pendingWebhookMessages(subscription: "s1", limit: 10).map(\.messageID) == ["m4"])
            #expect(try await store.queueWebhookMessages([Self.message("m1")], keep: 10).queued == ["m1"])
            try await store.clearWebhooks()
            #expect(try await store.pendingWebhookMessages(subscription: "s2", limit: 10).isEmpty)
        }
    }

    @Test(
        "a full queue drops its oldest waiting messages, never the one at its head (it may be on its way)",
        arguments: StoreKind.testable)
    func bound(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { storage in
            let store = try Self.webhooks(storage)
            _ = try await store.queueWebhookMessages([Self.message("other", "s2")], keep: 2)
            let messages = (1...6).map { Self.message("m\($0)", at: Double($0)) }
            let outcome = try await store.queueWebhookMessages(messages, keep: 2)
            #expect(outcome.dropped.map(\.messageID) == ["m2", "m3", "m4"], "oldest first, behind the head")
            #expect(
                try await store.pendingWebhookMessages(subscription: "s1", limit: 10).map(\.messageID) == [
                    "m1", "m5", "m6",
                ])
            #expect(
                try await store.pendingWebhookMessages(subscription: "s2", limit: 10).count == 1, "others keep theirs")
        }
    }

    @Test(
        "one deliverer at a time: a lease is exclusive until it ends or is given up, and is renewed by its holder",
        arguments: StoreKind.testable)
    func lease(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { storage in
            let store = try Self.webhooks(storage)
            _ = try await store.saveWebhookSubscription(
                StoredSubscription(uuid: "s1", owner: nil, document: "{}"), replacing: false)
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let later = now + 15
            #expect(try await store.claimWebhookDelivery(subscription: "s1", deliverer: "a", until: later, now: now))
            #expect(try await !store.claimWebhookDelivery(subscription: "s1", deliverer: "b", until: later, now: now))
            #expect(try await store.claimWebhookDelivery(subscription: "s1", deliverer: "a", until: later, now: now))
            // A deliverer that died: its lease ends and another takes over.
            #expect(
                try await store.claimWebhookDelivery(
                    subscription: "s1", deliverer: "b", until: later + 15, now: later + 1))
            #expect(
                try await !store.claimWebhookDelivery(subscription: "s1", deliverer: "a", until: later, now: later + 2))
            // Given up: free at once. Giving up someone else's lease changes nothing.
            try await store.releaseWebhookDelivery(subscription: "s1", deliverer: "a")
            #expect(
                try await !store.claimWebhookDelivery(subscription: "s1", deliverer: "a", until: later, now: later + 2))
            try await store.releaseWebhookDelivery(subscription: "s1", deliverer: "b")
            #expect(
                try await store.claimWebhookDelivery(subscription: "s1", deliverer: "a", until: later, now: later + 2))
            #expect(try await !store.claimWebhookDelivery(subscription: "nope", deliverer: "a", until: later, now: now))
        }
    }
}
