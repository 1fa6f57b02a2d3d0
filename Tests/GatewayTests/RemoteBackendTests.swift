import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// The gap filling of `RemoteBackend`, and backend authentication, against recording
/// upstreams and a second StockGate on loopback.
@Suite("Remote backends")
struct RemoteBackendTests {
    static let facts = RequestFacts(dialect: "stockgate", requestID: "req-remote")

    static func withBackend<T: Sendable>(
        dialect: String, baseURL: String, auth: BackendAuthMethod = .none, catalog: Catalog = demoCatalog,
        _ body: @Sendable (RemoteBackend, Ledger) async throws -> T
    ) async throws -> T {
        return try await withTemporaryLedger { directory, journal in
            try await withCurlClient(.init(timeout: .seconds(10))) { client in
                let codec = Backends.codec(dialect: DialectID(dialect), parameters: BackendParameters())!
                let backend = RemoteBackend(
                    name: "remote", baseURL: baseURL, codec: codec, client: client, auth: auth, catalog: catalog,
                    journal: journal, logger: quietLogger)
                return try await body(backend, journal)
            }
        }
    }

    static var forwardedQuery: MovementQuery {
        var query = MovementQuery()
        query.backend = "remote"
        return query
    }

    static func move(
        _ product: String, _ quantity: String, _ from: String, _ to: String, pending: Bool = false
    ) -> Movement {
        Movement(
            product: product, quantity: try! Quantity(parsing: quantity), from: from, to: to,
            state: pending ? .pending : .applied)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var dialect: String
        var movement: Movement
        var field: String
        var testDescription: String { "\(dialect): \(field)" }
    }

    static let refusals: [Refusal] = [
        Refusal(
            dialect: "storefeeder", movement: move("coffee-beans", "2.5", "supplier", "shop-floor"), field: "quantity"),
        Refusal(
            dialect: "open2b-v6", movement: move("coffee-beans", "1.125", "supplier", "shop-floor"), field: "quantity"),
        Refusal(dialect: "open2b-v3", movement: move("mug-white", "1", "shop-floor", "back-room"), field: "to"),
        Refusal(dialect: "open2b-v6", movement: move("mug-white", "1", "back-room", "sold"), field: "from"),
        Refusal(dialect: "zettle", movement: move("socks", "1", "supplier", "shop-floor"), field: "product"),
        Refusal(dialect: "zettle", movement: move("mug-white", "1", "supplier", "back-room"), field: "to"),
        Refusal(dialect: "colleqtive", movement: move("mug-white", "1", "shop-floor", "warehouse"), field: "to"),
        Refusal(
            dialect: "colleqtive", movement: move("mug-white", "1", "supplier", "shop-floor", pending: true),
            field: "pending"),
    ]

    @Test("what the backend cannot express is refused before anything is sent", arguments: refusals)
    func refusedBeforeSending(_ refusal: Refusal) async throws {
        let upstream = FakeUpstream { _ in (500, "{}") }
        try await upstream.run { base in
            try await Self.withBackend(dialect: refusal.dialect, baseURL: base) { backend, journal in
                // Alone, and with a good item in an all-or-nothing batch: nothing at all is sent.
                let good = Self.move("mug-white", "1", "supplier", "shop-floor")
                for batch in [
                    MoveBatch(items: [refusal.movement], atomicity: .perItem),
                    MoveBatch(items: [good, refusal.movement], atomicity: .allOrNothing),
                ] {
                    let outcome = try await backend.execute(.move(batch), facts: Self.facts)
                    guard case .moved(let result) = outcome, case .failed(let error) = result.items.last else {
                        Issue.record("expected a refusal, got \(outcome)")
                        return
                    }
                    #expect(error.code == .unsupported, "\(error)")
                    #expect(error.field == refusal.field, "\(error)")
                }
                #expect(upstream.requests.isEmpty, "sent: \(upstream.requests.map(\.path))")
                #expect(try await journal.count(Self.forwardedQuery) == 0)
            }
        }
    }

