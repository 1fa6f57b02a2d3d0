import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import NIOCore
import ServiceLifecycle
import StockCore
import TestSupport
import Testing

@testable import Gateway

/// The attack run against 4fab98f (issue 29), the findings about connections: each test fails
/// on that commit.
@Suite("Connection defences (issue 29)")
struct ConnectionDefenceTests {
    static let movement =
        #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
    static let clients = ClientAuthenticator(clients: [
        .init(name: "ops", secret: Secret("ops-secret-123"), dialects: ["stockgate"], roles: [.test]),
        .init(name: "shop", secret: Secret("shop-secret-456"), dialects: ["stockgate"]),
    ])

    /// Finding 4: a head announcing a body on a route that does not read one held its connection
    /// for ever (no body deadline), and so did a drain waiting for it.
    @Test(
        "a body nobody reads is bounded by the body deadline: 408 and closed",
        arguments: [
            "/nowhere", "/healthz", "/metrics", "/stockgate/console", "/Token", "/stockgate/openapi/zettle.json",
        ])
    func unreadBodyTimesOut(path: String) async throws {
        try await LiveGateway.run(configure: { $0.requestTimeout = .milliseconds(400) }) { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 10)
            client.send("POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: 500\r\n\r\n{\"a\"")
            let started = ContinuousClock.now
            let (answer, closed) = await offPool { client.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(closed)
            #expect(ContinuousClock.now - started < .seconds(8))
        }
    }

    /// Finding 3: with clients configured, the test reset answered an anonymous caller and
    /// emptied the ledger.
    @Test("the test reset refuses anonymous callers when clients are configured; a client's credentials reset")
    func resetNeedsCredentials() async throws {
        try await LiveGateway.run(clients: Self.clients, testReset: true) { live in
            let base = live.baseURL
            let ledger = live.ledger
            let moved = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements", body: Self.movement,
                headers: [("Authorization", "Bearer ops-secret-123")])
            #expect(moved.status == 200, "\(moved.text)")
            let anonymous = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/test/reset")
            #expect(anonymous.status == 401, "\(anonymous.text)")
            #expect(try await ledger.count(MovementQuery()) == 1, "nothing emptied")
            let wrong = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/test/reset", headers: [("Authorization", "Bearer guess")])
            #expect(wrong.status == 401)
            let stockOnly = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/test/reset", headers: [("Authorization", "Bearer shop-secret-456")])
            #expect(stockOnly.status == 403, "a client without the test role: \(stockOnly.text)")
            let known = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/test/reset", headers: [("Authorization", "Bearer ops-secret-123")])
            #expect(known.status == 200, "\(known.text)")
            #expect(try await ledger.count(MovementQuery()) == 0)
        }
    }

    /// Finding 13: `100 Continue` went out before the credentials were checked, inviting anyone
    /// to send a body.
    @Test("Expect: 100-continue without credentials is answered 401 with no 100 first; with them, 100 then 200")
    func continueAfterCredentials() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let head =
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Expect: 100-continue\r\nContent-Length: \(Self.movement.utf8.count)\r\n"
            let anonymous = try RawClient(port: live.port, timeoutSeconds: 5)
            anonymous.send(head + "\r\n")
            let refusal = await offPool { anonymous.readHead() }
            #expect(refusal.hasPrefix("HTTP/1.1 401"), "\(refusal)")

            let known = try RawClient(port: live.port, timeoutSeconds: 5)
            known.send(head + "Authorization: Bearer ops-secret-123\r\n\r\n")
            let interim = await offPool { known.readHead() }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
            known.send(Self.movement)
            let answer = await offPool { known.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(try await live.ledger.count(MovementQuery()) == 1)
        }
    }

    /// Finding 8: pipelined requests followed by a half-close lost the last answer although its
    /// request ran (the answer's end handed over the next request from inside the write, and the
    /// connection was closed for the request before).
    @Test(
        "pipelined writes then a half-close: every request answered, in order, each applied once", arguments: [2, 3, 8])
    func pipelinedThenHalfClosed(count: Int) async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 10)
            var text = ""
            for index in 0..<count {
                text +=
                    "POST /stockgate/v1/movements HTTP/1.1\r\nHost: a\r\nX-Request-Id: p\(index)\r\n"
                    + "Content-Length: \(Self.movement.utf8.count)\r\n\r\n\(Self.movement)"
            }
            client.send(text)
            client.finishSending()
            let (answers, closed) = await offPool { client.readUntilClosed() }
            #expect(closed)
            let ids = answers.components(separatedBy: "\r\n").compactMap { line -> String? in
                line.lowercased().hasPrefix("x-request-id: p") ? String(line.dropFirst("x-request-id: ".count)) : nil
            }
            #expect(ids == (0..<count).map { "p\($0)" }, "\(answers)")
            #expect(try await live.ledger.count(MovementQuery()) == count)
        }
    }

    /// Finding 8: after a pipelined request with `Connection: close`, a 400 was sent for the
    /// requests behind it.
    @Test("a pipelined request with Connection: close is the last answered: nothing after it, no 400")
    func pipelinedClose() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 10)
            client.send(
                "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                    + "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                    + "POST /stockgate/v1/movements HTTP/1.1\r\nHost: a\r\n"
                    + "Content-Length: \(Self.movement.utf8.count)\r\n\r\n\(Self.movement)")
            let (answers, closed) = await offPool { client.readUntilClosed() }
            #expect(closed)
            #expect(answers.components(separatedBy: "HTTP/1.1 ").count - 1 == 2, "\(answers)")
            #expect(!answers.contains("HTTP/1.1 400"), "\(answers)")  // not a bare "400": request ids are hex
            #expect(try await live.ledger.count(MovementQuery()) == 0, "nothing after the close request runs")
        }
    }

    /// Issue 33: keep-alive clients were not told to reconnect while the instance drains.
    @Test("while draining, every answer says Connection: close and the connection closes after it")
    func drainingSaysClose() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 5)
            client.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            let before = await offPool { client.readAll() }
            #expect(!before.lowercased().contains("connection: close"), "\(before)")
            live.gateway.beginDraining()
            client.send("GET /stockgate/v1/balances HTTP/1.1\r\nHost: a\r\n\r\n")
            let (answer, closed) = await offPool { client.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 200") && answer.lowercased().contains("connection: close"), "\(answer)")
            #expect(closed)
        }
    }

    /// Finding 4: the drain had no upper bound. A request held in the pipeline past
    /// `drain_timeout_seconds` has its connection closed, and the server stops.
    @Test("a graceful shutdown waits at most drain_timeout for requests in hand, then closes their connections")
    func drainIsBounded() async throws {
        let backend = HeldBackend()
        defer { backend.release() }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
        configuration.drainTimeout = .milliseconds(500)
        let gateway = Gateway(
            configuration: configuration, catalog: demoCatalog, backend: backend, logger: quietLogger)
        let (port, group, running) = try await startServer(gateway)
        let client = try RawClient(port: port, timeoutSeconds: 10)
        client.send("GET /stockgate/v1/balances?location=shop-floor HTTP/1.1\r\nHost: a\r\n\r\n")
        try await waitUntil("the request reached the backend") { backend.entered.load(ordering: .relaxed) == 1 }
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value  // returns although the request is still held
        #expect(ContinuousClock.now - started < .seconds(5))
        let (rest, closed) = await offPool { client.readUntilClosed() }
        #expect(closed && rest.isEmpty, "\(rest)")
    }
}

