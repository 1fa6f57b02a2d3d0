import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import Hummingbird
import Ledger
import NIOCore
import Operations
import ServiceLifecycle
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
    static let fastRetries = RetryPolicy(
        maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50), maxRetryAfter: .seconds(1))

    static func backend(
        _ dialect: String, base: String, journal: Ledger, client: CurlHTTPClient,
        breaker: CircuitBreaker = CircuitBreaker(), metrics: GatewayMetrics? = nil, timeout: Duration? = nil,
        clock: BackendClock = .system
    ) -> RemoteBackend {
        RemoteBackend(
            name: "faulty", baseURL: base,
            codec: Backends.codec(dialect: DialectID(dialect), parameters: BackendParameters())!,
            client: client, auth: .none, catalog: demoCatalog, journal: journal, timeout: timeout, logger: quietLogger,
            metrics: metrics,
            retryPolicy: fastRetries, circuitBreaker: breaker, clock: clock)
    }

    static func withJournal<T: Sendable>(
        timeout: Duration = .seconds(5), maxBytes: Int = 1_000_000,
        _ body: @Sendable (Ledger, CurlHTTPClient) async throws -> T
    ) async throws -> T {
        return try await withTemporaryLedger { directory, journal in
            try await withCurlClient(.init(timeout: timeout, maxResponseBytes: maxBytes)) { client in
                try await body(journal, client)
            }
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
    static func restockOnce(
        _ backend: RemoteBackend, key: String? = nil
    ) async -> Result<BatchOutcome.Item, GatewayError> {
        var facts = Self.facts
        facts.idempotencyKey = key
        do {
            guard
                case .moved(let batch) = try await backend.execute(
                    .move(MoveBatch(items: [restock], atomicity: .allOrNothing)), facts: facts)
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
            guard case .failure(let error) = await Self.restockOnce(backend) else {
                Issue.record("expected a failure"); return
            }
            #expect(error.code == .unavailable)
            let states = try await Self.states(journal)
            #expect(states == [.failed])
        }
    }

    @Test(
        "a backend that never answers: a write without a key is not repeated and the caller is told the outcome is unknown"
    )
    func neverAnswers() async throws {
        let upstream = FakeUpstream(delay: { _ in .seconds(3) }) { _ in (200, Self.zettleOK) }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .failure(let error) = await Self.restockOnce(backend) else {
                    Issue.record("expected a failure"); return
                }
                #expect(error.code == .unknownOutcome)
                #expect(error.message.contains("may or may not have been applied"))
                // On a loaded machine the request may reach the upstream after the gateway gave up.
                try await waitUntil(timeout: .seconds(5), "the upstream saw the write") { upstream.requests.count >= 1 }
                #expect(upstream.requests.count == 1)
                // The journal says so too: the row stays `sent`.
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
    }

    static let canonicalOK =
        #"{"atomic": true, "applied": 1, "failed": 0, "results": [{"index": 0, "status": "applied", "movement": {"id": 7}}]}"#

    @Test("a write the backend deduplicates is retried after a 502, with the same key, within one deadline")
    func retriedWithKey() async throws {
        let calls = Mutex(0)
        let upstream = FakeUpstream { _ in
            calls.withLock {
                $0 += 1; return $0
            } == 1 ? (502, "bad gateway") : (200, Self.canonicalOK)
        }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(2)) { journal, client in
                let backend = Self.backend(
                    "stockgate", base: base, journal: journal, client: client, timeout: .seconds(2))
                guard case .success(.applied) = await Self.restockOnce(backend, key: "k-timeout") else {
                    Issue.record("expected success"); return
                }
                let requests = upstream.requests
                #expect(requests.count == 2)
                #expect(requests[0].headers["idempotency-key"] == "k-timeout")
                #expect(requests[1].headers["idempotency-key"] == "k-timeout")
                let states = try await Self.states(journal)
                #expect(states == [.applied])
            }
        }
    }

    @Test(
        "a keyed write to a deduplicating backend that never answers: unknown outcome (504) after one deadline, row left sent"
    )
    func deduplicatedTimeout() async throws {
        let upstream = FakeUpstream(delay: { _ in .seconds(4) }) { _ in (200, Self.canonicalOK) }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend(
                    "stockgate", base: base, journal: journal, client: client, timeout: .seconds(1))
                guard case .failure(let error) = await Self.restockOnce(backend, key: "k-dedup") else {
                    Issue.record("expected a failure"); return
                }
                #expect(error.code == .unknownOutcome, "\(error)")
                // One overall deadline for every attempt: the first attempt used it up, so no
                // second attempt went out (three attempts of one timeout each would reach the
                // backend three times). Counted, not timed: the CI machine is shared and noisy.
                #expect(upstream.requests.count <= 1, "\(upstream.requests.count) attempts")
                let states1 = try await Self.states(journal)
                #expect(states1 == [.sent])
                // A resend to a backend that deduplicates goes out again and settles the same row.
                guard case .failure(let again) = await Self.restockOnce(backend, key: "k-dedup") else {
                    Issue.record("expected a failure"); return
                }
                #expect(again.code == .unknownOutcome)
                #expect(upstream.requests.count <= 2)
                let states2 = try await Self.states(journal)
                #expect(states2 == [.sent])
            }
        }
    }

    /// Hostile `Retry-After` values the attack run crashed the process with, and other junk.
    static let hostileRetryAfter = [
        "1000000000000000000", "9223372036854775807", "1e30", "99999999999999999999999", "inf", "nan", "-1", "1.5.5",
        "", "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "0x10", "+5",
    ]

    @Test("a hostile Retry-After never crashes: parsed with saturation, a long wait not taken", arguments: [429, 503])
    func hostileRetryAfterHeader(_ status: Int) async throws {
        for value in Self.hostileRetryAfter {
            let upstream = FakeUpstream(extraHeaders: { _ in ["Retry-After": value] }) { _ in
                (status, #"{"developerMessage": "busy"}"#)
            }
            try await upstream.run { base in
                try await Self.withJournal { journal, client in
                    for dialect in ["zettle", "open2b-v6"] {
                        // Every wait the backend takes is seen (counted, not timed: a first request on a
                        // loaded CI machine once took 3.5 s with no wait at all): none is the header's.
                        let waits = Mutex<[Duration]>([])
                        let clock = BackendClock(
                            now: { .now },
                            sleep: { wait in
                                waits.withLock { $0.append(wait) }
                                try await Task.sleep(for: wait)
                            })
                        let backend = Self.backend(dialect, base: base, journal: journal, client: client, clock: clock)
                        _ = await Self.restockOnce(backend)
                        let taken = waits.withLock { $0 }
                        #expect(taken.allSatisfy { $0 <= Self.fastRetries.maxDelay }, "\(value) \(dialect): \(taken)")
                    }
                }
            }
        }
        let policy = RetryPolicy(maxRetryAfter: .seconds(5))
        for value in Self.hostileRetryAfter {
            #expect(policy.retryAfter(value) == nil || value.hasPrefix("Sun"), "\(value)")
        }
        #expect(policy.retryAfter("1\u{0}") == nil)
        #expect(policy.retryAfter("2") == .seconds(2))
        #expect(policy.retryAfter(" 0 ") == .zero)
        #expect(policy.retryAfter("1.25") == .milliseconds(1250))
        #expect(policy.retryAfter("6") == nil)
        #expect(policy.retryAfter("Sun, 06 Nov 1994 08:49:37 GMT") == .zero)  // a date in the past: no wait
        let soon = Date().addingTimeInterval(3)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let wait = policy.retryAfter(formatter.string(from: soon))
        #expect(wait != nil && wait! <= .seconds(3) && wait! >= .seconds(1))
    }

    @Test(
        "after an unknown outcome a resend under the same key is not forwarded to a backend that does not deduplicate",
        arguments: ["timeout", "500", "502", "504", "unreadable"])
    func noSecondApplication(_ fault: String) async throws {
        let upstream = FakeUpstream(delay: { _ in fault == "timeout" ? .seconds(3) : .zero }) { _ in
            switch fault {
            case "500": (500, "{}")
            case "502": (502, "bad gateway")
            case "504": (504, "")
            case "unreadable": (200, "<html>ok</html>")
            default: (200, #"{"status": "ok", "id": 1}"#)
            }
        }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend("open2b-v6", base: base, journal: journal, client: client)
                for attempt in 1...3 {
                    guard case .failure(let error) = await Self.restockOnce(backend, key: "k-\(fault)") else {
                        Issue.record("\(fault) attempt \(attempt): expected an unknown outcome"); return
                    }
                    #expect(error.code == .unknownOutcome, "\(fault) attempt \(attempt): \(error)")
                    #expect(error.message.contains("Idempotency-Key"))
                }
                #expect(upstream.requests.count == 1, "\(fault): sent \(upstream.requests.count) times")
                let states3 = try await Self.states(journal)
                #expect(states3 == [.sent])
            }
        }
    }

    @Test("after a restart, a keyed write left `sent` by a crash mid-forward is not sent again")
    func sentRowSurvivesRestart() async throws {
        let upstream = FakeUpstream { _ in (200, #"{"status": "ok", "id": 1}"#) }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The process that died: it journaled the movement `sent` and never settled it.
        do {
            let before = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
            var facts = Self.facts
            facts.idempotencyKey = "k-crash"
            _ = try await before.journalForwarded([Self.restock], backend: "faulty", facts: facts)
            try before.close()
        }
        try await upstream.run { base in
            let journal = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
            defer { try? journal.close() }
            let client = CurlHTTPClient(configuration: .init(timeout: .seconds(2)))
            let backend = Self.backend("open2b-v6", base: base, journal: journal, client: client)
            let outcome = await Self.restockOnce(backend, key: "k-crash")
            await client.shutdown()
            guard case .failure(let error) = outcome else { Issue.record("expected an unknown outcome"); return }
            #expect(error.code == .unknownOutcome)
            #expect(upstream.requests.isEmpty)
            // A request without the key is a new movement and goes out.
        }
    }

    @Test("a write refused outright (settled failed) may be sent again under its key, on the same journal row")
    func failedIsResent() async throws {
        let calls = Mutex(0)
        let upstream = FakeUpstream { _ in
            calls.withLock {
                $0 += 1; return $0
            } == 1
                ? (
                    200,
                    #"{"status": "error", "error": {"field": "movement.sku", "type": "NotFound", "description": "Item 'sku5' does not exist"}}"#
                )
                : (200, #"{"status": "ok", "id": 3}"#)
        }
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("open2b-v6", base: base, journal: journal, client: client)
                guard case .success(.failed) = await Self.restockOnce(backend, key: "k-refused") else {
                    Issue.record("expected a refusal"); return
                }
                guard case .success(.applied) = await Self.restockOnce(backend, key: "k-refused") else {
                    Issue.record("expected success"); return
                }
                #expect(upstream.requests.count == 2)
                let states4 = try await Self.states(journal)
                #expect(states4 == [.applied])
                guard
                    case .moved(let replay) = try await backend.execute(
                        .move(MoveBatch(items: [Self.restock], atomicity: .allOrNothing)),
                        facts: {
                            var facts = Self.facts; facts.idempotencyKey = "k-refused"; return facts
                        }())
                else { Issue.record("expected a replay"); return }
                #expect(replay.replayed)
                #expect(upstream.requests.count == 2)
            }
        }
    }

    @Test("Zettle does not deduplicate: the movement's own externalUuid travels, a timed-out write is not repeated")
    func zettleIsNotDeduplicating() async throws {
        let upstream = FakeUpstream(delay: { _ in .seconds(3) }) { _ in (200, Self.zettleOK) }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .seconds(1)) { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client)
                var movement = Self.restock
                movement.externalID = "947d712a-892d-11ea-bc55-0242ac130003"
                var facts = Self.facts
                facts.idempotencyKey = "k-zettle"
                do {
                    _ = try await backend.execute(
                        .move(MoveBatch(items: [movement], atomicity: .allOrNothing)), facts: facts)
                    Issue.record("expected an unknown outcome")
                } catch let error as GatewayError {
                    #expect(error.code == .unknownOutcome)
                }
                try await waitUntil(timeout: .seconds(5), "the upstream saw the write") { upstream.requests.count >= 1 }
                #expect(upstream.requests.count == 1)
                let sent = try #require(upstream.requests.first)
                #expect(sent.body.contains(#""externalUuid":"947d712a-892d-11ea-bc55-0242ac130003""#))
                #expect(!sent.body.contains("k-zettle"))
            }
        }
    }

    @Test("503 and 429 with Retry-After are retried; a long Retry-After is not waited for")
    func retryAfter() async throws {
        let calls = Mutex(0)
        let upstream = FakeUpstream(extraHeaders: { _ in ["Retry-After": "0"] }) { _ in
            let call = calls.withLock {
                $0 += 1; return $0
            }
            return call == 1 ? (503, "{}") : call == 2 ? (429, "{}") : (200, Self.zettleOK)
        }
        let time = ManualClock()
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client, clock: time.clock)
                guard case .success(.applied) = await Self.restockOnce(backend) else {
                    Issue.record("expected success"); return
                }
                #expect(upstream.requests.count == 3)
                #expect(time.slept == [.zero, .zero])  // the backend's Retry-After: 0, twice
                let journaled = try await journal.count(Self.forwarded)
                #expect(journaled == 1)
            }
        }
        let patient = FakeUpstream(extraHeaders: { _ in ["Retry-After": "3600"] }) { _ in
            (429, #"{"developerMessage": "slow down"}"#)
        }
        try await patient.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("zettle", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else {
                    Issue.record("expected a failed item"); return
                }
                #expect(error.message.contains("slow down"))
                #expect(patient.requests.count == 1)
            }
        }
    }

    @Test(
        "500, 502 and 504 on a write are not repeated and are an unknown outcome, not a failure",
        arguments: [500, 502, 504])
    func serverErrors(_ status: Int) async throws {
        let upstream = FakeUpstream { _ in (status, #"{"Message": "An error has occurred."}"#) }
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .failure(let error) = await Self.restockOnce(backend) else {
                    Issue.record("expected a failure"); return
                }
                #expect(error.code == .unknownOutcome)
                #expect(error.message.contains("answered \(status)"))
                // Without a key the caller is not told to resend under one.
                #expect(error.message.contains("without an Idempotency-Key"))
                #expect(upstream.requests.count == 1)
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
    }

    @Test("malformed JSON, an over-size body and the vendor's own error envelope all come back as failures")
    func badAnswers() async throws {
        let malformed = FakeUpstream { _ in (200, "{\"Responses\": [") }
        try await malformed.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                // A success status with a body that cannot be read: the backend may have applied it.
                guard case .failure(let error) = await Self.restockOnce(backend) else {
                    Issue.record("malformed: expected a failure"); return
                }
                #expect(error.code == .unknownOutcome)
                let states5 = try await Self.states(journal)
                #expect(states5 == [.sent])
            }
        }
        let huge = FakeUpstream { _ in (200, "[" + String(repeating: "1,", count: 100_000) + "1]") }
        try await huge.run { base in
            try await Self.withJournal(maxBytes: 10_000) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                guard case .failure(let error) = await Self.restockOnce(backend) else {
                    Issue.record("huge: expected a failure"); return
                }
                // The backend answered: it may have applied the write. Unknown, and the journal says so.
                #expect(error.code == .unknownOutcome)
                let states = try await Self.states(journal)
                #expect(states == [.sent])
            }
        }
        let vendorError = FakeUpstream { _ in
            (
                200,
                #"{"status": "error", "error": {"field": "movement.sku", "type": "NotFound", "description": "Item 'sku5' does not exist"}}"#
            )
        }
        try await vendorError.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend("open2b-v6", base: base, journal: journal, client: client)
                guard case .success(.failed(let error)) = await Self.restockOnce(backend) else {
                    Issue.record("vendor: expected a failed item"); return
                }
                #expect(error.code == .notFound)
                #expect(error.message == "Item 'sku5' does not exist")
                #expect(error.field == "product")
            }
        }
    }

    @Test(
        "the circuit opens after consecutive failures, fails fast, probes half-open and closes; its state is in /metrics"
    )
    func circuitBreaker() async throws {
        let healthy = Mutex(false)
        let upstream = FakeUpstream { _ in healthy.withLock { $0 } ? (200, Self.zettleOK) : (500, "{}") }
        let metrics = GatewayMetrics()
        let time = ManualClock()
        try await upstream.run { base in
            try await Self.withJournal { journal, client in
                let backend = Self.backend(
                    "zettle", base: base, journal: journal, client: client,
                    breaker: CircuitBreaker(threshold: 3, cooldown: .seconds(30)), metrics: metrics, clock: time.clock)
                for _ in 0..<3 { _ = await Self.restockOnce(backend) }
                let sent = upstream.requests.count
                guard case .failure(let open) = await Self.restockOnce(backend) else {
                    Issue.record("expected fail-fast"); return
                }
                #expect(open.message.contains("circuit open"))
                #expect(upstream.requests.count == sent)  // nothing sent while open
                #expect(
                    String(decoding: metrics.exposition(), as: UTF8.self).contains(
                        #"stockgate_backend_circuit_state{backend="faulty"} 1"#))
                healthy.withLock { $0 = true }
                // Still open just before the cooldown ends; half-open (one probe) once it has.
                time.advance(.seconds(29))
                guard case .failure = await Self.restockOnce(backend) else {
                    Issue.record("expected still open"); return
                }
                #expect(upstream.requests.count == sent)
                time.advance(.seconds(1))
                guard case .success(.applied) = await Self.restockOnce(backend) else {
                    Issue.record("expected the probe to pass"); return
                }
                #expect(
                    String(decoding: metrics.exposition(), as: UTF8.self).contains(
                        #"stockgate_backend_circuit_state{backend="faulty"} 0"#))
            }
        }
    }

    @Test(
        "an answer that trickles in (one byte a second) or breaks off mid-body leaves the outcome unknown",
        arguments: ["slow", "reset"])
    func brokenAnswers(_ kind: String) async throws {
        // The body announced 1000 bytes long: sent one byte a second, or cut after 15.
        let body = #"{"Responses": ["# + String(repeating: " ", count: 985)
        let upstream = FakeUpstream { _ in
            FakeUpstream.Answer(
                200, body, delivery: kind == "slow" ? .dribble(every: .seconds(1)) : .cut(afterBytes: 15))
        }
        try await upstream.run { base in
            try await Self.withJournal(timeout: .milliseconds(1500)) { journal, client in
                let backend = Self.backend("storefeeder", base: base, journal: journal, client: client)
                let started = ContinuousClock.now
                guard case .failure(let error) = await Self.restockOnce(backend) else {
                    Issue.record("expected a failure"); return
                }
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
