import AsyncHTTPClient
import Crypto
import CurlHTTP
import Dialects
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

@testable import Gateway
@testable import Operations
@testable import Simulator

/// Zettle's Pusher API as the simulator plays it (issue 16): subscriptions through the vendor's
/// endpoints, `InventoryBalanceChanged` shaped and signed as the vendor sends it (as shopware/
/// SwagPayPal's webhook fixture has it), retried until delivered, never twice once delivered.
@Suite("Zettle webhooks (the Pusher API)")
struct PusherTests {
    /// The receivers here listen on loopback, which a hub refuses unless allowed.
    static let loopbackAllowed = DestinationPolicy(allowed: [DestinationPolicy.Network("127.0.0.0/8")!])

    static func withHub<T: Sendable>(
        clients: ClientAuthenticator = ClientAuthenticator(), maxSubscriptions: Int = 50, maxQueued: Int = 1000,
        maxAge: Duration = .seconds(3600), destinations: DestinationPolicy = loopbackAllowed,
        metrics: GatewayMetrics? = nil, _ body: @Sendable (LiveGateway, PusherHub) async throws -> T
    ) async throws -> T {
        try await withCurlClient(.init(timeout: .seconds(5))) { client in
            let hub = PusherHub(
                client: client, retryDelay: .milliseconds(100), destinations: destinations,
                maxSubscriptions: maxSubscriptions, maxQueued: maxQueued, maxAge: maxAge, metrics: metrics,
                logger: quietLogger)
            return try await LiveGateway.run(clients: clients, pusher: hub) { live in try await body(live, hub) }
        }
    }

    static func subscribe(_ live: LiveGateway, _ body: String) async throws -> HTTPResult {
        try await HTTPClient.shared.send(.POST, live.baseURL + "/organizations/self/subscriptions", body: body)
    }

    static func subscription(
        uuid: String, destination: String, events: String = #"["InventoryBalanceChanged"]"#
    )
        -> String
    {
        #"{"uuid": "\#(uuid)", "transportName": "WEBHOOK", "eventNames": \#(events), "destination": "\#(destination)", "contactEmail": "ops@example.com"}"#
    }

    /// Zettle's PUT: 3 of tshirt-blue-m from the supplier into the store, with an externalUuid.
    static let restock =
        #"{"externalUuid": "0f4e6b2c-1d3a-4c5e-8f70-9a1b2c3d4e5f", "changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 3}]}"#

    @Test("subscriptions: created with a signingKey, listed, updated, deleted; refused as the vendor refuses")
    func subscriptions() async throws {
        try await Self.withHub { live, _ in
            let uuid = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
            let created = try await Self.subscribe(
                live, Self.subscription(uuid: uuid, destination: "https://example.com/hook"))
            #expect(created.status == 200, "\(created.text)")
            #expect(created.json?["uuid"]?.stringValue == uuid)
            #expect(created.json?["status"] == "ACTIVE")
            let key = try #require(created.json?["signingKey"]?.stringValue)
            #expect(key.count == 64 && key.allSatisfy { $0.isLetter || $0.isNumber })
            for (body, status, field) in [
                (
                    #"{"transportName": "WEBHOOK", "destination": "https://e.com", "contactEmail": "a@b.c"}"#, 400,
                    "uuid"
                ),
                (Self.subscription(uuid: uuid, destination: "https://example.com/hook"), 400, "uuid"),
                (
                    #"{"uuid": "6eefcb26-912c-11eb-a8b3-0242ac130003", "destination": "https://e.com", "contactEmail": "a@b.c"}"#,
                    400, "transportName"
                ),
                (
                    #"{"uuid": "6eefcb26-912c-11eb-a8b3-0242ac130003", "transportName": "WEBHOOK", "contactEmail": "a@b.c"}"#,
                    422, "destination"
                ),
                (
                    #"{"uuid": "6eefcb26-912c-11eb-a8b3-0242ac130003", "transportName": "WEBHOOK", "destination": "https://e.com", "contactEmail": "nope"}"#,
                    422, "contactEmail"
                ),
                (
                    #"{"uuid": "6eefcb26-912c-11eb-a8b3-0242ac130003", "transportName": "WEBHOOK", "eventNames": ["StockWentUp"], "destination": "https://e.com", "contactEmail": "a@b.c"}"#,
                    400, "eventNames"
                ),
            ] {
                let refused = try await Self.subscribe(live, body)
                #expect(refused.status == status, "\(body): \(refused.text)")
                #expect(
                    refused.json?["violations"]?.arrayValue?.first?["propertyName"]?.stringValue == field,
                    "\(refused.text)")
            }
            let listed = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/subscriptions")
            #expect(listed.json?.arrayValue?.count == 1, "\(listed.text)")
            let updated = try await HTTPClient.shared.send(
                .PUT, live.baseURL + "/organizations/self/subscriptions/\(uuid)",
                body: #"{"eventNames": ["InventoryBalanceChanged", "ProductCreated"]}"#)
            #expect(updated.status == 200 && updated.body.isEmpty, "\(updated.text)")
            let after = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/subscriptions")
            #expect(after.json?.arrayValue?.first?["eventNames"]?.arrayValue?.count == 2, "\(after.text)")
            let deleted = try await HTTPClient.shared.send(
                .DELETE, live.baseURL + "/organizations/self/subscriptions/uuid/\(uuid)")
            #expect(deleted.status == 204)
            let again = try await HTTPClient.shared.send(
                .DELETE, live.baseURL + "/organizations/self/subscriptions/\(uuid)")
            #expect(again.status == 404)
        }
    }