/// Attack run finding 12 (issue 29): idempotency keys were scoped per dialect, not per client.
@Suite("Idempotency keys are each client's own")
struct KeyScopeTests {
    static let clients = ClientAuthenticator(clients: [
        .init(name: "shop-a", secret: Secret("secret-a-123456"), dialects: ["stockgate"]),
        .init(name: "shop-b", secret: Secret("secret-b-654321"), dialects: ["stockgate"]),
    ])

    @Test("two clients choosing one key neither replay nor refuse each other; each client's own reuse still does")
    func perClient() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let url = live.baseURL + "/stockgate/v1/movements"
            func send(_ secret: String, _ quantity: Int) async throws -> HTTPResult {
                try await HTTPClient.shared.send(
                    .POST, url,
                    body:
                        #"{"movements": [{"product": "mug-white", "quantity": \#(quantity), "from": "supplier", "to": "shop-floor"}]}"#,
                    headers: [("Authorization", "Bearer \(secret)"), ("Idempotency-Key", "order-1")])
            }
            let a = try await send("secret-a-123456", 1)
            #expect(a.status == 200 && a.headers.first(name: "Idempotent-Replayed") == nil)
            let bSame = try await send("secret-b-654321", 1)
            #expect(bSame.status == 200, "\(bSame.text)")
            #expect(bSame.headers.first(name: "Idempotent-Replayed") == nil, "not A's stored answer")
            #expect(try await live.ledger.count(MovementQuery()) == 2)
            let aAgain = try await send("secret-a-123456", 1)
            #expect(aAgain.headers.first(name: "Idempotent-Replayed") == "true")
            let bOther = try await send("secret-b-654321", 5)
            #expect(bOther.status == 409, "B's own key reused for another request: \(bOther.text)")
            #expect(bOther.text.contains("'order-1'"), "the message shows the caller's key: \(bOther.text)")
            #expect(try await live.ledger.count(MovementQuery()) == 2)
        }
    }
}