    @Test(
        "an all-or-nothing batch on a per-item backend is undone at the backend when an item fails",
        arguments: ["storefeeder", "open2b-v6"])
    func undo(_ dialect: String) async throws {
        let catalog = demoCatalog.filtered(products: { $0.key != "tshirt-blue-l" })
        try await LiveGateway.run(catalog: catalog) { second in
            try await Self.withBackend(dialect: dialect, baseURL: second.baseURL) { backend, journal in
                let batch = MoveBatch(
                    items: [
                        Self.move("mug-white", "5", "supplier", "shop-floor"),
                        Self.move("tshirt-blue-l", "1", "supplier", "shop-floor"),
                    ],
                    atomicity: .allOrNothing)
                guard case .moved(let outcome) = try await backend.execute(.move(batch), facts: Self.facts) else {
                    Issue.record("expected a move outcome")
                    return
                }
                guard case .undone = outcome.items[0], case .failed(let error) = outcome.items[1] else {
                    Issue.record("expected undone + failed, got \(outcome.items)")
                    return
                }
                #expect(error.code == .notFound, "\(error)")
                // The second StockGate saw the movement and its reversal: net nothing.
                #expect(try await second.ledger.totalStock(product: "mug-white") == .zero)
                #expect(try await second.ledger.count(MovementQuery()) == 2)
                // The journal says what happened: applied then reversed, its reversal, the failure.
                let states = try await journal.movements(Self.forwardedQuery).map(\.state)
                #expect(states == [.reversed, .failed, .applied])
                var standing = Self.forwardedQuery
                standing.appliedOnly = true
                #expect(try await journal.count(standing) == 0)
            }
        }
    }

    @Test("a per-item batch refused whole by an all-or-nothing backend is retried item by item")
    func perItemOnAtomicBackend() async throws {
        let catalog = demoCatalog.filtered(products: { $0.key != "tshirt-blue-l" })
        try await LiveGateway.run(catalog: catalog) { second in
            try await Self.withBackend(dialect: "colleqtive", baseURL: second.baseURL) { backend, journal in
                let batch = MoveBatch(
                    items: [
                        Self.move("mug-white", "2", "supplier", "shop-floor"),
                        Self.move("tshirt-blue-l", "1", "supplier", "shop-floor"),
                    ],
                    atomicity: .perItem)
                guard case .moved(let outcome) = try await backend.execute(.move(batch), facts: Self.facts) else {
                    return
                }
                guard case .applied(let movement) = outcome.items[0], case .failed = outcome.items[1] else {
                    Issue.record("expected applied + failed, got \(outcome.items)")
                    return
                }
                #expect(try await second.ledger.totalStock(product: "mug-white") == Quantity(2))
                // The gateway's journal knows the forwarded movement under its own id.
                #expect(movement.backend == "remote")
                let found = try await backend.execute(
                    .findMovements(MovementQuery(appliedOnly: true)), facts: Self.facts)
                #expect(found == .movements([movement]))
                let all = try await journal.movements(Self.forwardedQuery).map(\.state)
                #expect(all == [.applied, .failed])
            }
        }
    }

    @Test("a batch repeated with the same idempotency key is not sent twice")
    func idempotentForward() async throws {
        try await LiveGateway.run { second in
            try await Self.withBackend(dialect: "storefeeder", baseURL: second.baseURL) { backend, _ in
                var facts = Self.facts
                facts.idempotencyKey = "retry-1"
                let batch = MoveBatch(
                    items: [Self.move("mug-white", "3", "supplier", "shop-floor")], atomicity: .allOrNothing)
                _ = try await backend.execute(.move(batch), facts: facts)
                let again = try await backend.execute(.move(batch), facts: facts)
                guard case .moved(let outcome) = again else { return }
                #expect(outcome.replayed)
                #expect(try await second.ledger.totalStock(product: "mug-white") == Quantity(3))
            }
        }
    }

