import Crypto
import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import StockCore
import Synchronization

/// Zettle's Pusher API as the simulator plays it (issue 16, `serve --enable-webhooks`):
/// subscriptions made through the vendor's own endpoints, and an `InventoryBalanceChanged`
/// message for every change of a Zettle location's stock, whichever dialect made it, shaped
/// and signed as the vendor sends them (`ZettlePusher` in Dialects knows the vendor's shapes;
/// this knows who subscribed, what is queued and when it is delivered).
///
/// State: subscriptions and messages live in the store (`WebhookStateStore`: the ledger's file,
/// or the shared PostgreSQL database, whose instances then share them; in memory without one).
/// A message is queued in the store before the change that caused it is answered, once per id
/// whichever instance or restart publishes it again.
///
/// Delivery: each change becomes one message per subscriber with its own `messageId`. One
/// deliverer at a time (a lease in the store, `lease`) sends a subscriber's messages in queue
/// order, each retried with the same `messageId` until the destination answers 2xx (at most
/// `maxAttempts` times, the wait doubling from `retryDelay`). Once answered 2xx it is never
/// sent again. Every `refreshInterval` a hub reads the subscriptions again and looks for
/// messages other instances queued or a dead deliverer left; `recover` queues what a crash kept
/// from being queued (docs/simulator.md).
///
/// Bounds (issue 29): a subscription belongs to the client that made it (others neither see
/// nor change it); a client holds at most `maxSubscriptions`; each subscriber's queue holds at
/// most `maxQueued` messages behind the one being sent, and a message older than `maxAge` is
/// not sent — in both cases the oldest go first, counted (`dropped`,
/// `stockgate_webhook_messages_dropped_total`) and logged; destinations must pass
/// `destinations` (`DestinationPolicy`).
public final class PusherHub: Sendable {
    public struct Subscription: Sendable, Equatable {
        public var uuid: String
        public var transportName: String
        public var eventNames: [String]
        public var destination: String
        public var contactEmail: String
        public var status: String
        public var signingKey: String
        public var updated: Date
        /// The configured client that made it; nil when no client is configured.
        public var owner: String? = nil
        /// When it was made: a recovery from the journal sends it no change from before.
        public var created: Date

        public init(
            uuid: String, transportName: String, eventNames: [String], destination: String, contactEmail: String,
            status: String, signingKey: String, updated: Date, owner: String? = nil, created: Date? = nil
        ) {
            self.uuid = uuid
            self.transportName = transportName
            self.eventNames = eventNames
            self.destination = destination
            self.contactEmail = contactEmail
            self.status = status
            self.signingKey = signingKey
            self.updated = updated
            self.owner = owner
            self.created = created ?? updated
        }

        public var json: JSONValue {
            [
                "uuid": .string(uuid), "transportName": .string(transportName),
                "eventNames": .array(eventNames.map { .string($0) }),
                "updated": .string(Timestamp.iso8601(updated)), "destination": .string(destination),
                "contactEmail": .string(contactEmail), "status": .string(status), "signingKey": .string(signingKey),
            ]
        }

        /// As the store keeps it: the vendor's fields and when it was made.
        var stored: StoredSubscription {
            var object = json.objectValue ?? JSONObject()
            object["created"] = .string(Timestamp.iso8601(created))
            return StoredSubscription(uuid: uuid, owner: owner, document: JSONWriter.string(.object(object)))
        }

        init?(_ stored: StoredSubscription) {
            guard let item = try? JSONParser.parse(Array(stored.document.utf8)),
                let destination = item["destination"]?.stringValue, let key = item["signingKey"]?.stringValue
            else { return nil }
            self.init(
                uuid: stored.uuid, transportName: item["transportName"]?.stringValue ?? "WEBHOOK",
                eventNames: item["eventNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                destination: destination, contactEmail: item["contactEmail"]?.stringValue ?? "",
                status: item["status"]?.stringValue ?? "ACTIVE", signingKey: key,
                updated: item["updated"]?.stringValue.flatMap(Timestamp.parseISO8601) ?? Date(), owner: stored.owner,
                created: item["created"]?.stringValue.flatMap(Timestamp.parseISO8601))
        }

        func wants(_ event: String) -> Bool { eventNames.isEmpty || eventNames.contains(event) }
    }

