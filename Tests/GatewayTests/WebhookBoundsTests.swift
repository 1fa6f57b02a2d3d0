import AsyncHTTPClient
import CurlHTTP
import Foundation
import Gateway
import GatewayTestSupport
import Operations
import Simulator
import StockCore
import Synchronization
import TestSupport
import Testing

/// The attack run's webhook findings (issue 29, 5, 6 and 9): unbounded queues and
/// subscriptions, subscriptions visible to (and changeable by) every client, and destinations
/// anywhere — link-local metadata, private ranges, the gateway's own host.
@Suite("Webhook bounds, ownership and destinations")
struct WebhookBoundsTests {
    static let clients = ClientAuthenticator(clients: [
        .init(name: "pos-a", secret: Secret("secret-of-a-123"), dialects: ["zettle", "stockgate"]),
        .init(name: "pos-b", secret: Secret("secret-of-b-456"), dialects: ["zettle"]),
    ])
    static let asA = [("Authorization", "Bearer secret-of-a-123")]
    static let asB = [("Authorization", "Bearer secret-of-b-456")]

    static func subscribe(
        _ live: LiveGateway, uuid: String, destination: String, as headers: [(String, String)] = []
    ) async throws -> HTTPResult {
        try await HTTPClient.shared.send(
            .POST, live.baseURL + "/organizations/self/subscriptions",
            body: PusherTests.subscription(uuid: uuid, destination: destination), headers: headers)
    }

