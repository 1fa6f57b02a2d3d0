import CurlHTTP
import Dialects
import Foundation
import GatewayTestSupport
import PostgresStore
import StockCore
import StoreTestSupport
import Synchronization
import TestSupport
import Testing

@testable import Gateway
@testable import Simulator

/// Issue 33, point 7, on PostgreSQL: two instances (two stores with pools of their own, two
/// hubs) on one database share the subscriptions, queue a change's message once whichever
/// publishes it, deliver each subscriber's messages in order through one deliverer at a time,
/// and take over from a deliverer that died when its lease ends.
@Suite("Webhooks shared by the instances of one PostgreSQL", .enabled(if: postgresURL != nil, postgresMissing))
struct WebhookInstancesTests {
    /// What the subscriber received, in order.
    final class Inbox: Sendable {
        let messages = Mutex<[JSONValue]>([])
    }

    static let subscription = "4b2d9a1e-8f35-11eb-8dcd-0242ac130003"

    /// A restock of the shop floor through `store`, as a request of its instance: the movements applied.
    static func restock(_ store: PostgresStore, _ index: Int) async throws -> ([Movement], RequestFacts) {
        var movement = Movement(product: "tshirt-blue-m", quantity: Quantity(1), from: "supplier", to: "shop-floor")
        movement.externalID = "00000000-0000-4000-8000-0000000000\(10 + index)"
        let facts = RequestFacts(
            dialect: "zettle",
            requestID: String(format: "%02x", index).padding(toLength: 32, withPad: "0", startingAt: 0))
        let outcome = try await store.move(MoveBatch(items: [movement], atomicity: .allOrNothing), facts: facts)
        return (outcome.succeeded, facts)
    }

    @Test(
        "a subscription made on one instance is served by both; each change arrives once and in order; a dead deliverer is taken over"
    )
    func shared() async throws {
        let received = Inbox()
        let upstream = FakeUpstream { request in
            if let body = try? JSONParser.parse(request.body) { received.messages.withLock { $0.append(body) } }
            return .init(200, "")
        }
        try await upstream.run { base in
            try await withPostgresDatabase { location in
                let one = PostgresStore(location: location, catalog: demoCatalog, poolSize: 4, logger: quietLogger)
                let two = PostgresStore(location: location, catalog: demoCatalog, poolSize: 4, logger: quietLogger)
                try await one.whileRunning {
                    try await two.whileRunning {
                        try await one.migrate()
                        try await Self.run(one, two, destination: base + "/hook", received: received)
                    }
                }
            }
        }
    }

    static func run(
        _ one: PostgresStore, _ two: PostgresStore, destination: String, received: Inbox
    ) async throws {
        try await withCurlClient(.init(timeout: .seconds(5))) { client in
            func hub(_ store: PostgresStore) -> PusherHub {
                PusherHub(
                    client: client, retryDelay: .milliseconds(50), destinations: PusherTests.loopbackAllowed,
                    state: store,
                    // A lease longer than a send and its settlement take under CI's load (a 1 s
                    // lease once saw a message sent twice: taken over while its send was on its way).
                    lease: .seconds(3), refreshInterval: .milliseconds(100), logger: quietLogger)
            }
            let (first, second) = (hub(one), hub(two))
            let made = PusherHub.Subscription(
                uuid: subscription, transportName: "WEBHOOK", eventNames: ["InventoryBalanceChanged"],
                destination: destination, contactEmail: "ops@example.com", status: "ACTIVE",
                signingKey: ZettlePusher.makeSigningKey(), updated: Date())
            #expect(await first.add(made) == .added)
            #expect(await second.add(made) == .taken, "the uuid is taken on the other instance too")
            try await waitUntil(timeout: .seconds(5), "the other instance sees the subscription") {
                second.all.map(\.uuid) == [subscription]
            }
            // Six changes, the instances taking turns, each published by the instance that made it.
            var last: ([Movement], RequestFacts)?
            for index in 0..<6 {
                let (store, hub) = index % 2 == 0 ? (one, first) : (two, second)
                let (movements, facts) = try await restock(store, index)
                #expect(await hub.movementsApplied(movements, facts: facts, store: store, catalog: demoCatalog) == 1)
                last = (movements, facts)
            }
            // The last change published again by the other instance (a resend answered from the
            // journal there, or its recovery): the id is queued already.
            if let (movements, facts) = last {
                #expect(await first.movementsApplied(movements, facts: facts, store: one, catalog: demoCatalog) == 0)
            }
            try await waitUntil(timeout: .seconds(10), "six messages") { received.messages.withLock { $0.count } >= 6 }
            try await Task.sleep(for: .milliseconds(300))
            let externals = received.messages.withLock { messages in
                messages.map { message -> String in
                    let payload = try? JSONParser.parse(Array((message["payload"]?.stringValue ?? "").utf8))
                    return payload?["externalUuid"]?.stringValue ?? "?"
                }
            }
            #expect(externals == (0..<6).map { "00000000-0000-4000-8000-0000000000\(10 + $0)" }, "once each, in order")
            // A deliverer that died holding the subscriber's lease: nothing is sent until it ends.
            let now = Date()
            #expect(
                try await one.claimWebhookDelivery(
                    subscription: subscription, deliverer: "dead", until: now + 1, now: now))
            let (movements, facts) = try await restock(two, 6)
            await second.movementsApplied(movements, facts: facts, store: two, catalog: demoCatalog)
            try await Task.sleep(for: .milliseconds(500))
            #expect(received.messages.withLock { $0.count } == 6, "the lease holds")
            try await waitUntil(timeout: .seconds(10), "taken over when the lease ended") {
                received.messages.withLock { $0.count } == 7
            }
            await first.shutdown()
            await second.shutdown()
        }
    }
}
