import Crypto
import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import Logging
import StockCore
import Synchronization

/// Zettle's Pusher API as the simulator plays it (issue 16, `serve --enable-webhooks`):
/// subscriptions made through the vendor's own endpoints, and an `InventoryBalanceChanged`
/// message for every change of a Zettle location's stock, whichever dialect made it, shaped
/// and signed as the vendor sends them (iZettle/api-documentation `pusher-api/`; the message
/// as shopware/SwagPayPal's webhook fixture has it: `payload` a JSON string, the signature
/// `X-iZettle-Signature` = hex HMAC-SHA256 of `timestamp + "." + payload` keyed by the
/// subscription's `signingKey`).
///
/// Delivery: each change becomes one message per subscriber with its own `messageId`, sent in
/// order per subscriber and retried with the same `messageId` until the destination answers
/// 2xx (at most `maxAttempts` times, the wait doubling from `retryDelay`). Once answered 2xx it
/// is never sent again. With a `WebhookStore`, subscriptions and undelivered messages
/// survive a restart, and `recover` queues what a crash kept from being queued (docs/simulator.md).
///
/// Bounds (issue 29): a subscription belongs to the client that made it (others neither see
/// nor change it); a client holds at most `maxSubscriptions`; each subscriber's queue holds at
/// most `maxQueued` messages, and a message older than `maxAge` is not sent — in both cases the
/// oldest go first, counted (`dropped`, `stockgate_webhook_messages_dropped_total`) and logged;
/// destinations must pass `destinations` (`DestinationPolicy`).
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

        var json: JSONValue {
            [
                "uuid": .string(uuid), "transportName": .string(transportName),
                "eventNames": .array(eventNames.map { .string($0) }),
                "updated": .string(Timestamp.iso8601(updated)), "destination": .string(destination),
                "contactEmail": .string(contactEmail), "status": .string(status), "signingKey": .string(signingKey),
            ]
        }

        func wants(_ event: String) -> Bool { eventNames.isEmpty || eventNames.contains(event) }
    }

    /// One message to one subscriber.
    struct Delivery: Sendable {
        var subscription: Subscription
        var body: [UInt8]
        var signature: String
        var messageID: String
        var queued = ContinuousClock.now
        /// When it was queued, on the wall clock (what survives a restart).
        var queuedAt = Date()
    }

    /// The events a subscription may name (the vendor's list); StockGate sends only
    /// `InventoryBalanceChanged`.
    public static let supportedEvents: Set<String> = [
        "PurchaseCreated", "InvoiceCreated", "OrganizationUpdated", "CardPaymentAuthorized", "ProductCreated",
        "ProductUpdated", "ProductDeleted", "InventoryBalanceChanged", "InventoryTrackingStarted",
        "InventoryTrackingStopped", "ApplicationConnectionRemoved", "PersonalAssertionDeleted", "TestMessage",
    ]

    /// The organization UUID messages carry when none is configured (`dialects.zettle.organization_uuid`).
    public static let defaultOrganization = "5e1c0a00-57c0-11ee-8000-000000000001"

    let client: CurlHTTPClient
    let logger: Logger
    let organization: String
    let maxAttempts: Int
    let retryDelay: Duration
    let destinations: DestinationPolicy
    let maxSubscriptions: Int
    let maxQueued: Int
    let maxAge: Duration
    /// Most journal movements a recovery reads (the newest).
    let maxRecovered: Int
    let metrics: GatewayMetrics?
    /// Where subscriptions and undelivered messages are kept across restarts (nil: memory only).
    let store: WebhookStore?
    private let subscriptions = Mutex<[Subscription]>([])
    /// Messages dropped undelivered (queue full or too old), by subscription.
    private let droppedCounts = Mutex<[String: Int]>([:])
    private let queues = Mutex<[String: AsyncStream<Delivery>.Continuation]>([:])
    /// Messages answered 2xx, by subscription (what a test reads).
    private let delivered = Mutex<[String: Int]>([:])
    /// Message ids queued by this process (the newest `maxRemembered`): a resend answered from
    /// the journal queues its change's message only when this process never did.
    private let published = Mutex<(ids: Set<String>, order: [String])>(([], []))
    static let maxRemembered = 100_000

    /// - Parameters:
    ///   - destinations: where webhooks may go (public addresses unless more are allowed).
    ///   - maxSubscriptions: subscriptions one client may hold (all of them without clients).
    ///   - maxQueued: undelivered messages kept per subscriber; beyond, the oldest is dropped.
    ///   - maxAge: a message not delivered within this is dropped.
    public init(
        client: CurlHTTPClient, organization: String? = nil, maxAttempts: Int = 6, retryDelay: Duration = .seconds(1),
        destinations: DestinationPolicy = DestinationPolicy(), maxSubscriptions: Int = 50, maxQueued: Int = 1000,
        maxAge: Duration = .seconds(3600), metrics: GatewayMetrics? = nil, store: WebhookStore? = nil,
        maxRecovered: Int = 10_000, logger: Logger
    ) {
        self.maxRecovered = maxRecovered
        self.store = store
        self.client = client
        self.destinations = destinations
        self.maxSubscriptions = maxSubscriptions
        self.maxQueued = maxQueued
        self.maxAge = maxAge
        self.metrics = metrics
        self.organization = organization ?? Self.defaultOrganization
        self.maxAttempts = maxAttempts
        self.retryDelay = retryDelay
        self.logger = logger
        guard let store else { return }
        // What the last run knew: its subscriptions, and its messages not yet delivered, sent
        // again under their ids (a receiver deduplicates by `messageId`).
        let kept = store.loadSubscriptions()
        subscriptions.withLock { $0 = kept }
        let now = Date()
        let (pending, queued) = store.load(window: maxAge.timeInterval, now: now)
        // A message queued before the restart is not queued again by a resend or a recovery.
        for id in queued.keys { _ = remember(id) }
        for message in pending {
            guard let subscription = kept.first(where: { $0.uuid == message.subscription }) else { continue }
            var delivery = Delivery(
                subscription: subscription, body: message.body, signature: message.signature,
                messageID: message.messageID, queuedAt: message.queuedAt)
            delivery.queued = ContinuousClock.now - .seconds(max(0, now.timeIntervalSince(message.queuedAt)))
            enqueue(delivery, persist: false)
        }
    }

    deinit {
        for queue in queues.withLock({ Array($0.values) }) { queue.finish() }
    }

    // MARK: Subscriptions

    public var all: [Subscription] { subscriptions.withLock { $0 } }

    /// The subscriptions `owner` made (every one when no client is configured: owner nil).
    func owned(by owner: String?) -> [Subscription] { subscriptions.withLock { $0.filter { $0.owner == owner } } }

    enum Added: Equatable {
        case added
        /// The uuid is taken (by this client or another).
        case taken
        /// The client holds `maxSubscriptions` already.
        case limit
    }

    /// Adds a subscription owned by `subscription.owner`.
    func add(_ subscription: Subscription) -> Added {
        subscriptions.withLock { list in
            guard !list.contains(where: { $0.uuid == subscription.uuid }) else { return .taken }
            guard list.count(where: { $0.owner == subscription.owner }) < maxSubscriptions else { return .limit }
            list.append(subscription)
            store?.saveSubscriptions(list)
            return .added
        }
    }

    /// Changes a subscription of `owner`'s; false when it has none with that uuid.
    func update(_ uuid: String, owner: String?, _ change: (inout Subscription) -> Void) -> Bool {
        subscriptions.withLock { list in
            guard let index = list.firstIndex(where: { $0.uuid == uuid && $0.owner == owner }) else { return false }
            change(&list[index])
            list[index].updated = Date()
            store?.saveSubscriptions(list)
            return true
        }
    }

    /// Removes a subscription of `owner`'s; false when it has none with that uuid.
    func remove(_ uuid: String, owner: String?) -> Bool {
        let removed = subscriptions.withLock { list -> Bool in
            let before = list.count
            list.removeAll { $0.uuid == uuid && $0.owner == owner }
            if list.count < before { store?.saveSubscriptions(list) }
            return list.count < before
        }
        if removed { queues.withLock { $0.removeValue(forKey: uuid) }?.finish() }
        return removed
    }

    /// No subscription, nothing queued, nothing counted: the test reset.
    public func reset() {
        subscriptions.withLock { $0.removeAll() }
        store?.clear()
        let open = queues.withLock { queues in
            defer { queues.removeAll() }
            return Array(queues.values)
        }
        for queue in open { queue.finish() }
        delivered.withLock { $0.removeAll() }
        droppedCounts.withLock { $0.removeAll() }
    }

    /// How many messages to `subscription` were dropped undelivered (queue full, or too old).
    public func droppedCount(_ subscription: String) -> Int { droppedCounts.withLock { $0[subscription] ?? 0 } }

    private func dropped(_ delivery: Delivery, reason: String) {
        store?.done(delivery.messageID)
        droppedCounts.withLock { $0[delivery.subscription.uuid, default: 0] += 1 }
        metrics?.recordWebhookDropped()
        logger.warning(
            "webhook dropped undelivered",
            metadata: [
                "subscription": "\(delivery.subscription.uuid)", "message": "\(delivery.messageID)",
                "reason": "\(reason)",
            ])
    }

    /// How many messages `subscription` has had answered 2xx.
    public func deliveredCount(_ subscription: String) -> Int { delivered.withLock { $0[subscription] ?? 0 } }

    /// A new signing key: 64 letters and digits, as the vendor's.
    static func makeSigningKey() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<64).map { _ in alphabet.randomElement(using: &generator)! })
    }

    // MARK: Changes

    /// After movements were applied to `store`: one `InventoryBalanceChanged` per subscriber
    /// wanting it, for the Zettle locations and variants they changed. Nothing when no
    /// subscriber wants it or nothing Zettle knows changed.
    ///
    /// A message's id is derived from the subscription and the movements' journal ids, so the
    /// same change always has the same `messageUuid`. That makes a write answered from the
    /// journal (`replayed`: a resend under its key) safe to publish again: a process killed after
    /// the ledger committed but before the message was on disk lost it, and the resend queues it
    /// now; one this process already queued is not queued again, and one queued before a restart
    /// arrives, at worst, twice under one id, which the subscriber can drop (`WebhookKillTests`).
    /// Its balances are the ones at publication.
    /// - Parameter madeAt: when the change was made, for a recovery: a subscription made later
    ///   is not told of it.
    func movementsApplied(
        _ movements: [Movement], facts: RequestFacts, store: any LedgerStore, catalog: Catalog,
        replayed: Bool = false, madeAt: Date? = nil
    )
        async
    {
        let listeners = subscriptions.withLock { list in
            list.filter { subscription in
                subscription.wants("InventoryBalanceChanged") && madeAt.map { subscription.created <= $0 } ?? true
            }
        }
        guard !listeners.isEmpty, !movements.isEmpty else { return }
        // The net change per (location, product), for Zettle's tracked locations and variants only.
        var deltas: [String: [String: Quantity]] = [:]
        for movement in movements {
            guard let product = catalog.product(key: movement.product), product.zettleVariantUUID != nil else {
                continue
            }
            for (key, sign) in [(movement.from, -1), (movement.to, 1)] {
                // Stock is kept at tracked locations only (the STORE); SUPPLIER, SOLD and BIN
                // are where it comes from and goes to.
                guard let location = catalog.location(key: key), location.zettleUUID != nil, location.kind.isTracked
                else { continue }
                let change = sign < 0 ? Quantity.zero - movement.quantity : movement.quantity
                deltas[key, default: [:]][product.key] = (deltas[key]?[product.key] ?? .zero) + change
            }
        }
        guard !deltas.isEmpty else { return }
        var before: [JSONValue] = []
        var after: [JSONValue] = []
        for locationKey in deltas.keys.sorted() {
            let products = deltas[locationKey]!
            guard let location = catalog.location(key: locationKey), let locationUUID = location.zettleUUID else {
                continue
            }
            let balances =
                (try? await store.balances(BalanceQuery(products: Array(products.keys), location: locationKey)))
                ?? []
            for productKey in products.keys.sorted() {
                guard let product = catalog.product(key: productKey), let variant = product.zettleVariantUUID else {
                    continue
                }
                let now = balances.first { $0.product == productKey }?.quantity ?? .zero
                let row: (Quantity) -> JSONValue = { balance in
                    [
                        "organizationUuid": .string(self.organization), "locationUuid": .string(locationUUID),
                        "productUuid": .optional(product.zettleProductUUID), "variantUuid": .string(variant),
                        "balance": .string(balance.description),
                    ]
                }
                before.append(row(now - products[productKey]!))
                after.append(row(now))
            }
        }
        guard !after.isEmpty else { return }
        let timestamp = Timestamp.iso8601(Date())
        let payload = JSONWriter.string([
            "organizationUuid": .string(organization),
            "updated": [
                "uuid": .string(Self.uuid(from: facts.requestID)), "timestamp": .string(timestamp), "userType": "USER",
            ],
            "balanceBefore": .array(before), "balanceAfter": .array(after),
            "externalUuid": .optional(movements.first { $0.externalID != nil }?.externalID),
        ])
        for subscription in listeners {
            let messageID = Self.messageID(subscription: subscription.uuid, movements: movements)
            guard remember(messageID) || !replayed else { continue }
            let body = JSONWriter.bytes([
                "organizationUuid": .string(organization), "messageUuid": .string(messageID),
                "eventName": "InventoryBalanceChanged", "messageId": .string(messageID), "payload": .string(payload),
                "timestamp": .string(timestamp),
            ])
            enqueue(
                Delivery(
                    subscription: subscription, body: body,
                    signature: Self.signature(timestamp: timestamp, payload: payload, key: subscription.signingKey),
                    messageID: messageID))
        }
    }

    /// After a restart on the embedded ledger: the changes of the journal made within `maxAge`
    /// whose message was never queued — the process died after the ledger committed and before
    /// the message reached the disk, and the client never sent the write again — are queued now,
    /// under the ids they would have had (`messageID` from the subscription and the journal ids),
    /// one per request as they were made, oldest first. A message queued before the restart is
    /// known by its id (`WebhookStore`'s `published` line) and not queued again. Balances are the
    /// ones at recovery, as for any message (they are read when it is made).
    public func recover(store: any LedgerStore, catalog: Catalog) async {
        let listeners = subscriptions.withLock { $0.filter { $0.wants("InventoryBalanceChanged") } }
        guard let earliest = listeners.map(\.created).min() else { return }
        let since = max(earliest, Date().addingTimeInterval(-maxAge.timeInterval))
        // The newest `maxRecovered` movements at most: a crash loses the messages of the last
        // writes before it, and a busy hour is not read whole into memory at start.
        let query = MovementQuery(
            createdFrom: since, order: [MovementQuery.Sort(.id, descending: true)], limit: maxRecovered)
        guard let journal = try? await store.movements(query) else { return }
        // The movements each request applied: reversals (a delete) and transfers confirmed
        // later are not changes the Pusher API was told of when they were made.
        var groups: [(request: String, movements: [Movement])] = []
        var index: [String: Int] = [:]
        for movement in journal.sorted(by: { ($0.id ?? 0) < ($1.id ?? 0) })
        where movement.reverses == nil && movement.backend == nil
            && (movement.state == .applied || movement.state == .reversed)
        {
            let request = movement.requestID ?? "movement-\(movement.id ?? 0)"
            if let at = index[request] {
                groups[at].movements.append(movement)
            } else {
                index[request] = groups.count
                groups.append((request, [movement]))
            }
        }
        // A full window may cut the oldest request's movements short: its message id would not
        // be the one it was queued under, so it is left out.
        if journal.count == maxRecovered, !groups.isEmpty { groups.removeFirst() }
        var recovered = 0
        for group in groups {
            let before = published.withLock { $0.ids.count }
            await movementsApplied(
                group.movements,
                facts: RequestFacts(dialect: group.movements[0].dialect ?? "", requestID: group.request),
                store: store, catalog: catalog, replayed: true, madeAt: group.movements[0].createdAt)
            recovered += published.withLock { $0.ids.count } - before
        }
        if recovered > 0 {
            logger.warning(
                "webhook messages recovered from the journal",
                metadata: ["messages": "\(recovered)", "changes": "\(groups.count)"])
        }
    }

    /// Lowercase hex HMAC-SHA256 of `timestamp.payload` keyed by `key`.
    public static func signature(timestamp: String, payload: String, key: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data((timestamp + "." + payload).utf8), using: SymmetricKey(data: Data(key.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// The message id of a change for a subscriber: a name-based UUID (version 5 layout) of
    /// the subscription and the movements' journal ids; a random one when a movement has none.
    static func messageID(subscription: String, movements: [Movement]) -> String {
        let ids = movements.map { $0.id.map(String.init) ?? "" }
        guard !ids.contains("") else { return UUID().uuidString.lowercased() }
        var bytes = Array(
            SHA256.hash(data: Data("stockgate-webhook|\(subscription)|\(ids.joined(separator: ","))".utf8)))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.prefix(16).map { String(format: "%02x", $0) }.joined()
        let characters = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
    }

    /// Notes a message id as queued by this process; false when it already was.
    private func remember(_ messageID: String) -> Bool {
        published.withLock { memory in
            guard memory.ids.insert(messageID).inserted else { return false }
            memory.order.append(messageID)
            if memory.order.count > Self.maxRemembered {
                let forgotten = memory.order.prefix(memory.order.count - Self.maxRemembered)
                for id in forgotten { memory.ids.remove(id) }
                memory.order.removeFirst(forgotten.count)
            }
            return true
        }
    }

    /// A request id as a UUID (StockGate's ids are 32 hex digits), else a new one.
    static func uuid(from requestID: String) -> String {
        let hex = Array(requestID.lowercased())
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return UUID().uuidString.lowercased() }
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
        return parts.joined(separator: "-")
    }

    // MARK: Delivery

    /// Queues a message behind the subscriber's earlier ones (one sender per subscriber, so
    /// messages arrive in order).
    private func enqueue(_ delivery: Delivery, persist: Bool = true) {
        if persist {
            // On disk before the change that caused it is answered.
            store?.queued(
                WebhookStore.Pending(
                    messageID: delivery.messageID, subscription: delivery.subscription.uuid, body: delivery.body,
                    signature: delivery.signature, queuedAt: delivery.queuedAt))
        }
        let uuid = delivery.subscription.uuid
        let queue = queues.withLock { queues -> AsyncStream<Delivery>.Continuation in
            if let queue = queues[uuid] { return queue }
            // At most `maxQueued` waiting: a new message pushes out the oldest.
            let (stream, continuation) = AsyncStream<Delivery>.makeStream(
                bufferingPolicy: .bufferingNewest(maxQueued))
            queues[uuid] = continuation
            Task { [weak self] in
                for await delivery in stream {
                    guard let self else { return }
                    await self.send(delivery)
                }
            }
            return continuation
        }
        if case .dropped(let oldest) = queue.yield(delivery) {
            dropped(oldest, reason: "more than \(maxQueued) messages queued for the subscriber")
        }
    }

    private func send(_ delivery: Delivery) async {
        var wait = retryDelay
        for attempt in 1...maxAttempts {
            // A subscription deleted meanwhile gets nothing more.
            guard subscriptions.withLock({ $0.contains { $0.uuid == delivery.subscription.uuid } }) else {
                store?.done(delivery.messageID)
                return
            }
            guard ContinuousClock.now - delivery.queued <= maxAge else {
                dropped(delivery, reason: "not delivered within \(maxAge)")
                return
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[HTTPField.Name("X-iZettle-Signature")!] = delivery.signature
            let status: Int
            do {
                var request = CurlRequest(
                    method: .post, url: delivery.subscription.destination, headerFields: headers,
                    body: delivery.body, timeout: .seconds(10))
                let policy = destinations
                request.permitAddress = { policy.permits($0) }
                let response = try await client.execute(request)
                status = response.status
            } catch let error as CurlError where error.code == .addressRefused {
                // Not retried: the address will not become allowed.
                dropped(delivery, reason: error.message)
                return
            } catch {
                status = 0
            }
            if (200..<300).contains(status) {
                delivered.withLock { $0[delivery.subscription.uuid, default: 0] += 1 }
                store?.done(delivery.messageID)
                return
            }
            logger.warning(
                "webhook not delivered",
                metadata: [
                    "subscription": "\(delivery.subscription.uuid)", "message": "\(delivery.messageID)",
                    "status": "\(status)", "attempt": "\(attempt)",
                ])
            guard attempt < maxAttempts else { break }
            try? await Task.sleep(for: wait)
            wait = wait * 2
        }
        store?.done(delivery.messageID)
        logger.error(
            "webhook given up",
            metadata: ["subscription": "\(delivery.subscription.uuid)", "message": "\(delivery.messageID)"])
    }
}