    @Test("an unreachable backend is a clear 'unavailable' error")
    func unreachable() async throws {
        try await Self.withBackend(dialect: "zettle", baseURL: "http://127.0.0.1:9") { backend, journal in
            await #expect {
                try await backend.execute(
                    .move(
                        MoveBatch(items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                    facts: Self.facts)
            } throws: { error in
                (error as? GatewayError)?.code == .unavailable
                    && (error as? GatewayError)?.message.contains("remote") == true
            }
            let states = try await journal.movements(Self.forwardedQuery).map(\.state)
            #expect(states == [.failed])
        }
    }

    // MARK: Auth

    static let zettleOK = #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": []}"#

    @Test("bearer and header-key credentials are sent; the secret never reaches an error")
    func staticCredentials() async throws {
        let upstream = FakeUpstream { request in
            request.path.contains("commerce.movements") ? (200, #"{"status": "ok", "id": 1}"#) : (200, Self.zettleOK)
        }
        try await upstream.run { base in
            try await Self.withBackend(dialect: "zettle", baseURL: base, auth: .bearer(token: Secret("tok-123"))) {
                backend, _ in
                _ = try await backend.execute(
                    .move(
                        MoveBatch(items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                    facts: Self.facts)
            }
            try await Self.withBackend(
                dialect: "open2b-v6", baseURL: base, auth: .header(name: "X-Key", value: Secret("key-456"))
            ) { backend, _ in
                _ = try await backend.execute(
                    .move(
                        MoveBatch(items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                    facts: Self.facts)
            }
        }
        let requests = upstream.requests
        #expect(requests.count == 2)
        #expect(requests[0].headers["authorization"] == "Bearer tok-123")
        #expect(requests[1].headers["x-key"] == "key-456")
        #expect(requests[1].headers["authorization"] == nil)
        #expect(requests[0].headers["x-request-id"] == "req-remote")
        #expect(String(describing: BackendAuthMethod.bearer(token: Secret("tok-123"))).contains("tok-123") == false)
    }

    @Test("OAuth2 client credentials: one token for many calls, fetched again once on a 401")
    func clientCredentials() async throws {
        let tokens = Mutex(0)
        let upstream = FakeUpstream { request in
            if request.path == "/token" {
                let number = tokens.withLock {
                    $0 += 1; return $0
                }
                return (200, #"{"access_token": "token-\#(number)", "token_type": "Bearer", "expires_in": 3600}"#)
            }
            // The backend revokes the first token after two calls.
            if request.headers["authorization"] == "Bearer token-1" && request.method == "PUT" {
                return (200, Self.zettleOK)
            }
            return request.headers["authorization"] == "Bearer token-2"
                ? (200, Self.zettleOK) : (401, #"{"error": "invalid_token"}"#)
        }
        try await upstream.run { base in
            let auth = BackendAuthMethod.clientCredentials(
                tokenURL: base + "/token", clientID: "gateway", clientSecret: Secret("s3cret value&"), scope: "api")
            try await Self.withBackend(dialect: "zettle", baseURL: base, auth: auth) { backend, _ in
                for _ in 0..<3 {
                    _ = try await backend.execute(
                        .move(
                            MoveBatch(
                                items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                        facts: Self.facts)
                }
                // A read the first token is no longer good for: 401, a new token, success.
                _ = try await backend.execute(.readBalances(BalanceQuery(location: "shop-floor")), facts: Self.facts)
            }
        }
        let tokenCalls = upstream.requests.filter { $0.path == "/token" }
        #expect(tokenCalls.count == 2)
        let form = QueryString.parse(tokenCalls[0].body)
        #expect(form.map(\.name) == ["grant_type", "client_id", "client_secret", "scope"])
        #expect(form.first { $0.name == "grant_type" }?.value == "client_credentials")
        #expect(form.first { $0.name == "client_secret" }?.value == "s3cret value&")
        #expect(upstream.requests.filter { $0.path != "/token" }.count == 5)  // 3 moves, a 401, the retry
    }

    @Test("OAuth2 password grant, as StoreFeeder's POST /Token")
    func passwordGrant() async throws {
        let upstream = FakeUpstream { request in
            if request.path == "/Token" { return (200, #"{"access_token": "sf-token", "expires_in": 1209599}"#) }
            let ok =
                #"{"PendingTransfers":0,"ImmediateTransfers":1,"TotalItemsProcessed":1,"Successful":1,"Failed":0,"Responses":[{"Transfer":{},"Success":true}]}"#
            return request.headers["authorization"] == "Bearer sf-token" ? (200, ok) : (401, "{}")
        }
        try await upstream.run { base in
            let auth = BackendAuthMethod.password(
                tokenURL: base + "/Token", username: "api@shop", password: Secret("pw"), clientID: "sf")
            try await Self.withBackend(dialect: "storefeeder", baseURL: base, auth: auth) { backend, _ in
                let outcome = try await backend.execute(
                    .move(
                        MoveBatch(items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                    facts: Self.facts)
                guard case .moved(let batch) = outcome else { return }
                #expect(batch.allSucceeded)
            }
        }
        let form = QueryString.parse(upstream.requests[0].body)
        #expect(form.first { $0.name == "grant_type" }?.value == "password")
        #expect(form.first { $0.name == "username" }?.value == "api@shop")
        #expect(form.first { $0.name == "client_id" }?.value == "sf")
    }

    @Test("a refused token request is an error without the secret in it")
    func tokenRefused() async throws {
        let upstream = FakeUpstream { _ in (400, #"{"error": "invalid_client", "echo": "very-secret"}"#) }
        try await upstream.run { base in
            let auth = BackendAuthMethod.clientCredentials(
                tokenURL: base + "/token", clientID: "gw", clientSecret: Secret("very-secret"), scope: nil)
            try await Self.withBackend(dialect: "zettle", baseURL: base, auth: auth) { backend, _ in
                do {
                    _ = try await backend.execute(
                        .move(
                            MoveBatch(
                                items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                        facts: Self.facts)
                    Issue.record("expected a refusal")
                } catch let error as GatewayError {
                    #expect(error.code == .backendFailure)
                    #expect(!error.message.contains("very-secret"))
                }
            }
        }
    }

    @Test(
        "a backend quoting its request headers in its error text relays none of our secrets, and a capped message",
        arguments: ["bearer", "x-key", "oauth"])
    func vendorMessagesScrubbed(_ kind: String) async throws {
        // The backend echoes every header it got, and more, in its refusal.
        let upstream = FakeUpstream { request in
            if request.path == "/token" {
                return (200, #"{"access_token": "oauth-access-7f3e9d", "expires_in": 3600}"#)
            }
            let echoed = request.headers.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; ")
            let message = "rejected request with headers " + echoed + String(repeating: " padding", count: 200)
            let quoted = String(decoding: JSONWriter.bytes(.string(message)), as: UTF8.self)
            return kind == "x-key"
                ? (
                    200,
                    #"{"status": "error", "error": {"field": "movement.sku", "type": "InvalidValue", "description": \#(quoted)}}"#
                )
                : (400, #"{"developerMessage": \#(quoted), "errorType": "INVALID", "violations": []}"#)
        }
        try await upstream.run { base in
            let auth: BackendAuthMethod =
                switch kind {
                case "bearer": .bearer(token: Secret("zettle-bearer-91ab"))
                case "x-key": .header(name: "X-Key", value: Secret("open2b-key-55cd"))
                default:
                    .clientCredentials(
                        tokenURL: base + "/token", clientID: "gw", clientSecret: Secret("client-secret-x1"), scope: nil)
                }
            try await Self.withBackend(dialect: kind == "x-key" ? "open2b-v6" : "zettle", baseURL: base, auth: auth) {
                backend, _ in
                let outcome = try await backend.execute(
                    .move(
                        MoveBatch(items: [Self.move("mug-white", "1", "supplier", "shop-floor")], atomicity: .perItem)),
                    facts: Self.facts)
                guard case .moved(let batch) = outcome, case .failed(let error) = batch.items[0] else {
                    Issue.record("expected a refused item"); return
                }
                #expect(error.message.contains("rejected request with headers"))  // the vendor's words are kept
                #expect(error.message.contains("[redacted]"))
                for secret in ["zettle-bearer-91ab", "open2b-key-55cd", "oauth-access-7f3e9d", "client-secret-x1"] {
                    #expect(!error.message.contains(secret), "\(kind): \(secret) relayed")
                }
                #expect(error.message.count <= SecretRedactor.maxMessageLength + 1)
            }
        }
    }

    @Test("a Zettle backend's balances are read whether the vendor types them as strings (as it does) or numbers")
    func zettleStringBalances() async throws {
        let upstream = FakeUpstream { _ in
            (
                200,
                #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "trackedProducts": [], "variants": [{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "locationType": "STORE", "productUuid": "3cc3b9f6-623b-11ec-90d6-0242ac120003", "variantUuid": "4066f6cc-623b-11ec-90d6-0242ac120003", "balance": "12.5"}, {"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "balance": 3}]}"#
            )
        }
        try await upstream.run { base in
            try await Self.withBackend(dialect: "zettle", baseURL: base) { backend, _ in
                let outcome = try await backend.execute(
                    .readBalances(BalanceQuery(location: "shop-floor")), facts: Self.facts)
                guard case .balances(let balances) = outcome else { Issue.record("expected balances"); return }
                #expect(balances.first { $0.product == "mug-white" }?.quantity == (try Quantity(parsing: "12.5")))
                #expect(balances.first { $0.product == "tshirt-blue-m" }?.quantity == Quantity(3))
            }
        }
    }
}