    let client: CurlHTTPClient
    let logger: Logger
    public let organization: String
    let maxAttempts: Int
    let retryDelay: Duration
    public let destinations: DestinationPolicy
    public let maxSubscriptions: Int
    let maxQueued: Int
    let maxAge: Duration
    /// Most journal movements a recovery reads (the newest).
    let maxRecovered: Int
    let metrics: (any WebhookMetrics)?
    /// Where subscriptions and messages are kept.
    let state: any WebhookStateStore
    /// This hub's name as a deliverer (a lease names it).
    let deliverer = UUID().uuidString.lowercased()
    /// How long a deliverer holds a subscriber's messages without renewing; a deliverer that
    /// died is taken over after it.
    let lease: Duration
    /// How often the subscriptions are read again and queues looked at.
    let refreshInterval: Duration
    /// The subscriptions as last read from the store, with this hub's own changes.
    let subscriptions = Mutex<[Subscription]>([])
    /// Messages dropped undelivered (queue full or too old), by subscription.
    let droppedCounts = Mutex<[String: Int]>([:])
    /// Messages answered 2xx, by subscription (what a test reads).
    let delivered = Mutex<[String: Int]>([:])
    /// One delivery loop per subscription, woken when its queue may hold something.
    let loops = Mutex<[String: Loop]>([:])
    typealias Loop = (wake: AsyncStream<Void>.Continuation, task: Task<Void, Never>)
    /// The first read of the store (retried until it succeeds, then the recovery), then the
    /// periodic one; started by the first use or by the service's start.
    let background = Mutex<(first: Task<Void, Never>?, refresh: Task<Void, Never>?)>((nil, nil))
    /// Whether the first read succeeded.
    let loaded = Atomic<Bool>(false)
    let ownsStore: Bool
    /// What the first read is followed by: a recovery from this store's journal.
    let recovery: (store: any LedgerStore, catalog: Catalog)?

    /// - Parameters:
    ///   - destinations: where webhooks may go (public addresses unless more are allowed).
    ///   - maxSubscriptions: subscriptions one client may hold (all of them without clients).
    ///   - maxQueued: undelivered messages kept per subscriber behind the one being sent; beyond,
    ///     the oldest is dropped.
    ///   - maxAge: a message not delivered within this is dropped.
    ///   - state: the store; nil keeps everything in memory.
    ///   - ownsStore: no other process uses the store (the embedded ledger's file): leases left
    ///     by a process that died are void at once.
    ///   - recovery: the journal whose changes of the last hour are looked at once the state is
    ///     first read (`recover`): what a crash kept from being queued, or what changed while
    ///     the store could not be read.
    public init(
        client: CurlHTTPClient, organization: String? = nil, maxAttempts: Int = 6, retryDelay: Duration = .seconds(1),
        destinations: DestinationPolicy = DestinationPolicy(), maxSubscriptions: Int = 50, maxQueued: Int = 1000,
        maxAge: Duration = .seconds(3600), metrics: (any WebhookMetrics)? = nil, state: (any WebhookStateStore)? = nil,
        ownsStore: Bool = false, lease: Duration = .seconds(15), refreshInterval: Duration = .seconds(2),
        maxRecovered: Int = 10_000, recovery: (store: any LedgerStore, catalog: Catalog)? = nil, logger: Logger
    ) {
        self.maxRecovered = maxRecovered
        self.ownsStore = ownsStore
        self.recovery = recovery
        self.state = state ?? MemoryWebhookState()
        self.client = client
        self.destinations = destinations
        self.maxSubscriptions = maxSubscriptions
        self.maxQueued = maxQueued
        self.maxAge = maxAge
        self.metrics = metrics
        self.organization = organization ?? ZettlePusher.defaultOrganization
        self.maxAttempts = maxAttempts
        self.retryDelay = retryDelay
        self.lease = lease
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    /// Starts reading the store (once): the first read, retried until the store answers (a
    /// database whose pool is not running yet, or away), the recovery, then a read every
    /// `refreshInterval`.
    @discardableResult
    func start() -> Task<Void, Never> {
        background.withLock { tasks in
            if let first = tasks.first { return first }
            let first = Task { [weak self] in
                var wait = Duration.milliseconds(100)
                while !Task.isCancelled {
                    guard let self else { return }
                    if self.ownsStore { await self.voidLeases() }
                    if await self.refresh(prune: true) { break }
                    try? await Task.sleep(for: wait)
                    wait = min(wait * 2, .seconds(2))
                }
                guard let self, !Task.isCancelled else { return }
                self.loaded.store(true, ordering: .releasing)
                if let (store, catalog) = self.recovery { await self.recovering(store: store, catalog: catalog) }
            }
            let refresh = Task { [weak self, refreshInterval] in
                await first.value
                var ticks = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: refreshInterval)
                    guard let self, !Task.isCancelled else { return }
                    ticks += 1
                    await self.refresh(prune: ticks % 30 == 0)
                }
            }
            tasks = (first, refresh)
            return first
        }
    }

