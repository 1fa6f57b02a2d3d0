import AsyncHTTPClient
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

/// The attack run's backend defects, end to end: a client over a real socket, StockGate
/// routing its dialect to a misbehaving backend on loopback.
@Suite("Untrusted backends, end to end")
struct UntrustedBackendTests {
    /// A gateway whose `dialect` route goes to a `backendDialect` backend at `base`.
    static func withRoutedGateway<T: Sendable>(
        _ dialect: DialectID, to backendDialect: DialectID, base: String, timeout: Duration = .seconds(2),
        clients: ClientAuthenticator = ClientAuthenticator(), clock: BackendClock = .system,
        configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: @Sendable (LiveGateway) async throws -> T
    ) async throws -> T {
        return try await withTemporaryLedger { directory, ledger in
            try await withCurlClient(.init(timeout: timeout)) { client in
                let remote = RemoteBackend(
                    name: "remote", baseURL: base,
                    codec: Backends.codec(dialect: backendDialect, parameters: BackendParameters())!,
                    client: client, auth: .none, catalog: demoCatalog, journal: ledger, timeout: timeout,
                    logger: quietLogger,
                    clock: clock)
                var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
                configure(&configuration)
                let gateway = Gateway(
                    configuration: configuration, catalog: demoCatalog, backend: ledger,
                    logger: quietLogger, routes: [dialect: remote], clients: clients, idempotencyStore: ledger)
                return try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                    try await body(LiveGateway(port: port, ledger: ledger, gateway: gateway, dataDirectory: directory))
                }
            }
        }
    }

    static let zettleSale =
        #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "92646e02-5f0f-11ec-bf63-0242ac130002", "change": 1}]}"#

    @Test(
        "an applied Zettle move is answered 200 with empty variants when the backend's answers are 200 with a non-JSON body; a resend is a replay"
    )
    func appliedMoveWithUnreadableAnswers() async throws {
        let upstream = FakeUpstream { _ in (200, "<html>OK</html>") }
        try await upstream.run { base in
            try await Self.withRoutedGateway("zettle", to: "zettle", base: base) { live in
                let url = live.baseURL + "/organizations/self/inventory"
                let first = try await HTTPClient.shared.send(
                    .PUT, url, body: Self.zettleSale, headers: [("Idempotency-Key", "sale-1")])
                #expect(first.status == 200, "\(first.text)")
                #expect(first.json?["variants"]?.arrayValue?.isEmpty == true)
                let again = try await HTTPClient.shared.send(
                    .PUT, url, body: Self.zettleSale, headers: [("Idempotency-Key", "sale-1")])
                #expect(again.status == 200)
                #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
                #expect(again.body == first.body)
                #expect(upstream.requests.filter { $0.method == "PUT" }.count == 1)
            }
        }
    }

    @Test("Open2b client to an Open2b backend that answers 502 after applying: 3 sends under one key, 1 application")
    func open2bResentAfter502() async throws {
        let upstream = FakeUpstream { _ in (502, "<html>Bad Gateway</html>") }
        try await upstream.run { base in
            try await Self.withRoutedGateway("open2b-v6", to: "open2b-v6", base: base) { live in
                let url = live.baseURL + "/api/v6/commerce.movements.create"
                let body = #"{"movement": {"sku": "sku5", "adjustment": "1.00"}}"#
                for send in 0..<3 {
                    let answer = try await HTTPClient.shared.send(
                        .POST, url, body: body, headers: [("Idempotency-Key", "o2b-1")])
                    #expect(answer.status == 504)
                    // In Open2b's own error envelope (open2b.dev/en/error-handling: a temporary
                    // inability of the server is answered with status "error"), not plain text.
                    #expect(answer.json?["status"] == "error", "\(answer.text)")
                    #expect(answer.json?["error"]?["type"] == "UnknownOutcome")
                    // The first send may have been applied; the resends were not sent at all and say so.
                    let description = answer.json?["error"]?["description"]?.stringValue ?? ""
                    let expected =
                        send == 0
                        ? "may or may not have been applied" : "outcome is still unknown; it is not sent again"
                    #expect(description.contains(expected), "\(description)")
                }
                #expect(upstream.requests.count == 1)
                var query = MovementQuery()
                query.backend = "remote"
                #expect(try await live.ledger.movements(query).map(\.state) == [.sent])
            }
        }
    }

    @Test(
        "Zettle clients that send one fixed externalUuid with every update (as PayPal's integration does) get every update applied"
    )
    func fixedExternalUuid() async throws {
        try await LiveGateway.run { live in
            let url = live.baseURL + "/organizations/self/inventory"
            let fixed = "947d712a-892d-11ea-bc55-0242ac130003"
            let restock =
                #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 10}], "externalUuid": "\#(fixed)"}"#
            let sale =
                #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "92646e02-5f0f-11ec-bf63-0242ac130002", "change": "1"}], "externalUuid": "\#(fixed)"}"#
            for body in [restock, sale, sale] {
                let answer = try await HTTPClient.shared.send(.PUT, url, body: body)
                #expect(answer.status == 200, "\(answer.text)")
                #expect(answer.headers.first(name: "Idempotent-Replayed") == nil)
            }
            #expect(try await live.ledger.totalStock(product: "tshirt-blue-m") == Quantity(8))
            let journal = try await live.ledger.movements(MovementQuery())
            #expect(journal.count == 3)
            #expect(journal.allSatisfy { $0.externalID == fixed })
        }
    }
}

