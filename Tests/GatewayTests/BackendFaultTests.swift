import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Gateway
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// A misbehaving backend on loopback: the caller always gets a clear answer, the journal
/// holds exactly what the backend applied, and nothing is applied twice.
@Suite("Backend faults")
struct BackendFaultTests {
    static let facts = RequestFacts(dialect: "stockgate", requestID: "req-fault")
    static let restock = Movement(product: "mug-white", quantity: Quantity(1), from: "supplier", to: "shop-floor")
    static let zettleOK = #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": []}"#
    static let fastRetries = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxRetryAfter: .seconds(1))

    static func backend(
        _ dialect: String, base: String, journal: Ledger, client: CurlHTTPClient,
        breaker: CircuitBreaker = CircuitBreaker(), metrics: GatewayMetrics? = nil
    ) -> RemoteBackend {
        RemoteBackend(
            name: "faulty", baseURL: base, codec: Backends.codec(dialect: dialect, parameters: BackendParameters())!,
            client: client, auth: .none, catalog: demoCatalog, journal: journal, logger: quietLogger, metrics: metrics,
            retryPolicy: fastRetries, circuitBreaker: breaker)
    }

    static func withJournal<T: Sendable>(timeout: Duration = .seconds(5), maxBytes: Int = 1_000_000, _ body: @Sendable (Ledger, CurlHTTPClient) async throws -> T) async throws -> T {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        defer { try? journal.close() }
        let client = CurlHTTPClient(configuration: .init(timeout: timeout, maxResponseBytes: maxBytes))
        do {
            let result = try await body(journal, client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    static var forwarded: MovementQuery {
        var query = MovementQuery()
        query.backend = "faulty"
        return query
    }

    /// The states of the journal rows of the forwarded movements, oldest first.
    static func states(_ journal: Ledger) async throws -> [MovementState] {
        try await journal.movements(forwarded).map(\.state)
    }

    /// The outcome of one restock through the backend: applied, a per-item failure, or a thrown error.
    static func restockOnce(_ backend: RemoteBackend, key: String? = nil) async -> Result<BatchOutcome.Item, GatewayError> {
        var facts = Self.facts
        facts.idempotencyKey = key
        do {
            guard case .moved(let batch) = try await backend.execute(.move(MoveBatch(items: [restock], atomicity: .allOrNothing)), facts: facts)
            else { return .failure(.internalError("no outcome")) }
            return .success(batch.items[0])
        } catch let error as GatewayError {
            return .failure(error)
        } catch {
            return .failure(.internalError("\(error)"))
        }
    }

    @Test("a refused connection is retried (nothing was sent), then reported unavailable")
    func refused() async throws {
        try await Self.withJournal { journal, client in
            let backend = Self.backend("zettle", base: "http://127.0.0.1:9", journal: journal, client: client)
            guard case .failure(let error) = await Self.restockOnce(backend) else { Issue.record("expected a failure"); return }
            #expect(error.code == .unavailable)
            let states = try await Self.states(journal)
            #expect(states == [.failed])
        }
    }

    @Test("a backend that never answers: a write without a key is not repeated and the caller is told the outcome is unknown")
    func neverAnswers() async throws {
        let upstream = RecordingUpstream(delay: { _ in .seconds(3) }) { _ in (200, Self.zettleOK) }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .failure(let error) = await Self.restockOnce(backend) else { Issue.record("expected a failure"); return }
                #expect(error.code == .unknownOutcome)
                #expect(error.message.contains("may or may not have been applied"))
                #expect(upstream.requests.count == 1)
                // The journal says so too: the row stays `sent`.
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
    }

    @Test("a write the backend deduplicates is retried after a timeout, with the same key")
    func retriedWithKey() async throws {
        let calls = Mutex(0)
        let upstream = RecordingUpstream(delay: { _ in calls.withLock { $0 += 1; return $0 } == 1 ? .seconds(3) : .zero }) { _ in
            (200, Self.zettleOK)
        }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client)
                guard case .success(.applied) = await Self.restockOnce(backend, key: "k-timeout") else { Issue.record("expected success"); return }
                let requests = upstream.requests
                #expect(requests.count == 2)
                #expect(requests[0].body == requests[1].body)  // the same externalUuid both times
                #expect(requests[0].body.contains("externalUuid"))
                let journaled = try await journal.count(Self.forwarded)
                #expect(journaled == 1)
            }
        }
    }

    @Test("503 and 429 with Retry-After are retried; a long Retry-After is not waited for")
    func retryAfter() async throws {
        let calls = Mutex(0)
        let upstream = RecordingUpstream(extraHeaders: { _ in ["Retry-After": "0"] }) { _ in
            let call = calls.withLock { $0 += 1; return $0 }
            return call == 1 ? (503, "{}") : call == 2 ? (429, "{}") : (200, Self.zettleOK)
        }
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client)
                guard case .success(.applied) = await Self.restockOnce(backend) else { Issue.record("expected success"); return }
                #expect(upstream.requests.count == 3)
                let journaled = try await journal.count(Self.forwarded)
                #expect(journaled == 1)
            }
        }
        let patient = RecordingUpstream(extraHeaders: { _ in ["Retry-After": "3600"] }) { _ in (429, #"{"developerMessage": "slow down"}"#) }
        try await patient.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else { Issue.record("expected a failed item"); return }
                #expect(error.message.contains("slow down"))
                #expect(patient.requests.count == 1)
            }
        }
    }

    @Test("500 and 502 on a write without a key are not repeated; the vendor's message is kept", arguments: [500, 502])
    func serverErrors(_ status: Int) async throws {
        let upstream = RecordingUpstream { _ in (status, #"{"Message": "An error has occurred."}"#) }
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else { Issue.record("expected a failed item"); return }
                #expect(error.code == .backendFailure)
                #expect(upstream.requests.count == 1)
                let states = try await Self.states(journal)
                #expect(states == [.failed])
            }
        }
    }

    @Test("malformed JSON, an over-size body and the vendor's own error envelope all come back as failures")
    func badAnswers() async throws {
        let malformed = RecordingUpstream { _ in (200, "{\"Responses\": [") }
        try await malformed.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else { Issue.record("malformed: expected a failed item"); return }
                #expect(error.code == .backendFailure)
            }
        }
        let huge = RecordingUpstream { _ in (200, "[" + String(repeating: "1,", count: 100_000) + "1]") }
        try await huge.run { base in
            try await Self.withJournal(maxBytes: 10_000) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .failure(let error) = await Self.restockOnce(backend) else { Issue.record("huge: expected a failure"); return }
                // The backend answered: it may have applied the write. Unknown, and the journal says so.
                #expect(error.code == .unknownOutcome)
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
        let vendorError = RecordingUpstream { _ in (200, #"{"status": "error", "error": {"field": "movement.sku", "type": "NotFound", "description": "Item 'sku5' does not exist"}}"#) }
        try await vendorError.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("open2b-v6", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else { Issue.record("vendor: expected a failed item"); return }
                #expect(error.code == .notFound)
                #expect(error.message == "Item 'sku5' does not exist")
                #expect(error.field == "product")
            }
        }
    }

    @Test("the circuit opens after consecutive failures, fails fast, probes half-open and closes; its state is in /metrics")
    func circuitBreaker() async throws {
        let healthy = Mutex(false)
        let upstream = RecordingUpstream { _ in healthy.withLock { $0 } ? (200, Self.zettleOK) : (500, "{}") }
        let metrics = GatewayMetrics()
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend(
                    "zettle", base: base, journal: journal, client: client,
                    breaker: CircuitBreaker(threshold: 3, cooldown: .milliseconds(300)), metrics: metrics)
                for _ in 0..<3 { _ = await Self.restockOnce(backend) }
                let sent = upstream.requests.count
                guard case .failure(let open) = await Self.restockOnce(backend) else { Issue.record("expected fail-fast"); return }
                #expect(open.message.contains("circuit open"))
                #expect(upstream.requests.count == sent)  // nothing sent while open
                #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains(#"stockgate_backend_circuit_state{backend="faulty"} 1"#))
                healthy.withLock { $0 = true }
                try await Task.sleep(for: .milliseconds(400))
                guard case .success(.applied) = await Self.restockOnce(backend) else { Issue.record("expected the probe to pass"); return }
                #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains(#"stockgate_backend_circuit_state{backend="faulty"} 0"#))
            }
        }
    }

    @Test("an answer that trickles in (one byte a second) or breaks off mid-body leaves the outcome unknown",
          arguments: ["slow", "reset"])
    func brokenAnswers(_ kind: String) async throws {
        try await BrokenUpstream.run(kind) { base in
            try await Self.withJournal(timeout: .milliseconds(1500)) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                let started = ContinuousClock.now
                guard case .failure(let error) = await Self.restockOnce(backend) else { Issue.record("expected a failure"); return }
                #expect(error.code == .unknownOutcome, "\(error)")
                #expect(ContinuousClock.now - started < .seconds(5))
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
    }

    @Test("the breaker's state machine")
    func stateMachine() {
        var breaker = CircuitBreaker(threshold: 2, cooldown: .seconds(10))
        let start = ContinuousClock.now
        #expect(breaker.admit(now: start) == .allowed)
        breaker.recordFailure(now: start)
        #expect(breaker.state == .closed(failures: 1))
        breaker.recordFailure(now: start)
        #expect(breaker.admit(now: start + .seconds(1)) == .rejected)
        #expect(breaker.admit(now: start + .seconds(11)) == .allowed)  // the probe
        #expect(breaker.admit(now: start + .seconds(11)) == .rejected)  // only one probe
        breaker.recordFailure(now: start + .seconds(11))
        #expect(breaker.admit(now: start + .seconds(12)) == .rejected)
        #expect(breaker.admit(now: start + .seconds(22)) == .allowed)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(failures: 0))
    }
}

/// An upstream whose answers break: one that sends its body one byte a second, and one that
/// announces a body and closes the connection partway through it.
enum BrokenUpstream {
    static func run<T: Sendable>(_ kind: String, _ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/stocklocations/create-transfers") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 1_000_000)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.contentLength] = "1000"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                if kind == "slow" {
                    for _ in 0..<20 {
                        try await writer.write(ByteBuffer(string: " "))
                        try await Task.sleep(for: .seconds(1))
                    }
                } else {
                    try await writer.write(ByteBuffer(string: #"{"Responses": ["#))
                    throw CancellationError()  // any error: the server drops the connection mid-body
                }
                try await writer.finish(nil)
            })
        }
        return try await withRouter(router, logger: quietLogger, body)
    }
}