    deinit {
        for task in background.withLock({ [$0.first, $0.refresh] }) { task?.cancel() }
        stopLoops()
    }

    /// Takes the delivery loops of the subscriptions `which` selects (every one by default) out
    /// of the hub and stops them; returns them, to be awaited.
    @discardableResult
    func stopLoops(where which: (String) -> Bool = { _ in true }) -> [String: Loop] {
        let stopped = loops.withLock { loops in
            let taken = loops.filter { which($0.key) }
            for uuid in taken.keys { loops.removeValue(forKey: uuid) }
            return taken
        }
        for loop in stopped.values {
            loop.wake.finish()
            loop.task.cancel()
        }
        return stopped
    }

    /// Returns once the subscriptions were first read from the store, or after `within` if the
    /// store does not answer by then (what changes meanwhile is found by the recovery that
    /// follows the first read, when the hub has one).
    public func ready(within: Duration = .seconds(5)) async {
        if loaded.load(ordering: .acquiring) { return }
        start()
        // Polled: awaiting the first read's task could not be given up after `within`.
        let deadline = ContinuousClock.now + within
        while !loaded.load(ordering: .acquiring), ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops delivering and gives up this hub's leases, so another deliverer goes on at once.
    public func shutdown() async {
        for task in background.withLock({ [$0.first, $0.refresh] }) { task?.cancel() }
        for (uuid, loop) in stopLoops() {
            await loop.task.value
            try? await state.releaseWebhookDelivery(subscription: uuid, deliverer: deliverer)
        }
    }

    /// Reads the subscriptions again, starts and stops delivery loops to match, and wakes each
    /// (another instance may have queued, or a deliverer may have died); with `prune`, forgets
    /// messages older than a message's lifetime and a margin.
    @discardableResult
    func refresh(prune: Bool) async -> Bool {
        do {
            let stored = try await state.webhookSubscriptions()
            let list = stored.compactMap(Subscription.init)
            subscriptions.withLock { $0 = list }
            let uuids = Set(list.map(\.uuid))
            stopLoops { !uuids.contains($0) }
            for uuid in uuids { wake(uuid) }
            if prune {
                try await state.pruneWebhookMessages(
                    queuedBefore: Date().addingTimeInterval(-maxAge.timeInterval - 600))
            }
            return true
        } catch {
            logger.warning(
                "webhook state could not be read from the store", metadata: ["error": "\(String(describing: error))"])
            return false
        }
    }

    /// Leases left by a process that died: void, when this process alone uses the store.
    func voidLeases() async {
        guard let list = try? await state.webhookSubscriptions() else { return }
        for subscription in list {
            // Taken now with an end already past: free for this hub's first claim.
            _ = try? await state.claimWebhookDelivery(
                subscription: subscription.uuid, deliverer: deliverer, until: .distantPast, now: .distantFuture)
        }
    }

    // MARK: Subscriptions

    public var all: [Subscription] { subscriptions.withLock { $0 } }

    /// The subscriptions `owner` made (every one when no client is configured: owner nil).
    public func owned(by owner: String?) async -> [Subscription] {
        await ready()
        return subscriptions.withLock { $0.filter { $0.owner == owner } }
    }

    public enum Added: Equatable, Sendable {
        case added
        /// The uuid is taken (by this client or another).
        case taken
        /// The client holds `maxSubscriptions` already.
        case limit
        /// The store did not take it.
        case failed
    }

    /// Adds a subscription owned by `subscription.owner`.
    public func add(_ subscription: Subscription) async -> Added {
        await ready()
        let held = subscriptions.withLock { $0.count { $0.owner == subscription.owner } }
        guard held < maxSubscriptions else { return .limit }
        do {
            guard try await state.saveWebhookSubscription(subscription.stored, replacing: false) else { return .taken }
        } catch {
            logger.error("webhook subscription not stored", metadata: ["error": "\(String(describing: error))"])
            return .failed
        }
        subscriptions.withLock { list in
            if !list.contains(where: { $0.uuid == subscription.uuid }) { list.append(subscription) }
        }
        wake(subscription.uuid)
        return .added
    }

    /// Changes a subscription of `owner`'s; false when it has none with that uuid, nil when
    /// the store did not take the change.
    public func update(_ uuid: String, owner: String?, _ change: (inout Subscription) -> Void) async -> Bool? {
        await ready()
        guard var subscription = subscriptions.withLock({ $0.first { $0.uuid == uuid && $0.owner == owner } }) else {
            return false
        }
        change(&subscription)
        subscription.updated = Date()
        do {
            _ = try await state.saveWebhookSubscription(subscription.stored, replacing: true)
        } catch {
            logger.error("webhook subscription not stored", metadata: ["error": "\(String(describing: error))"])
            return nil
        }
        subscriptions.withLock { list in
            if let index = list.firstIndex(where: { $0.uuid == uuid }) { list[index] = subscription }
        }
        return true
    }

    /// Removes a subscription of `owner`'s and its messages; false when it has none with that
    /// uuid, nil when the store did not take the change.
    public func remove(_ uuid: String, owner: String?) async -> Bool? {
        await ready()
        guard subscriptions.withLock({ $0.contains { $0.uuid == uuid && $0.owner == owner } }) else { return false }
        do {
            try await state.deleteWebhookSubscription(uuid: uuid)
        } catch {
            logger.error("webhook subscription not removed", metadata: ["error": "\(String(describing: error))"])
            return nil
        }
        subscriptions.withLock { $0.removeAll { $0.uuid == uuid } }
        stopLoops { $0 == uuid }
        return true
    }

    /// No subscription, nothing queued, nothing counted: the test reset.
    public func reset() async {
        subscriptions.withLock { $0.removeAll() }
        try? await state.clearWebhooks()
        stopLoops()
        delivered.withLock { $0.removeAll() }
        droppedCounts.withLock { $0.removeAll() }
    }

    /// How many messages to `subscription` were dropped undelivered (queue full, or too old).
    public func droppedCount(_ subscription: String) -> Int { droppedCounts.withLock { $0[subscription] ?? 0 } }

    /// How many messages `subscription` has had answered 2xx.
    public func deliveredCount(_ subscription: String) -> Int { delivered.withLock { $0[subscription] ?? 0 } }
}

extension PusherHub: Service {
    /// Reads the store (once it runs: the database's pool is a service too) and delivers until
    /// the service group shuts down, then gives this hub's leases up.
    public func run() async throws {
        start()
        try? await gracefulShutdown()
        await shutdown()
    }
}

/// Where a hub counts the messages it drops undelivered (`stockgate_webhook_messages_dropped_total`).
public protocol WebhookMetrics: Sendable {
    func recordWebhookDropped()
}