    @Test(
        "a change is pushed as InventoryBalanceChanged: payload a JSON string with balanceBefore, balanceAfter and the externalUuid, signed with the signingKey"
    )
    func pushedAndSigned() async throws {
        let receiver = FakeUpstream { _ in FakeUpstream.Answer(200, "") }
        try await receiver.run { destination in
            try await Self.withHub { live, hub in
                let created = try await Self.subscribe(
                    live,
                    Self.subscription(uuid: "7c9e43ce-912c-11eb-a8b3-0242ac130003", destination: destination + "/hook"))
                let key = try #require(created.json?["signingKey"]?.stringValue)
                // Some stock there before, through the canonical API: a change is a change,
                // whichever dialect made it.
                let seeded = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/stockgate/v1/movements",
                    body:
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": 10, "from": "supplier", "to": "shop-floor"}]}"#
                )
                #expect(seeded.status == 200)
                let moved = try await HTTPClient.shared.send(
                    .PUT, live.baseURL + "/organizations/self/inventory", body: Self.restock)
                #expect(moved.status == 200, "\(moved.text)")
                try await waitUntil(timeout: .seconds(10), "both changes delivered") {
                    hub.deliveredCount("7c9e43ce-912c-11eb-a8b3-0242ac130003") == 2
                }
                let requests = receiver.requests
                #expect(requests.count == 2)
                let last = try #require(requests.last)
                #expect(last.path == "/hook" && last.method == "POST")
                let message = try JSONParser.parse(last.body)
                #expect(message["eventName"] == "InventoryBalanceChanged")
                #expect(message["organizationUuid"]?.stringValue == ZettlePusher.defaultOrganization)
                let messageID = try #require(message["messageId"]?.stringValue)
                #expect(UUID(uuidString: messageID) != nil)
                let timestamp = try #require(message["timestamp"]?.stringValue)
                let payloadText = try #require(message["payload"]?.stringValue, "payload is a JSON string")
                // The signature the vendor documents: HMAC-SHA256(signingKey, timestamp + "." + payload), hex.
                let expected = HMAC<SHA256>.authenticationCode(
                    for: Data((timestamp + "." + payloadText).utf8), using: SymmetricKey(data: Data(key.utf8))
                ).map { String(format: "%02x", $0) }.joined()
                #expect(last.headers["x-izettle-signature"] == expected)
                let payload = try JSONParser.parse(payloadText)
                #expect(payload["externalUuid"] == "0f4e6b2c-1d3a-4c5e-8f70-9a1b2c3d4e5f")
                let before = try #require(payload["balanceBefore"]?.arrayValue?.first)
                let after = try #require(payload["balanceAfter"]?.arrayValue?.first)
                #expect(before["balance"] == "10" && after["balance"] == "13", "\(payloadText)")
                #expect(after["locationUuid"] == "89ac1e4a-5f0f-11ec-bf63-0242ac130002")
                #expect(after["variantUuid"] == "78194842-5f0f-11ec-bf63-0242ac130002")
                #expect(after["productUuid"] == "65314d7e-5f0f-11ec-bf63-0242ac130002")
                // The first change (canonical API, no externalUuid) says null.
                let firstMessage = try JSONParser.parse(requests[0].body)
                let first = try JSONParser.parse(try #require(firstMessage["payload"]?.stringValue))
                #expect(first["externalUuid"] == .null)
                #expect(first["balanceBefore"]?.arrayValue?.first?["balance"] == "0")
            }
        }
    }

