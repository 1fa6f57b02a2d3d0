import Dialects
import Foundation
import HTTPTypes
import Logging
import Operations
import Simulator
import StockCore
import Synchronization
import Tracing

/// The pipeline: a request decoded by its dialect's codec, the commands carried out by the
/// backend, the outcome encoded in the same dialect. Everything between the HTTP server and
/// the backend passes through `handle`.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let catalog: Catalog
    /// The backend of every dialect without a route of its own.
    public let backend: any StockBackend
    /// Inbound dialect → its backend, from the configuration's `routes`.
    public let routes: [DialectID: any StockBackend]
    public let metrics: GatewayMetrics
    /// Where answers to writes with an idempotency key are kept (the embedded ledger's file).
    let idempotencyStore: (any ResponseStore)?
    /// The store whose health decides whether writes are taken (the embedded ledger).
    let storage: (any LedgerStore)?
    /// The wall clock idempotency answers are stamped and expired by (a test moves it).
    let clock: @Sendable () -> Date
    /// Keys whose first request is still being carried out.
    /// Requests being handled now, by kind and client.
    let admission: Mutex<Admission>

    /// Takes a slot for a request whose body has arrived; false when it must wait (429).
    func admit(write: Bool, client: String?) -> Bool {
        admission.withLock { $0.admit(write: write, client: client) }
    }

    func release(write: Bool, client: String?) {
        admission.withLock { $0.release(write: write, client: client) }
    }
    /// Who may call (open when no client is configured).
    public let clients: ClientAuthenticator
    /// Empties the backend between contract cases; nil unless `--enable-test-reset`.
    public let testReset: (@Sendable () async throws -> Void)?

    /// `POST /stockgate/v1/test/reset`: everything a contract case can observe back to a fresh
    /// start — the store (movements, balances, ids, idempotency answers, tracking), the fault
    /// schedule, webhook subscriptions and their queues, a replay's positions.
    func resetForTest() async throws {
        try await testReset?()
        faults?.remove()
        await pusher?.reset()
        direct?.resetPositions()
    }
    /// Faults played on demand (`/stockgate/v1/test/faults`); nil unless `--enable-faults`.
    public let faults: FaultSchedule?
    /// A dialect's OpenAPI document (`GET /stockgate/openapi/{dialect}.json`), nil for an
    /// unknown dialect; not served when nil.
    public let openAPI: (@Sendable (String) -> [UInt8]?)?
    /// Zettle's Pusher API (`/organizations/{org}/subscriptions`) and the webhooks it sends;
    /// nil unless `--enable-webhooks`.
    public let pusher: PusherHub?
    /// Answers dialect requests in place of the pipeline (`serve --replay`, `stockgate record`).
    public let direct: (any DirectAnswerer)?
    let logger: Logger

    /// - Parameters:
    ///   - configuration: limits and addresses.
    ///   - catalog: the products and locations every dialect is translated through.
    ///   - backend: where commands are carried out (the embedded ledger by default).
    ///   - metrics: the Prometheus registry to record into.
    ///   - logger: the gateway's logger.
    ///   - testReset: when given, `POST /stockgate/v1/test/reset` calls it (contract testing only).
    public init(
        configuration: GatewayConfiguration, catalog: Catalog, backend: any StockBackend,
        metrics: GatewayMetrics = GatewayMetrics(), logger: Logger = Logger(label: "stockgate"),
        testReset: (@Sendable () async throws -> Void)? = nil, routes: [DialectID: any StockBackend] = [:],
        clients: ClientAuthenticator = ClientAuthenticator(), idempotencyStore: (any ResponseStore)? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }, faults: FaultSchedule? = nil,
        openAPI: (@Sendable (String) -> [UInt8]?)? = nil, pusher: PusherHub? = nil,
        direct: (any DirectAnswerer)? = nil
    ) {
        self.direct = direct
        self.pusher = pusher
        self.faults = faults
        self.openAPI = openAPI
        self.clock = clock
        self.clients = clients
        self.admission = Mutex(Admission(limit: configuration.maxConcurrentRequests, clients: clients.clients.count))
        self.idempotencyStore = idempotencyStore ?? (backend as? any ResponseStore)
        self.storage = (backend as? any LedgerStore) ?? (idempotencyStore as? any LedgerStore)
        self.routes = routes
        self.testReset = testReset
        self.configuration = configuration
        self.catalog = catalog
        self.backend = backend
        self.metrics = metrics
        self.logger = logger
    }

    /// Set on SIGTERM when a drain delay is configured: `/readyz` answers 503 from then on.
    let draining = Atomic<Bool>(false)

    /// Readiness fails from now on (liveness does not): the drain before the listener closes.
    public func beginDraining() { draining.store(true, ordering: .relaxed) }
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Longest `Idempotency-Key` accepted (keys are stored with every answer and journal row).
    public static let maxIdempotencyKeyLength = 255

    /// Why the gateway cannot take writes now (its ledger file deleted or replaced, or its last
    /// commit failed), if it cannot: `/healthz` answers 503 with it.
    public var healthProblem: String? {
        if let problem = storage?.healthProblem { return problem }
        let (held, limit) = admission.withLock { ($0.total, $0.limit) }
        if held >= limit {
            return "busy: every request slot is taken (\(held) of \(limit)); new requests are answered 429"
        }
        return nil
    }

    /// Whether `checkHealth()` must wait for the store (a shared database asked over the
    /// network). When it need not, its answer is `healthProblem`, and a health route answers
    /// without a task.
    public var healthNeedsAsking: Bool { storage?.probesOverNetwork == true }

    /// `healthProblem` after asking the store itself (a shared database over the network).
    public func checkHealth() async -> String? {
        if let problem = await storage?.probe() { return problem }
        return healthProblem
    }

    /// The remote backends of the routes, once each.
    var remoteBackends: [RemoteBackend] {
        var seen: Set<String> = []
        return ([backend] + Array(routes.values)).compactMap { $0 as? RemoteBackend }
            .filter { seen.insert($0.name).inserted }
    }

    /// Where stored movements are read: the embedded ledger, which is also the journal of
    /// what was forwarded (nil only for a gateway with neither).
    var journalReader: (any MovementReader)? {
        storage ?? remoteBackends.first?.journal
    }

    /// The journal of forwarded movements (settling unknown outcomes), when there is one.
    var forwardJournal: (any ForwardJournal)? {
        remoteBackends.first?.journal ?? (storage as? any ForwardJournal)
    }

    /// Counts each remote backend's unknown outcomes into `stockgate_unknown_outcomes` (before
    /// `/metrics` answers, so a scrape sees the journal as it is).
    public func refreshJournalGauges() async {
        for remote in remoteBackends {
            var query = MovementQuery()
            query.backend = remote.name
            query.state = .sent
            guard let count = try? await remote.journal.count(query) else { continue }
            metrics.recordUnknownOutcomes(backend: remote.name, count: count)
        }
    }

    /// The name of the backend `dialect` is routed to (`embedded` for the ledger).
    func backendName(for dialect: DialectID) -> String {
        ((routes[dialect] ?? backend) as? RemoteBackend)?.name ?? "embedded"
    }

    /// Every inbound dialect this gateway serves.
    public var codecs: [any InboundCodec] { Self.codecs(configuration) }

    /// Every inbound dialect, configured.
    public static func codecs(_ configuration: GatewayConfiguration) -> [any InboundCodec] {
        DialectRegistry.all.map { $0.inboundCodec(settings: configuration.dialectSettings[$0.id.rawValue] ?? [:]) }
    }

    /// Decodes, executes and encodes one request. Never throws: every failure becomes an
    /// answer in the caller's dialect.
    /// - Parameter fault: an `error` or `partial` fault to play on the commands (issue 16).
    public func handle<Codec: InboundCodec>(
        _ codec: Codec, route: Route<Codec.Endpoint>, request: InboundRequest, facts: RequestFacts,
        fault: Fault? = nil
    ) async -> CodecResponse {
        guard GatewayTracing.recording else {
            return await handleInSpan(codec, route: route, request: request, facts: facts, fault: fault)
        }
        // The request's server span (GatewayTracing): a child of the caller's trace, if it sent one.
        let context = GatewayTracing.context(traceparent: facts.traceparent, tracestate: facts.tracestate)
        return await withSpan("\(request.method.rawValue) \(route.path)", context: context, ofKind: .server) { span in
            span.attributes["http.request.method"] = request.method.rawValue
            span.attributes["http.route"] = route.path
            span.attributes["stockgate.dialect"] = codec.dialect.rawValue
            span.attributes["stockgate.request_id"] = facts.requestID
            let response = await handleInSpan(codec, route: route, request: request, facts: facts, fault: fault)
            span.attributes["http.response.status_code"] = Int(response.status.code)
            if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
            return response
        }
    }

    /// A command's span name: `stockgate.move`, `stockgate.readBalances`, …
    static func spanName(_ command: Command) -> String {
        switch command {
        case .move: "stockgate.move"
        case .readBalances: "stockgate.readBalances"
        case .findMovements, .countMovements, .getMovement: "stockgate.readJournal"
        case .settleForwarded: "stockgate.settle"
        case .setTracking, .readTracking: "stockgate.tracking"
        case .updateDescription, .deleteMovements, .confirmTransfer: "stockgate.change"
        case .listLocations: "stockgate.locations"
        }
    }

    func handleInSpan<Codec: InboundCodec>(
        _ codec: Codec, route: Route<Codec.Endpoint>, request: InboundRequest, facts: RequestFacts,
        fault: Fault?
    ) async -> CodecResponse {
        let decoded: Decoded<Codec.Context>
        do {
            decoded = try codec.decode(request, route: route, catalog: catalog)
        } catch {
            return Self.refusal(codec, error, route: route, context: nil)
        }
        for case .move(let batch) in decoded.commands where batch.items.count > configuration.maxBatchItems {
            let tooMany = GatewayError.invalidValue(
                "\(batch.items.count) movements in one request, at most \(configuration.maxBatchItems) are allowed",
                field: "items")
            return Self.refusal(codec, tooMany, route: route, context: decoded.context)
        }
        // A slot, now that the body is whole and decoded: writes may not take the slots reads need.
        let write = decoded.commands.contains(where: \.isWrite)
        guard admit(write: write, client: facts.client) else {
            let busy = GatewayError(code: .tooManyRequests, message: "too many requests at once, try again shortly")
            var answer = Self.refusal(codec, busy, route: route, context: decoded.context)
            // When to try again, as vendors answer their rate limits (and StockGate's own
            // backends read): slots free up as requests finish, so soon.
            answer.headers[.retryAfter] = "1"
            return answer
        }
        defer { release(write: write, client: facts.client) }
        var facts = facts
        if facts.idempotencyKey == nil { facts.idempotencyKey = decoded.idempotencyKey }
        if let key = facts.idempotencyKey, key.utf8.count > Self.maxIdempotencyKeyLength || key.isEmpty {
            let tooLong = GatewayError.invalidValue(
                "Idempotency-Key must be 1 to \(Self.maxIdempotencyKeyLength) bytes", field: "Idempotency-Key")
            return Self.refusal(codec, tooLong, route: route, context: decoded.context)
        }
        // Keys are the caller's own: two clients choosing the same key must not meet (as payment
        // APIs scope keys per account). Everything below — stored answers, claims, the ledger's
        // and the journal's rows, the key a deduplicating backend is sent — sees the scoped key.
        let callerKey = facts.idempotencyKey ?? ""
        if let key = facts.idempotencyKey, let client = facts.client {
            facts.idempotencyKey = Self.scopedKey(key, client: client)
        }
        guard let key = facts.idempotencyKey, let store = idempotencyStore, decoded.commands.contains(where: \.isWrite)
        else {
            return await execute(codec, route: route, decoded: decoded, facts: facts, fault: fault)
        }
        return await executeOnce(
            codec, route: route, request: request, decoded: decoded, facts: facts, keys: (key, callerKey),
            store: store, fault: fault)
    }

    /// A write with an idempotency key: the first answer is kept and given again to a repeat of
    /// the same request; another request under the same key is refused, and one still in
    /// progress (here or on another instance) is answered 409.
    // Not inlined into `handleInSpan`: an async function's context holds the locals of
    // everything inlined into it, and each request's task allocates it whole (a read has no
    // use for a keyed write's).
    @inline(never)
    func executeOnce<Codec: InboundCodec>(
        _ codec: Codec, route: Route<Codec.Endpoint>, request: InboundRequest, decoded: Decoded<Codec.Context>,
        facts: RequestFacts, keys: (scoped: String, caller: String), store: any ResponseStore, fault: Fault?
    ) async -> CodecResponse {
        let (key, callerKey) = keys
        let fingerprint = Self.fingerprint(request)
        let now = clock()
        let expiry = now.addingTimeInterval(-configuration.idempotencyTTL.timeInterval)
        do {
            if let answer = try await Self.answerStored(
                store, codec, route, key, callerKey, fingerprint, expiry, decoded.context)
            {
                return answer
            }
            // A claim older than twice the request timeout belongs to an instance that died.
            let claimed = try await store.claim(
                dialect: codec.dialect, key: key, now: now,
                staleBefore: now.addingTimeInterval(-2 * max(configuration.requestTimeout.timeInterval, 30)))
            guard claimed else {
                let busy = GatewayError.conflict(
                    "a request with Idempotency-Key '\(callerKey)' is still in progress", field: "Idempotency-Key")
                return Self.refusal(codec, busy, route: route, context: decoded.context)
            }
        } catch {
            return Self.refusal(codec, storageFailure(error, facts: facts), route: route, context: decoded.context)
        }
        let response: CodecResponse
        do {
            // Again under the claim: another instance may have answered between the first look
            // and the claim.
            if let answer = try await Self.answerStored(
                store, codec, route, key, callerKey, fingerprint, expiry, decoded.context)
            {
                response = answer
            } else {
                response = await execute(codec, route: route, decoded: decoded, facts: facts, fault: fault)
                if response.status.code < 500 {
                    let headers = response.headers.map { "\($0.name.canonicalName): \($0.value)" }
                    do {
                        try await store.store(
                            StoredResponse(
                                fingerprint: fingerprint, status: response.status.code, headers: headers,
                                body: response.body, createdAt: now),
                            dialect: codec.dialect, key: key, expiredBefore: expiry)
                    } catch {
                        logger.error(
                            "idempotency store unwritable",
                            metadata: ["request_id": "\(facts.requestID)", "error": "\(error)"])
                    }
                }
            }
        } catch {
            response = Self.refusal(codec, storageFailure(error, facts: facts), route: route, context: decoded.context)
        }
        await store.releaseClaim(dialect: codec.dialect, key: key)
        return response
    }

    /// The dialect's refusal of `error`, with its code and reason for the request log.
    static func refusal<Codec: InboundCodec>(
        _ codec: Codec, _ error: GatewayError, route: Route<Codec.Endpoint>, context: Codec.Context?
    ) -> CodecResponse {
        var response = codec.encode(error, route: route, context: context)
        response.logFacts.error = error.code.description
        response.logFacts.reason = error.message
        return response
    }

    /// A configured client's key in its own namespace: `<length of name>:<name>:<key>`, which no
    /// other client's name and key can spell.
    static func scopedKey(_ key: String, client: String) -> String {
        "\(client.utf8.count):\(client):\(key)"
    }

    /// The stored answer to a repeat of the same request, a refusal of a different request
    /// under the key, or nil when nothing is stored.
    static func answerStored<Codec: InboundCodec>(
        _ store: any ResponseStore, _ codec: Codec, _ route: Route<Codec.Endpoint>, _ key: String,
        _ callerKey: String, _ fingerprint: String, _ expiry: Date, _ context: Codec.Context
    ) async throws -> CodecResponse? {
        guard let stored = try await store.storedResponse(dialect: codec.dialect, key: key, since: expiry) else {
            return nil
        }
        guard stored.fingerprint == fingerprint else {
            let reused = GatewayError.conflict(
                "Idempotency-Key '\(callerKey)' was already used for a different request", field: "Idempotency-Key")
            return Self.refusal(codec, reused, route: route, context: context)
        }
        return replay(stored)
    }

    /// A storage failure as the caller sees it: a `GatewayError` (the database unreachable is
    /// `unavailable`) as it is; anything else an internal error, logged with the request id.
    func storageFailure(_ error: any Error, facts: RequestFacts) -> GatewayError {
        if let error = error as? GatewayError { return error }
        logger.error("storage failed", metadata: ["request_id": "\(facts.requestID)", "error": "\(error)"])
        return GatewayError.internalError("internal error (request \(facts.requestID))")
    }

    /// Carries out decoded commands in order and encodes the outcomes.
    func execute<Codec: InboundCodec>(
        _ codec: Codec, route: Route<Codec.Endpoint>, decoded: Decoded<Codec.Context>, facts: RequestFacts,
        fault: Fault? = nil
    ) async -> CodecResponse {
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(decoded.commands.count)
        let routed = routes[codec.dialect] ?? backend
        let target: any StockBackend =
            if let fault, fault.kind == .error || fault.kind == .partial {
                FaultyBackend(
                    base: routed, fault: fault, hitsReads: !decoded.commands.contains(where: \.isWrite))
            } else {
                routed
            }
        var losses = (dropped: [String](), truncated: [String]())
        var log = CodecResponse.LogFacts()
        let remote = routed as? RemoteBackend
        log.backend = remote?.name
        var upstream = Duration.zero
        do {
            for (index, command) in decoded.commands.enumerated() {
                let outcome: Outcome
                let started = ContinuousClock.now
                do {
                    defer { upstream += ContinuousClock.now - started }
                    // The store's (or the backend's) part of the request, a span of its own.
                    if GatewayTracing.recording {
                        outcome = try await withSpan(Self.spanName(command), ofKind: .internal) { _ in
                            try await target.execute(command, facts: facts)
                        }
                    } else {
                        outcome = try await target.execute(command, facts: facts)
                    }
                } catch let error as GatewayError
                    where !command.isWrite && decoded.commands[..<index].contains(where: \.isWrite)
                {
                    // A read after a write (Zettle reports balances after a move) is left out when the
                    // backend cannot answer it, or answers it badly: the write stands (it is applied and
                    // journaled) and the encoder says less. Failing the request here would tell the
                    // caller an applied write failed.
                    let level: Logger.Level = error.code == .unsupported ? .debug : .warning
                    logger.log(
                        level: level, "read after write left out",
                        metadata: ["request_id": "\(facts.requestID)", "error": "\(error.code)"])
                    continue
                }
                if case .moved(let batch) = outcome {
                    await moved(
                        batch, command: command, dialect: codec.dialect, routed: routed, facts: facts, log: &log,
                        losses: &losses)
                }
                outcomes.append(outcome)
            }
        } catch let error as GatewayError {
            var refused = Self.refusal(codec, error, route: route, context: decoded.context)
            refused.logFacts = log
            refused.logFacts.upstream = remote == nil ? nil : upstream
            return refused
        } catch {
            logger.error(
                "backend failure",
                metadata: ["request_id": "\(facts.requestID)", "dialect": "\(codec.dialect)", "error": "\(error)"])
            let failure = GatewayError(code: .internal, message: "internal error (request \(facts.requestID))")
            var refused = Self.refusal(codec, failure, route: route, context: decoded.context)
            refused.logFacts = log
            refused.logFacts.upstream = remote == nil ? nil : upstream
            return refused
        }
        var response = codec.encode(outcomes, context: decoded.context, route: route, catalog: catalog)
        response.logFacts = log
        response.logFacts.upstream = remote == nil ? nil : upstream
        if !losses.dropped.isEmpty { response.headers[Self.droppedHeader] = losses.dropped.joined(separator: ", ") }
        if !losses.truncated.isEmpty {
            response.headers[Self.truncatedHeader] = losses.truncated.joined(separator: ", ")
        }
        return response
    }

    /// After a batch was moved: the simulator's webhooks for changes to the ledger it holds (a
    /// resend answered from the journal queues its message if it never was), the counts, and
    /// what the backend did not receive whole, in the caller's field names.
    // Not inlined into `execute`, for the reason `executeOnce` gives.
    @inline(never)
    func moved(
        _ batch: BatchOutcome, command: Command, dialect: DialectID, routed: any StockBackend, facts: RequestFacts,
        log: inout CodecResponse.LogFacts, losses: inout (dropped: [String], truncated: [String])
    ) async {
        let applied = batch.appliedCount
        if let pusher, let store = routed as? any LedgerStore, applied > 0 {
            await pusher.movementsApplied(batch.succeeded, facts: facts, store: store, catalog: catalog)
        }
        guard !batch.replayed else { return }
        log.itemsApplied += applied
        log.itemsFailed += batch.items.count - applied
        metrics.recordMovementsApplied(dialect: dialect, count: applied)
        if case .move(let sent) = command, let remote = routed as? RemoteBackend, applied > 0 {
            let lost = remote.losses(sent, dialect: dialect)
            losses.dropped += lost.dropped.filter { !losses.dropped.contains($0) }
            losses.truncated += lost.truncated.filter { !losses.truncated.contains($0) }
        }
    }

    /// The caller's fields of a forwarded write that the backend's dialect has no place for.
    public static let droppedHeader = HTTPField.Name("StockGate-Dropped")!
    /// The caller's fields the backend received cut short: `name;limit=N` (characters).
    public static let truncatedHeader = HTTPField.Name("StockGate-Truncated")!

    /// A digest of what makes two requests the same: method, path, query and body.
    static func fingerprint(_ request: InboundRequest) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 ^ (second >> 29)
            }
            first = (first ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        mix(request.method.rawValue.utf8)
        mix(request.path.utf8)
        for item in request.query {
            mix(item.name.utf8)
            mix(item.value.utf8)
        }
        mix(request.body)
        return String(first, radix: 16) + "-" + String(second, radix: 16) + "-" + String(request.body.count)
    }

    /// The stored answer, marked as a replay.
    static func replay(_ stored: StoredResponse) -> CodecResponse {
        var headers = HTTPFields()
        for line in stored.headers {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else {
                continue
            }
            headers[name] = String(line[line.index(after: colon)...].drop { $0 == " " })
        }
        headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
        return CodecResponse(status: HTTPResponse.Status(code: stored.status), headers: headers, body: stored.body)
    }
}