/// Attack run finding 2 (issue 29): libcurl resent a write by itself when a reused keep-alive
/// connection closed before any byte of the answer — a backend that applied the write and then
/// dropped the connection received it twice within one gateway request.
@Suite("A write is never sent twice by the transport")
struct NoTransportResendTests {
    static let backendDialects = DialectRegistry.names.filter { $0 != CanonicalCodec.dialect.rawValue }

    /// A movement the backend dialect can express (StoreFeeder moves between its warehouse
    /// locations; the others take a receipt at the shop floor).
    static func movement(_ quantity: Int, to backendDialect: String) -> String {
        let from = backendDialect == "storefeeder" ? "back-room" : "supplier"
        return
            #"{"movements": [{"product": "tshirt-blue-m", "quantity": \#(quantity), "from": "\#(from)", "to": "shop-floor"}]}"#
    }

    @Test(
        "a backend that reads a write on a reused connection and closes it receives that write once",
        arguments: backendDialects)
    func droppedAfterApplying(backendDialect: String) async throws {
        // Reads are answered; a write on a reused connection is read whole, then the connection
        // closes without an answer (applied, then the backend died).
        let upstream = try RawUpstream { request in
            request.method != "GET" && request.indexOnConnection > 0 ? .dropConnection : .answer(200, "{}")
        }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                CanonicalCodec.dialect, to: DialectID(backendDialect), base: base
            ) {
                live in
                let url = live.baseURL + "/stockgate/v1/movements"
                _ = try await HTTPClient.shared.send(.POST, url, body: Self.movement(1, to: backendDialect))
                let second = try await HTTPClient.shared.send(.POST, url, body: Self.movement(2, to: backendDialect))
                let writes = upstream.received.filter { $0.method != "GET" }
                let dropped = writes.filter { $0.indexOnConnection > 0 }
                #expect(!dropped.isEmpty, "the second write went out on a reused connection and was dropped")
                for write in dropped {
                    #expect(
                        writes.filter { $0.body == write.body && $0.path == write.path }.count == 1,
                        "sent once: \(write.method) \(write.path) \(write.body)")
                }
                #expect(second.status == 504, "an unknown outcome: \(second.text)")
                #expect(second.text.contains("unknownOutcome"), "\(second.text)")
            }
        }
    }
}