    @Test("a failing destination is retried with the same messageId until it answers 2xx, then never sent again")
    func retriedOnce() async throws {
        let calls = Mutex(0)
        let receiver = FakeUpstream { _ in
            calls.withLock {
                $0 += 1
                return $0
            } <= 2 ? FakeUpstream.Answer(503, "busy") : FakeUpstream.Answer(204, "")
        }
        try await receiver.run { destination in
            try await Self.withHub { live, hub in
                let subscribed = try await Self.subscribe(
                    live,
                    Self.subscription(uuid: "08db4d6e-912d-11eb-a8b3-0242ac130003", destination: destination + "/hook"))
                #expect(subscribed.status == 200, "\(subscribed.text)")
                // Another subscriber that wants other events gets nothing.
                _ = try await Self.subscribe(
                    live,
                    Self.subscription(
                        uuid: "6eefcb26-912c-11eb-a8b3-0242ac130003", destination: destination + "/other",
                        events: #"["ProductDeleted"]"#))
                #expect(
                    try await HTTPClient.shared.send(
                        .PUT, live.baseURL + "/organizations/self/inventory", body: Self.restock
                    ).status == 200)
                // Two refusals, then delivered (polled: the waits are the hub's own).
                for _ in 0..<100 where hub.deliveredCount("08db4d6e-912d-11eb-a8b3-0242ac130003") < 1 {
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(
                    hub.deliveredCount("08db4d6e-912d-11eb-a8b3-0242ac130003") == 1,
                    "\(receiver.requests.map { "\($0.method) \($0.path)" })")
                // Time for a wrong extra attempt to show.
                try await Task.sleep(for: .milliseconds(500))
                let requests = receiver.requests
                #expect(requests.count == 3, "two refused, one delivered, none after")
                let ids = try requests.map { try JSONParser.parse($0.body)["messageId"]?.stringValue }
                #expect(Set(ids).count == 1 && ids.first != nil, "one messageId across the retries")
                #expect(requests.allSatisfy { $0.path != "/other" })
            }
        }
    }

    @Test("without --enable-webhooks there is no Pusher API")
    func offByDefault() async throws {
        try await LiveGateway.run { live in
            let answer = try await Self.subscribe(
                live, Self.subscription(uuid: "f02f80f8-8f35-11eb-8dcd-0242ac130003", destination: "https://e.com"))
            #expect(answer.status == 404)
        }
    }
}

/// Issue 33: webhooks were forgotten on restart — subscriptions and undelivered messages were
/// kept in memory, so an acknowledged change could be lost for a subscriber.
@Suite("Zettle webhooks survive a restart")
struct WebhookRestartTests {
    /// A receiver that answers `status` and records what it was sent.
    final class Receiver: Sendable {
        let status = Mutex(500)
        let received = Mutex<[JSONValue]>([])
    }

    @Test("a subscription and a message not yet delivered are kept; after the restart it arrives, under its id")
    func restart() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let receiver = Receiver()
        let upstream = FakeUpstream { request in
            if let body = try? JSONParser.parse(request.body) { receiver.received.withLock { $0.append(body) } }
            return .init(receiver.status.withLock { $0 }, "")
        }
        try await upstream.run { base in
            try await withCurlClient(.init(timeout: .seconds(5))) { client in
                // The webhook state lives in a ledger file of its own, as in a data directory.
                let store = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
                defer { try? store.close() }
                // The first run's hub waits a minute before its second attempt, as a stopped process
                // never makes one; the next runs retry at once.
                func hub(retryDelay: Duration = .milliseconds(50)) -> PusherHub {
                    PusherHub(
                        client: client, maxAttempts: 1000, retryDelay: retryDelay,
                        destinations: PusherTests.loopbackAllowed, state: store, ownsStore: true, logger: quietLogger)
                }
                // The first run: the receiver is down, the message stays queued.
                let first = hub(retryDelay: .seconds(60))
                try await LiveGateway.run(pusher: first) { live in
                    let subscribed = try await PusherTests.subscribe(
                        live,
                        PusherTests.subscription(
                            uuid: "7d0b2a1e-8f35-11eb-8dcd-0242ac130003", destination: base + "/hook"))
                    #expect(subscribed.status == 200, "\(subscribed.text)")
                    let moved = try await HTTPClient.shared.send(
                        .PUT, live.baseURL + "/organizations/self/inventory", body: PusherTests.restock)
                    #expect(moved.status == 200, "\(moved.text)")
                    try await waitUntil(timeout: .seconds(10), "a failed attempt (\(upstream.requests.count) sent)") {
                        !receiver.received.withLock { $0 }.isEmpty
                    }
                }
                await first.shutdown()
                let messageID = receiver.received.withLock { $0.first?["messageUuid"]?.stringValue }
                #expect(messageID != nil, "\(receiver.received.withLock { $0 })")
                // The second run, on the same data directory, with the receiver back.
                receiver.status.withLock { $0 = 200 }
                let before = receiver.received.withLock { $0.count }
                let second = hub()
                await second.ready()
                #expect(second.all.map(\.uuid) == ["7d0b2a1e-8f35-11eb-8dcd-0242ac130003"], "the subscription is kept")
                try await waitUntil(timeout: .seconds(10), "the kept message delivered") {
                    second.deliveredCount("7d0b2a1e-8f35-11eb-8dcd-0242ac130003") == 1
                }
                let resent = receiver.received.withLock { Array($0.dropFirst(before)) }
                #expect(resent.last?["messageUuid"]?.stringValue == messageID, "the same message, under its id")
                // Delivered: a third run sends it no more.
                await second.shutdown()
                let third = hub()
                try await Task.sleep(for: .milliseconds(300))
                #expect(third.deliveredCount("7d0b2a1e-8f35-11eb-8dcd-0242ac130003") == 0)
            }
        }
    }
}

/// Issue 33, point 7, the case `WebhookKillTests` cannot force: the process died after the
/// ledger committed a change and before its message reached the disk, and the client never sent
/// the write again. On the next start the change is found in the journal and its message queued.
@Suite("Webhooks recovered from the journal")
struct WebhookRecoveryTests {
    static let subscription = "9c1d2a1e-8f35-11eb-8dcd-0242ac130003"