    @Test(
        "destinations on loopback, link-local, private or reserved addresses are refused 422 naming the field; public ones are taken",
        arguments: [
            "http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8080/stockgate/v1/test/reset",
            "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/hook", "http://[::1]:9000/hook",
            "http://[fe80::1]/hook", "http://[::ffff:169.254.169.254]/hook", "http://0.0.0.0/hook",
        ])
    func forbiddenDestination(destination: String) async throws {
        try await PusherTests.withHub(destinations: DestinationPolicy()) { live, hub in
            let refused = try await Self.subscribe(
                live, uuid: "0b8c9a1e-5f0f-41ec-bf63-0242ac130002", destination: destination)
            #expect(refused.status == 422, "\(refused.text)")
            #expect(refused.json?["violations"]?.arrayValue?.first?["propertyName"] == "destination")
            #expect(hub.all.isEmpty)
            let public_ = try await Self.subscribe(
                live, uuid: "1b8c9a1e-5f0f-41ec-bf63-0242ac130002", destination: "https://hooks.example.com/in")
            #expect(public_.status == 200, "\(public_.text)")
            // Nor may an update point an existing subscription there.
            let moved = try await HTTPClient.shared.send(
                .PUT, live.baseURL + "/organizations/self/subscriptions/1b8c9a1e-5f0f-41ec-bf63-0242ac130002",
                body: #"{"destination": "\#(destination)"}"#)
            #expect(moved.status == 422, "\(moved.text)")
        }
    }

    @Test("an allowed network is taken; DestinationPolicy judges addresses as documented")
    func policy() throws {
        let none = DestinationPolicy()
        #expect(!none.permits(.v4([127, 0, 0, 1])) && !none.permits(.v4([169, 254, 169, 254])))
        #expect(!none.permits(.v4([172, 20, 0, 1])) && !none.permits(.v4([100, 64, 0, 1])))
        #expect(none.permits(.v4([93, 184, 216, 34])) && none.permits(.v4([172, 32, 0, 1])))
        #expect(!none.permits(.v6([0xfd] + [UInt8](repeating: 0, count: 15))))
        #expect(none.permits(.v6([0x26, 0x06, 0x28, 0x00] + [UInt8](repeating: 1, count: 12))))
        let allowed = try DestinationPolicy.parse("127.0.0.1, 10.0.0.0/8").get()
        #expect(allowed.permits(.v4([127, 0, 0, 1])) && !allowed.permits(.v4([127, 0, 0, 2])))
        #expect(allowed.permits(.v4([10, 9, 8, 7])) && !allowed.permits(.v4([169, 254, 169, 254])))
        #expect(none.refusal(host: "localhost") != nil && none.refusal(host: "LOCALHOST.") != nil)
        #expect(allowed.refusal(host: "localhost") == nil, "its 127.0.0.1 is allowed (::1 is judged when connecting)")
        #expect(none.refusal(host: "hooks.example.com") == nil, "a name is judged when it is resolved")
        if case .failure(let error) = DestinationPolicy.parse("10.0.0.0/8, ten") {
            #expect(error.entry.contains("ten"))
        } else {
            Issue.record("'ten' was taken for a network")
        }
    }

    @Test("a name that resolves to a refused address is refused when connecting: nothing is sent")
    func resolvedAtDelivery() async throws {
        let receiver = FakeUpstream { _ in FakeUpstream.Answer(200, "") }
        try await receiver.run { base in
            let client = CurlHTTPClient()
            // `localhost` passes no literal check here; libcurl resolves it to 127.0.0.1 / ::1.
            var request = CurlRequest(
                method: .post, url: base.replacingOccurrences(of: "127.0.0.1", with: "localhost") + "/hook",
                body: Array("{}".utf8))
            request.permitAddress = { DestinationPolicy().permits($0) }
            do {
                _ = try await client.execute(request)
                Issue.record("delivered to loopback")
            } catch let error as CurlError {
                #expect(error.code == .addressRefused, "\(error)")
            }
            await client.shutdown()
            #expect(receiver.requests.isEmpty)
        }
    }

    @Test(
        "a subscription is its creator's: another client neither lists it (nor its signingKey) nor changes nor deletes it"
    )
    func ownership() async throws {
        try await PusherTests.withHub(clients: Self.clients) { live, hub in
            let uuid = "2c8c9a1e-5f0f-41ec-bf63-0242ac130002"
            let created = try await Self.subscribe(
                live, uuid: uuid, destination: "https://a.example.com/in", as: Self.asA)
            #expect(created.status == 200, "\(created.text)")
            let key = try #require(created.json?["signingKey"]?.stringValue)
            let listedByB = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/organizations/self/subscriptions", headers: Self.asB)
            #expect(listedByB.status == 200 && listedByB.json?.arrayValue?.isEmpty == true, "\(listedByB.text)")
            #expect(!listedByB.text.contains(key))
            let redirected = try await HTTPClient.shared.send(
                .PUT, live.baseURL + "/organizations/self/subscriptions/\(uuid)",
                body: #"{"destination": "https://evil.example.com/steal"}"#, headers: Self.asB)
            #expect(redirected.status == 404, "\(redirected.text)")
            let deleted = try await HTTPClient.shared.send(
                .DELETE, live.baseURL + "/organizations/self/subscriptions/\(uuid)", headers: Self.asB)
            #expect(deleted.status == 404)
            #expect(hub.all.first?.destination == "https://a.example.com/in")
            let listedByA = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/organizations/self/subscriptions", headers: Self.asA)
            #expect(listedByA.json?.arrayValue?.first?["signingKey"]?.stringValue == key)
            let anonymous = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/subscriptions")
            #expect(anonymous.status == 401)
        }
    }

    @Test("a client holds at most maxSubscriptions; another client has its own allowance")
    func subscriptionLimit() async throws {
        try await PusherTests.withHub(clients: Self.clients, maxSubscriptions: 2) { live, hub in
            for index in 0..<2 {
                let made = try await Self.subscribe(
                    live, uuid: "3c8c9a1e-5f0f-41ec-bf63-02420000000\(index)", destination: "https://a.example.com/in",
                    as: Self.asA)
                #expect(made.status == 200, "\(made.text)")
            }
            let third = try await Self.subscribe(
                live, uuid: "3c8c9a1e-5f0f-41ec-bf63-024200000009", destination: "https://a.example.com/in",
                as: Self.asA)
            #expect(third.status == 400 && third.text.contains("at most 2"), "\(third.text)")
            let ofB = try await Self.subscribe(
                live, uuid: "4c8c9a1e-5f0f-41ec-bf63-024200000000", destination: "https://b.example.com/in",
                as: Self.asB)
            #expect(ofB.status == 200, "\(ofB.text)")
            #expect(hub.all.count == 3)
        }
    }

    /// Ten changes for a subscriber whose destination holds every answer until the test has
    /// made all ten and waited `hold` more: the first message is in flight, the other nine wait
    /// behind it — whatever the machine's speed, so the bounds' effect is exact.
    static func heldReceiverRun(
        maxQueued: Int, maxAge: Duration, hold: Duration,
        _ check: @Sendable (PusherHub, FakeUpstream, GatewayMetrics) async throws -> Void
    ) async throws {
        let released = Atomic<Bool>(false)
        let receiver = FakeUpstream(relay: { _ in
            while !released.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
            return FakeUpstream.Answer(200, "")
        })
        let metrics = GatewayMetrics()
        try await receiver.run { destination in
            try await PusherTests.withHub(maxQueued: maxQueued, maxAge: maxAge, metrics: metrics) { live, hub in
                let made = try await Self.subscribe(
                    live, uuid: "5c8c9a1e-5f0f-41ec-bf63-024200000000", destination: destination + "/hook")
                #expect(made.status == 200, "\(made.text)")
                for _ in 0..<10 {
                    let moved = try await HTTPClient.shared.send(
                        .PUT, live.baseURL + "/organizations/self/inventory", body: PusherTests.restock)
                    #expect(moved.status == 200)
                }
                try await Task.sleep(for: hold)
                released.store(true, ordering: .relaxed)
                try await waitUntil(timeout: .seconds(20), "the queue drained") {
                    hub.deliveredCount(Self.heldUUID) + hub.droppedCount(Self.heldUUID) == 10
                }
                try await check(hub, receiver, metrics)
            }
        }
    }

    static let heldUUID = "5c8c9a1e-5f0f-41ec-bf63-024200000000"

    @Test("a subscriber's queue holds at most maxQueued: the oldest are dropped, counted and in the metrics")
    func queueBound() async throws {
        try await Self.heldReceiverRun(maxQueued: 3, maxAge: .seconds(3600), hold: .milliseconds(100)) {
            hub, receiver, metrics in
            let uuid = Self.heldUUID
            // One in flight (taken before or after the rest arrived), three kept behind it: 6 or
            // 7 of the 10 dropped, the oldest first.
            #expect((3...4).contains(hub.deliveredCount(uuid)), "\(hub.deliveredCount(uuid)) delivered")
            #expect(hub.droppedCount(uuid) == 10 - hub.deliveredCount(uuid))
            #expect(receiver.requests.count == hub.deliveredCount(uuid))
            let balances = try receiver.requests.map { request -> String? in
                let payload = try JSONParser.parse(try JSONParser.parse(request.body)["payload"]?.stringValue ?? "")
                return payload["balanceAfter"]?.arrayValue?.first?["balance"]?.stringValue
            }
            // The three newest changes (restocks of 3 each: 24, 27, 30) are the last delivered.
            #expect(Array(balances.suffix(3)) == ["24", "27", "30"], "\(balances)")
            let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains("stockgate_webhook_messages_dropped_total \(hub.droppedCount(uuid))"))
        }
    }

    @Test("a message not delivered within maxAge is dropped, not sent late")
    func ageBound() async throws {
        // Held 400 ms past the last change: the nine waiting behind the first are all older
        // than 300 ms when their turn comes.
        try await Self.heldReceiverRun(maxQueued: 1000, maxAge: .milliseconds(300), hold: .milliseconds(400)) {
            hub, receiver, _ in
            let uuid = Self.heldUUID
            #expect(hub.droppedCount(uuid) >= 9, "\(hub.droppedCount(uuid)) dropped")
            #expect(receiver.requests.count == hub.deliveredCount(uuid))
        }
    }
}