/// Attack run finding 10 (issue 29): an invalid `Host` was accepted and echoed into Zettle V3
/// `Link` URLs.
@Suite("The Host header")
struct HostHeaderTests {
    @Test(
        "host[:port] with a DNS-style name, IPv4 or bracketed IPv6 is valid",
        arguments: ["a", "127.0.0.1:8080", "shop.example.com", "stock_gate-1.internal:443", "[::1]:9000", "[fe80::1]"])
    func valid(host: String) {
        #expect(HostHeader.isValid(host))
    }

    @Test(
        "anything that could forge a URL or header syntax is not",
        arguments: [
            "", "evil.com>; rel=\"next\", <http://x", "a b", "a,b", "a;b", "a/b", "user@host", "host:", "host:123456",
            "host:80a", "[::1", "[]", ":80", "a\"b", "h\u{7F}", String(repeating: "a", count: 256),
        ])
    func invalid(host: String) {
        #expect(!HostHeader.isValid(host))
    }

    @Test("a request with such a Host is refused 400 before routing, and nothing is applied")
    func refusedOnTheWire() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 5)
            client.send(
                "GET /v3/stock/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002?limit=1 HTTP/1.1\r\nHost: evil.com>; rel=\"x\"\r\n\r\n"
            )
            let (answer, closed) = await offPool { client.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(!answer.contains("evil.com"), "\(answer)")
            #expect(closed)
        }
    }
}

/// Attack run finding 13 (issue 29): `POST /Token` (and every credential check) could be asked
/// without limit, so secrets could be guessed at line rate.
@Suite("Guessing secrets is slowed down")
struct GuessingTests {
    static let clients = ClientAuthenticator(clients: [
        .init(name: "feeder", secret: Secret("feeder-secret-789"), dialects: ["storefeeder", "stockgate"])
    ])

    static func token(_ live: LiveGateway, password: String) async throws -> HTTPResult {
        try await HTTPClient.shared.send(
            .POST, live.baseURL + "/Token", body: "grant_type=password&username=feeder&password=\(password)",
            headers: [("Content-Type", "application/x-www-form-urlencoded")])
    }

    @Test("after 10 wrong passwords for a name, /Token answers 429 with Retry-After even to the right one")
    func tokenGuessing() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let good = try await Self.token(live, password: "feeder-secret-789")
            #expect(good.status == 200, "\(good.text)")
            for attempt in 0..<10 {
                let wrong = try await Self.token(live, password: "guess-\(attempt)")
                #expect(wrong.status == 400, "attempt \(attempt): \(wrong.text)")
            }
            let blocked = try await Self.token(live, password: "feeder-secret-789")
            #expect(blocked.status == 429, "\(blocked.text)")
            #expect(Int(blocked.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
            #expect(blocked.text.contains("invalid_grant"))
            #expect(try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz").status == 200)
        }
    }

    @Test("after 10 failed credential checks from one address, its requests are answered 429 in the dialect's envelope")
    func bearerGuessing() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            let url = live.baseURL + "/stockgate/v1/balances?location=shop-floor"
            for attempt in 0..<10 {
                let wrong = try await HTTPClient.shared.send(
                    .GET, url, headers: [("Authorization", "Bearer guess-\(attempt)")])
                #expect(wrong.status == 401)
            }
            let blocked = try await HTTPClient.shared.send(
                .GET, url, headers: [("Authorization", "Bearer feeder-secret-789")])
            #expect(blocked.status == 429, "\(blocked.text)")
            #expect(blocked.json?["error"]?["message"]?.stringValue?.contains("failed credential checks") == true)
            #expect(blocked.headers.first(name: "Retry-After") != nil)
            #expect(try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz").status == 200)
        }
    }

    @Test("requests without any credentials are refused 401 every time, never counted as guesses")
    func noCredentialsNotCounted() async throws {
        try await LiveGateway.run(clients: Self.clients) { live in
            for _ in 0..<15 {
                let bare = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/balances")
                #expect(bare.status == 401)
            }
            let known = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/stockgate/v1/balances", headers: [("Authorization", "Bearer feeder-secret-789")])
            #expect(known.status == 200, "\(known.text)")
        }
    }

    @Test("the throttle forgets a window once it has passed")
    func windowPasses() {
        let throttle = AuthThrottle(maxFailures: 2, window: .seconds(60))
        let start = NIODeadline.now()
        #expect(throttle.isQuiet)
        throttle.failed("peer:1", now: start)
        #expect(throttle.blocked("peer:1", now: start) == nil)
        throttle.failed("peer:1", now: start)
        #expect(throttle.blocked("peer:1", now: start + .seconds(10)) == .seconds(50))
        #expect(throttle.blocked("peer:2", now: start) == nil)
        #expect(throttle.blocked("peer:1", now: start + .seconds(61)) == nil)
        #expect(throttle.isQuiet)
    }
}
