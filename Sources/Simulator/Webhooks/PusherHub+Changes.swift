import Crypto
import Dialects
import Foundation
import StockCore

extension PusherHub {

    /// After movements were applied to `store`: one `InventoryBalanceChanged` per subscriber
    /// wanting it, for the Zettle locations and variants they changed. Nothing when no
    /// subscriber wants it or nothing Zettle knows changed.
    ///
    /// A message's id is derived from the subscription and the movements' journal ids, so the
    /// same change always has the same `messageUuid`, and the store queues an id once. That
    /// makes a write answered from the journal (a resend under its key) safe to publish again: a
    /// process killed after the ledger committed but before the message was queued lost it, and
    /// the resend queues it now; one queued before, by this process, an earlier one or another
    /// instance, is not queued again (`WebhookKillTests`). Its balances are the ones at
    /// publication. Returns how many messages were queued.
    /// - Parameter madeAt: when the change was made, for a recovery: a subscription made later
    ///   is not told of it.
    @discardableResult
    public func movementsApplied(
        _ movements: [Movement], facts: RequestFacts, store: any LedgerStore, catalog: Catalog, madeAt: Date? = nil
    )
        async -> Int
    {
        await ready()
        let listeners = subscriptions.withLock { list in
            list.filter { subscription in
                subscription.wants(ZettlePusher.balanceChanged) && madeAt.map { subscription.created <= $0 } ?? true
            }
        }
        guard !listeners.isEmpty, !movements.isEmpty else { return 0 }
        let deltas = ZettlePusher.changes(movements, catalog: catalog)
        guard !deltas.isEmpty else { return 0 }
        var balances: [ZettlePusher.Balance] = []
        for locationKey in deltas.keys.sorted() {
            let products = deltas[locationKey]!
            guard let location = catalog.location(key: locationKey) else { continue }
            let held =
                (try? await store.balances(BalanceQuery(products: Array(products.keys), location: locationKey)))
                ?? []
            for productKey in products.keys.sorted() {
                guard let product = catalog.product(key: productKey) else { continue }
                let now = held.first { $0.product == productKey }?.quantity ?? .zero
                balances.append(
                    ZettlePusher.Balance(
                        location: location, product: product, before: now - products[productKey]!, after: now))
            }
        }
        guard !balances.isEmpty else { return 0 }
        let timestamp = Timestamp.iso8601(Date())
        let payload = ZettlePusher.payload(
            organization: organization, update: Self.uuid(from: facts.requestID), timestamp: timestamp,
            balances: balances, externalUUID: movements.first { $0.externalID != nil }?.externalID)
        let messages = listeners.map { subscription in
            let messageID = Self.messageID(subscription: subscription.uuid, movements: movements)
            return WebhookMessage(
                messageID: messageID, subscription: subscription.uuid,
                body: ZettlePusher.message(
                    organization: organization, messageID: messageID, payload: payload, timestamp: timestamp),
                signature: ZettlePusher.signature(timestamp: timestamp, payload: payload, key: subscription.signingKey),
                queuedAt: Date())
        }
        return await queue(messages)
    }

    /// After a restart: the changes of the journal made within `maxAge` whose message was never
    /// queued — a process died after the ledger committed and before the message was queued,
    /// and the client never sent the write again — are queued now, under the ids they would have
    /// had (`messageID` from the subscription and the journal ids), one per request as they were
    /// made, oldest first. A message queued before is known to the store by its id and not
    /// queued again, so on a shared database an instance may recover what another instance is
    /// about to queue: the id is queued once. Balances are the ones at recovery, as for any
    /// message (they are read when it is made).
    public func recover(store: any LedgerStore, catalog: Catalog) async {
        await ready()
        await recovering(store: store, catalog: catalog)
    }

    func recovering(store: any LedgerStore, catalog: Catalog) async {
        let listeners = subscriptions.withLock { $0.filter { $0.wants(ZettlePusher.balanceChanged) } }
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
            recovered += await movementsApplied(
                group.movements,
                facts: RequestFacts(dialect: group.movements[0].dialect ?? "", requestID: group.request),
                store: store, catalog: catalog, madeAt: group.movements[0].createdAt)
        }
        if recovered > 0 {
            logger.warning(
                "webhook messages recovered from the journal",
                metadata: ["messages": "\(recovered)", "changes": "\(groups.count)"])
        }
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

    /// A request id as a UUID (StockGate's ids are 32 hex digits), else a new one.
    static func uuid(from requestID: String) -> String {
        let hex = Array(requestID.lowercased())
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return UUID().uuidString.lowercased() }
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
        return parts.joined(separator: "-")
    }
}