    /// A restock of the shop floor applied to the ledger behind the hub's back, as a crash
    /// would leave it: committed, no message.
    static func restock(_ ledger: Ledger, _ quantity: Int, request: String, external: String) async throws {
        var movement = Movement(
            product: "tshirt-blue-m", quantity: Quantity(quantity), from: "supplier", to: "shop-floor")
        movement.externalID = external
        _ = try await ledger.move(
            MoveBatch(items: [movement], atomicity: .allOrNothing),
            facts: RequestFacts(dialect: "zettle", requestID: request))
    }

    @Test(
        "a change committed and never queued is sent after the restart; one queued is not sent again; one from before the subscription is not sent"
    )
    func recovered() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let received = Mutex<[JSONValue]>([])
        let upstream = FakeUpstream { request in
            if let body = try? JSONParser.parse(request.body) { received.withLock { $0.append(body) } }
            return .init(200, "")
        }
        try await upstream.run { base in
            try await withCurlClient(.init(timeout: .seconds(5))) { client in
                let ledger = try Ledger.open(directory: directory + "/data", catalog: demoCatalog, logger: quietLogger)
                defer { try? ledger.close() }
                func hub(maxRecovered: Int = 10_000) -> PusherHub {
                    PusherHub(
                        client: client, retryDelay: .milliseconds(50), destinations: PusherTests.loopbackAllowed,
                        state: ledger, ownsStore: true, maxRecovered: maxRecovered, logger: quietLogger)
                }
                // Before anyone subscribed: never to be sent.
                try await Self.restock(
                    ledger, 1, request: "0a".padding(toLength: 32, withPad: "0", startingAt: 0),
                    external: "00000000-0000-4000-8000-000000000001")
                try await Task.sleep(for: .milliseconds(20))
                let first = hub()
                let made = PusherHub.Subscription(
                    uuid: Self.subscription, transportName: "WEBHOOK", eventNames: ["InventoryBalanceChanged"],
                    destination: base + "/hook", contactEmail: "ops@example.com", status: "ACTIVE",
                    signingKey: ZettlePusher.makeSigningKey(), updated: Date())
                #expect(await first.add(made) == .added)
                try await Task.sleep(for: .milliseconds(20))
                // A change published as usual (queued, delivered) ...
                try await Self.restock(
                    ledger, 2, request: "0b".padding(toLength: 32, withPad: "0", startingAt: 0),
                    external: "00000000-0000-4000-8000-000000000002")
                let published = try await ledger.movements(MovementQuery(afterID: 1))
                await first.movementsApplied(
                    published,
                    facts: RequestFacts(
                        dialect: "zettle", requestID: "0b".padding(toLength: 32, withPad: "0", startingAt: 0)),
                    store: ledger, catalog: demoCatalog)
                try await waitUntil(timeout: .seconds(10), "the published change delivered") {
                    first.deliveredCount(Self.subscription) == 1
                }
                // ... and one the crash kept from being queued.
                try await Self.restock(
                    ledger, 4, request: "0c".padding(toLength: 32, withPad: "0", startingAt: 0),
                    external: "00000000-0000-4000-8000-000000000003")

                // The restart: the journal has three changes; only the third is sent.
                await first.shutdown()
                let second = hub()
                await second.recover(store: ledger, catalog: demoCatalog)
                try await waitUntil(timeout: .seconds(10), "the recovered change delivered") {
                    second.deliveredCount(Self.subscription) == 1
                }
                let externals = received.withLock { messages in
                    messages.compactMap { message -> String? in
                        guard let payload = message["payload"]?.stringValue else { return nil }
                        return (try? JSONParser.parse(Array(payload.utf8)))?["externalUuid"]?.stringValue
                    }
                }
                #expect(externals == ["00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"])
                let recovered = try #require(received.withLock { $0.last })
                let payload = try JSONParser.parse(Array((recovered["payload"]?.stringValue ?? "").utf8))
                #expect(payload["balanceAfter"]?.arrayValue?.first?["balance"] == "7", "\(payload)")
                #expect(payload["balanceBefore"]?.arrayValue?.first?["balance"] == "3", "\(payload)")
                // Another restart finds every change sent: nothing more.
                await second.shutdown()
                let third = hub()
                await third.recover(store: ledger, catalog: demoCatalog)
                try await Task.sleep(for: .milliseconds(300))
                #expect(received.withLock { $0.count } == 2)
                // A recovery reads the newest movements only; a full window leaves out its oldest
                // request (it may be cut short, and its message id would not be its own).
                for (index, request) in ["0d", "0e", "0f"].enumerated() {
                    try await Self.restock(
                        ledger, 1, request: request.padding(toLength: 32, withPad: "0", startingAt: 0),
                        external: "00000000-0000-4000-8000-00000000001\(index)")
                }
                await third.shutdown()
                let bounded = hub(maxRecovered: 2)
                await bounded.recover(store: ledger, catalog: demoCatalog)
                try await waitUntil(timeout: .seconds(10), "the newest change delivered") {
                    bounded.deliveredCount(Self.subscription) == 1
                }
                try await Task.sleep(for: .milliseconds(300))
                let last = received.withLock { $0.count == 3 ? $0.last : nil }
                let newest = try JSONParser.parse(Array((last?["payload"]?.stringValue ?? "").utf8))
                #expect(newest["externalUuid"] == "00000000-0000-4000-8000-000000000012", "\(newest)")
            }
        }
    }
}
