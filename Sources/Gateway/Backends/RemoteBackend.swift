import CurlHTTP
import Dialects
import Foundation
import Logging
import Operations
import StockCore
import Synchronization
import Tracing

/// A backend reached over HTTP in its own dialect.
///
/// The gap between what the inbound dialect promises and what the backend can do is filled
/// here, in one place, from the outbound codec's capabilities:
/// - every item is checked first; what the backend cannot express is refused before
///   anything is sent (an all-or-nothing batch with one such item sends nothing);
/// - batches are split to the backend's size (Open2b: one movement per call) and per-item
///   outcomes gathered back;
/// - an all-or-nothing batch on a backend that applies items one by one is undone (each
///   applied item reversed at the backend) when an item fails, and the outcome says so;
/// - a per-item batch on an all-or-nothing backend that refuses the request is retried
///   item by item (the refused request changed nothing), so the good items still apply;
/// - queries (find / get / count) are answered from the gateway's journal of the movements
///   it forwarded to this backend.
public final class RemoteBackend: StockBackend {
    public let name: String
    public let baseURL: String
    /// The base URL's authority (host and port), for the client span.
    let authority: String
    /// The base URL without its trailing `/`: each request's URL is this and its path.
    let urlPrefix: String
    let codec: any OutboundCodec
    let client: CurlHTTPClient
    let auth: BackendAuthenticator
    let catalog: Catalog
    let journal: any ForwardJournal & TrackingStore & ResponseStore
    /// Serializes level commands per product and location (see `LevelLocks`).
    let levelLocks: LevelLocks
    let timeout: Duration?
    let logger: Logger
    let metrics: GatewayMetrics.Backend?
    let retryPolicy: RetryPolicy
    let breaker: Mutex<CircuitBreaker>
    /// Last success, last error, circuit since (the operator page).
    let activity = Mutex(BackendActivity())
    /// What retries wait by and the breaker reads the time from.
    let clock: BackendClock
    /// Scrubs secrets from the vendor's messages before they are relayed.
    let redactor: SecretRedactor
    /// Inbound dialects whose route here is strict: data the backend would drop is refused.
    let strictDialects: Set<DialectID>
    /// Each inbound dialect's name for each fact, to name what is lost in the caller's words.
    let fieldNames: InboundFieldNames

    /// - Parameters:
    ///   - name: the backend's name in the configuration (journal and logs).
    ///   - baseURL: scheme, host, port and optional path prefix, without a trailing slash.
    ///   - codec: the backend's dialect.
    ///   - client: the shared curl client.
    ///   - auth: how to authenticate.
    ///   - catalog: the identities of products and locations in every dialect.
    ///   - journal: where forwarded movements are recorded (the gateway's ledger file).
    ///   - timeout: the total timeout of one request, overriding the client's.
    public init(
        name: String, baseURL: String, codec: any OutboundCodec, client: CurlHTTPClient, auth: BackendAuthMethod,
        catalog: Catalog, journal: any ForwardJournal & TrackingStore & ResponseStore, timeout: Duration? = nil,
        logger: Logger,
        metrics: GatewayMetrics? = nil,
        retryPolicy: RetryPolicy = RetryPolicy(), circuitBreaker: CircuitBreaker = CircuitBreaker(),
        redactor: SecretRedactor = SecretRedactor(), clock: BackendClock = .system, strictDialects: Set<DialectID> = []
    ) {
        self.strictDialects = strictDialects
        self.fieldNames = InboundFieldNames(catalog: catalog)
        self.clock = clock
        self.redactor = redactor
        self.metrics = metrics?.backend(name)
        self.retryPolicy = retryPolicy
        self.breaker = Mutex(circuitBreaker)
        self.name = name
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let (scheme, authority, prefix) = CurlRequest.split(self.baseURL)
        self.authority = authority
        self.urlPrefix = scheme + "://" + authority + (prefix == "/" ? "" : prefix)
        self.codec = codec
        self.client = client
        self.auth = BackendAuthenticator(method: auth, client: client, backendName: name, redactor: redactor)
        self.catalog = catalog
        self.journal = journal
        self.levelLocks = LevelLocks(claims: journal, clock: clock)
        self.timeout = timeout
        self.logger = logger
    }

    public func execute(_ command: Command, facts: RequestFacts) async throws -> Outcome {
        // The read on its own: an async function's context holds the locals of every branch
        // (and of what is inlined into it), and the request's task allocates it whole on
        // every call. With the other commands in here, a read's was 9.8 KB (gdb on
        // swift_task_alloc); on its own, 336 bytes.
        if case .readBalances(let query) = command {
            guard codec.capabilities.balanceReads else {
                throw GatewayError.unsupported("a \(codec.dialect) backend cannot read balances")
            }
            return .balances(try await readBalances(query, facts: facts))
        }
        return try await executeOther(command, facts: facts)
    }

    /// Every command but the read.
    @inline(never)
    func executeOther(_ command: Command, facts: RequestFacts) async throws -> Outcome {
        switch command {
        case .move(let batch):
            return .moved(try await move(batch, facts: facts))
        case .readBalances:
            return try await execute(command, facts: facts)
        case .findMovements(var query):
            if query.backend == nil { query.backend = name }
            return .movements(try await journal.movements(query))
        case .countMovements(var query):
            if query.backend == nil { query.backend = name }
            return .count(try await journal.count(query))
        case .settleForwarded(let id, let state):
            return .movement(try await journal.settleUnknown(id: id, state: state))
        case .getMovement(let id):
            let movement = try await journal.movement(id: id)
            return .movement(movement?.backend == name ? movement : nil)
        case .listLocations:
            return .locations(catalog.locations)
        case .setTracking(let products, let tracked):
            // A backend that knows tracking (Zettle) is told first; StockGate keeps the state
            // in its own ledger either way, so dialects that read it answer the same.
            if let request = try codec.trackingRequest(products: products, tracked: tracked, catalog: catalog) {
                let response = try await send(request, facts: facts)
                do {
                    try codec.trackingResult(response)
                } catch {
                    throw redacted(error)
                }
            }
            try await journal.setTracking(products: products, tracked: tracked)
            return .tracking(untracked: try await journal.untrackedProducts())
        case .readTracking:
            return .tracking(untracked: try await journal.untrackedProducts())
        case .updateDescription:
            throw GatewayError.unsupported("a \(codec.dialect) backend cannot change a movement's description")
        case .deleteMovements:
            throw GatewayError.unsupported("a \(codec.dialect) backend cannot delete movements")
        case .confirmTransfer:
            throw GatewayError.unsupported("a \(codec.dialect) backend cannot confirm a transfer through StockGate")
        }
    }

    // MARK: Moves

    /// What this backend would not receive whole of a batch from `dialect`, in that dialect's
    /// field names: dropped fields, and fields cut short with their limit. A fact `dialect` has
    /// no field for is not the caller's to lose, and is not listed.
    public func losses(_ batch: MoveBatch, dialect: DialectID) -> (dropped: [String], truncated: [String]) {
        var dropped: [String] = []
        var truncated: [String] = []
        var names: [MovementFact: String]?
        for item in batch.items {
            for loss in CarriageProbe.losses(item, codec: codec, catalog: catalog) {
                if names == nil { names = fieldNames.names(dialect) }
                guard let name = names?[loss.fact] else { continue }
                switch loss.kind {
                case .dropped where !dropped.contains(name): dropped.append(name)
                case .truncated(let limit) where !truncated.contains(where: { $0.hasPrefix(name + ";") }):
                    truncated.append("\(name);limit=\(limit)")
                default: break
                }
            }
        }
        return (dropped, truncated)
    }

    // Not inlined into `executeOther`, for the reason `execute` gives.
    @inline(never)
    func move(_ batch: MoveBatch, facts: RequestFacts) async throws -> BatchOutcome {
        // The journal is the one truth about a keyed write: what became of earlier sends under
        // the same key decides whether this one goes out at all.
        var reusable: [Movement] = []
        if let key = facts.idempotencyKey {
            let earlier = try await journal.forwarded(idempotencyKey: key, backend: name)
            let unsettled = earlier.contains { $0.state == .sent }
            if unsettled && !codec.capabilities.idempotencyKeys {
                // It reached a backend that does not deduplicate and nobody knows what came of it:
                // sending it again could apply it twice.
                throw unknownOutcome(facts: facts, resent: true)
            }
            let applied = earlier.filter { $0.state == .applied }
            if !unsettled && !applied.isEmpty {
                return BatchOutcome(items: applied.map { .applied($0) }, replayed: true)
            }
            // Sent to a backend that deduplicates by the key (a repeat is safe and tells the
            // outcome), or settled as failed: the same rows are sent again and settled anew.
            reusable = earlier.filter { $0.state == .sent || $0.state == .failed }
        }
        // Levels the backend cannot take, or must be read for, are decided before sending.
        let needsResolving = batch.items.contains { item in
            guard item.level != nil else { return false }
            switch LevelTreatment.of(item, codec: codec) {
            case .refused, .readThenMove: return true
            case .native, .movement: return false
            }
        }
        guard needsResolving else { return try await forward(batch, reusable: &reusable, facts: facts) }
        let keys = levelKeys(batch)
        try await levelLocks.acquire(keys, until: clock.now() + (timeout ?? client.configuration.timeout))
        do {
            let levels = try await resolveLevels(batch, facts: facts)
            let outcome = try await forward(levels.batch, reusable: &reusable, facts: facts, settled: levels.settled)
            await levelLocks.release(keys)
            return outcome
        } catch {
            await levelLocks.release(keys)
            throw error
        }
    }

    /// Sends a batch: refusals first, then the chunks, each journaled `sent` before it goes
    /// and settled from the answer. `settled`: items decided without sending (a level refused,
    /// or already held: journaled applied once the batch stands).
    func forward(
        _ batch: MoveBatch, reusable: inout [Movement], facts: RequestFacts,
        settled: [Int: Result<Void, GatewayError>] = [:]
    ) async throws -> BatchOutcome {
        var results = [BatchOutcome.Item?](repeating: nil, count: batch.items.count)
        let strict = strictDialects.contains(facts.dialect) ? fieldNames.names(facts.dialect) : nil
        var plan = MovePlan.make(batch, codec: codec, catalog: catalog, strict: strict)
        for (index, result) in settled {
            plan.refusals[index] = nil
            if case .failure(let error) = result { plan.refusals[index] = error }
        }
        plan.chunks = plan.chunks.map { $0.filter { settled[$0] == nil } }.filter { !$0.isEmpty }
        for (index, error) in plan.refusals { results[index] = .failed(error) }
        let atomic = batch.atomicity == .allOrNothing
        if atomic && !plan.refusals.isEmpty {
            return BatchOutcome(items: results.map { $0 ?? .notApplied })  // nothing sent
        }
        // Journal rows (state `sent`) for what goes to the backend, settled from its answer:
        // after a crash or a timeout, a row still `sent` says the outcome is unknown.
        var journaled: [Int: Movement] = [:]
        var applied: [Int] = []
        for (chunkIndex, chunk) in plan.chunks.enumerated() {
            let items = chunk.map { batch.items[$0] }
            let rows = try await journalRows(items, reusing: &reusable, facts: facts)
            for (position, index) in chunk.enumerated() { journaled[index] = rows[position] }
            let outcomes: [BatchOutcome.Item]
            do {
                outcomes = try await send(items, atomic: atomic, facts: facts)
            } catch let error as GatewayError {
                // Unknown outcome: the rows stay `sent`. Anything else was not applied.
                if error.code != .unknownOutcome {
                    let ids = rows.compactMap(\.id)
                    try await journal.settleForwarded(ids.map { ($0, .failed) })
                    try await journal.recordFailures(ids.map { ($0, Self.reason(error)) })
                }
                if atomic { try await undo(applied, results: &results, facts: facts) }
                throw error
            }
            do {
                applied += try await settle(chunk, outcomes: outcomes, journaled: &journaled, results: &results)
            } catch {
                // The backend answered, but its answer could not be journaled (the database went
                // away): the rows stay `sent`. The caller must not read "nothing applied" from a
                // storage refusal; the outcome is unknown until the journal is settled.
                logger.warning(
                    "backend answer not journaled",
                    metadata: ["backend": "\(name)", "error": "\(error)", "request_id": "\(facts.requestID)"])
                throw unknownOutcome(facts: facts, detail: "answered, but its answer could not be journaled")
            }
            let failed = chunk.contains { if case .failed = results[$0] { true } else { false } }
            if atomic && failed {
                try await undo(applied, results: &results, facts: facts)
                for later in plan.chunks.dropFirst(chunkIndex + 1).joined() { results[later] = .notApplied }
                return BatchOutcome(items: results.map { $0 ?? .notApplied })
            }
        }
        try await journalHeldLevels(batch, settled: settled, results: &results, facts: facts)
        return BatchOutcome(items: results.map { $0 ?? .notApplied })
    }

    /// Settles one chunk's journal rows from the backend's answer to it: applied (with what a
    /// native level read), failed with its reason, or not applied.
    /// - Returns: the batch indices applied.
    func settle(
        _ chunk: [Int], outcomes: [BatchOutcome.Item], journaled: inout [Int: Movement],
        results: inout [BatchOutcome.Item?]
    ) async throws -> [Int] {
        var applied: [Int] = []
        var settled: [(id: Int64, state: MovementState)] = []
        var reasons: [(id: Int64, reason: String)] = []
        for (position, index) in chunk.enumerated() {
            guard var row = journaled[index], let id = row.id else { continue }
            switch outcomes[position] {
            case .applied(let answered):
                if row.level != nil, answered.level?.before != nil {
                    // A backend that took the level natively says what it read and changed.
                    try await journal.recordLevelResolution(id: id, as: answered)
                    (row.quantity, row.from, row.to, row.level) = (
                        answered.quantity, answered.from, answered.to, answered.level
                    )
                }
                row.state = .applied
                applied.append(index)
                settled.append((id, .applied))
            case .failed(let error):
                results[index] = .failed(error)
                settled.append((id, .failed))
                reasons.append((id, Self.reason(error)))
            case .notApplied, .undone:
                results[index] = .notApplied
                settled.append((id, .failed))
                reasons.append((id, "not applied: the backend refused another item of the request"))
            }
            journaled[index] = row
        }
        let appliedAt = try await journal.settleForwarded(settled)
        try await journal.recordFailures(reasons)
        for index in chunk {
            guard var row = journaled[index], row.state == .applied, results[index] == nil else { continue }
            row.appliedAt = appliedAt
            results[index] = .applied(row)
        }
        return applied
    }

    /// The journal rows (state `sent`) of items about to be sent: rows of an earlier send under
    /// the same key when they record the same movements, so a resend never adds rows; else new ones.
    func journalRows(
        _ items: [Movement], reusing reusable: inout [Movement], facts: RequestFacts
    ) async throws
        -> [Movement]
    {
        let candidates = reusable.prefix(items.count)
        let same =
            candidates.count == items.count
            && zip(candidates, items).allSatisfy {
                $0.product == $1.product && $0.quantity == $1.quantity && $0.from == $1.from && $0.to == $1.to
            }
        guard same else { return try await journal.journalForwarded(items, backend: name, facts: facts) }
        reusable.removeFirst(items.count)
        try await journal.settleForwarded(candidates.compactMap(\.id).map { ($0, .sent) })
        return candidates.map { row in
            var row = row
            row.state = .sent
            return row
        }
    }

    /// A refusal as the journal keeps it: its code and the (already redacted) message, capped.
    static func reason(_ error: GatewayError) -> String {
        let text = "\(error.code): \(error.message)"
        return text.count > 500 ? String(text.prefix(500)) + "…" : text
    }

    /// The caller's answer when a write may or may not have been applied at the backend.
    /// - Parameter resent: this request was not sent at all, because an earlier one under the
    ///   same key reached the backend with an outcome nobody knows yet.
    func unknownOutcome(facts: RequestFacts, resent: Bool = false, detail: String? = nil) -> GatewayError {
        let what =
            resent
            ? "a request with this Idempotency-Key reached backend \(name) earlier and its outcome is still unknown"
            : "backend \(name) \(detail ?? "did not answer in time"): the request may or may not have been applied there"
        let advice =
            facts.idempotencyKey == nil
            ? "check the backend before sending it again: without an Idempotency-Key a resend is a new movement"
            : "it is not sent again under the same Idempotency-Key; a resend gets this answer until the journal settles the outcome"
        return GatewayError(code: .unknownOutcome, message: what + "; " + advice)
    }

    /// Reverses at the backend what an all-or-nothing batch applied before an item failed,
    /// and journals each reversal.
    func undo(_ applied: [Int], results: inout [BatchOutcome.Item?], facts: RequestFacts) async throws {
        for index in applied {
            guard case .applied(let movement) = results[index] else { continue }
            results[index] = try await undo(movement, facts: facts)
        }
    }

    /// Sends items that passed the checks. A per-item batch refused whole by an
    /// all-or-nothing backend is retried one item at a time.
    func send(_ items: [Movement], atomic: Bool, facts: RequestFacts) async throws -> [BatchOutcome.Item] {
        let request = try codec.moveRequest(
            items, catalog: catalog, idempotencyKey: facts.idempotencyKey, atomic: atomic)
        let response = try await send(request, facts: facts)
        let outcomes = codec.moveResult(response, items: items, catalog: catalog).map { outcome -> BatchOutcome.Item in
            if case .failed(let error) = outcome { return .failed(redacted(error)) }
            return outcome
        }
        for case .failed(let error) in outcomes where error.code == .unknownOutcome {
            throw unknownOutcome(facts: facts, detail: "answered \(response.status) with a body StockGate cannot read")
        }
        let refusedWhole = outcomes.allSatisfy { if case .failed = $0 { true } else { false } }
        if !atomic && codec.capabilities.atomicRequests && items.count > 1 && refusedWhole
            && (400..<500).contains(response.status)
        {
            var single: [BatchOutcome.Item] = []
            for item in items { single += try await send([item], atomic: false, facts: facts) }
            return single
        }
        return outcomes
    }

    /// A vendor's error with every known secret removed from its message, and the message capped.
    func redacted(_ error: GatewayError) -> GatewayError {
        GatewayError(code: error.code, message: redactor.redact(error.message), field: error.field)
    }

    /// Reverses an applied movement at the backend; says what came of it.
    func undo(_ movement: Movement, facts: RequestFacts) async throws -> BatchOutcome.Item {
        var reversal = movement
        reversal.id = nil
        reversal.from = movement.to
        reversal.to = movement.from
        reversal.allowOverage = true
        reversal.description = "reversal: another item of the batch failed"
        var reversalFacts = facts
        reversalFacts.idempotencyKey = nil
        reversal.reverses = movement.id
        let outcome = try await send([reversal], atomic: true, facts: reversalFacts)
        if case .applied = outcome.first {
            logger.warning(
                "movement undone at backend", metadata: ["backend": "\(name)", "request_id": "\(facts.requestID)"])
            _ = try await journal.journalForwarded([reversal], backend: name, facts: reversalFacts, state: .applied)
            if let id = movement.id { try await journal.settleForwarded([(id, .reversed)]) }
            var undone = movement
            undone.state = .reversed
            return .undone(undone)
        }
        logger.error(
            "could not undo a movement at the backend",
            metadata: ["backend": "\(name)", "request_id": "\(facts.requestID)"])
        return .failed(
            GatewayError.conflict(
                "applied at backend \(name) but could not be reversed after another item failed: check the backend"))
    }

    // MARK: Transport

    /// Sends with retries where a repeat is safe, behind the circuit breaker, within one
    /// overall deadline (the backend's timeout) for every attempt and wait together.
    ///
    /// Safe to repeat: reads; writes the backend deduplicates (an idempotency key to a
    /// backend that honours one); any request that never reached the backend (connection
    /// refused) or that the backend says it did not process (429, 503). `Retry-After` is
    /// honoured up to `retryPolicy.maxRetryAfter` and the deadline.
    ///
    /// A write that may have reached the backend and got no answer it can trust (a timeout, a
    /// broken answer, a 5xx other than 503) is an unknown outcome: thrown as `unknownOutcome`,
    /// never as a failure, so its journal rows stay `sent`.
    func send(_ request: OutboundRequest, facts: RequestFacts) async throws -> OutboundResponse {
        let write = request.method != .get
        let deduplicated = !write || (codec.capabilities.idempotencyKeys && facts.idempotencyKey != nil)
        let deadline = clock.now() + (timeout ?? client.configuration.timeout)
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        var reached = false  // some attempt may have reached the backend
        // The failure to report once no further attempt is made.
        func giveUp(_ failure: GatewayError, detail: String? = nil) -> GatewayError {
            write && reached ? unknownOutcome(facts: facts, detail: detail) : failure
        }
        /// Waits before the next attempt; false when the wait would pass the deadline.
        func pause(_ wait: Duration) async throws -> Bool {
            guard clock.now() + wait < deadline else { return false }
            metrics?.record(.retried)
            try await clock.sleep(wait)
            return true
        }
        while true {
            attempt += 1
            let now = clock.now()
            let remaining = deadline - now
            guard remaining > .zero else {
                throw giveUp(
                    GatewayError(code: .unavailable, message: "backend \(name) is unavailable (no answer in time)"))
            }
            let admitted = breaker.withLock { $0.admit(now: now) }
            publishCircuit()
            guard admitted == .allowed else {
                metrics?.record(.rejected)
                throw giveUp(
                    GatewayError(
                        code: .unavailable,
                        message: "backend \(name) is unavailable (circuit open after repeated failures)"))
            }
            let canRetry = attempt < retryPolicy.maxAttempts
            let response: OutboundResponse
            let started = metrics?.started()
            do {
                defer { if let started { metrics?.ended(started) } }
                response = try await authenticated(request, facts: facts, timeout: remaining)
            } catch let error as CurlError {
                recordHealth(ok: false, what: "unreachable (\(error.code))")
                // Refused, unresolvable, a failed handshake or a request curl would not build:
                // nothing reached the backend's application.
                let neverSent = error.code == .connectFailed || error.code == .tls || error.code == .invalidRequest
                if !neverSent { reached = true }
                if canRetry && (neverSent || deduplicated),
                    try await pause(retryPolicy.delay(attempt: attempt, using: &generator))
                {
                    continue
                }
                metrics?.record(.failed)
                logger.warning(
                    "backend unreachable",
                    metadata: ["backend": "\(name)", "error": "\(error.code)", "request_id": "\(facts.requestID)"])
                throw giveUp(
                    GatewayError(code: .unavailable, message: "backend \(name) is unavailable (\(error.code))"))
            }
            recordHealth(ok: response.status < 500, what: "answered \(response.status)")
            let notProcessed = response.status == 429 || response.status == 503
            let serverError = response.status >= 500 && !notProcessed
            if !notProcessed { reached = true }
            if canRetry && (notProcessed || (serverError && deduplicated)) {
                let asked = retryPolicy.retryAfter(response.retryAfter)
                if response.retryAfter == nil || asked != nil,
                    try await pause(asked ?? retryPolicy.delay(attempt: attempt, using: &generator))
                {
                    continue
                }
            }
            metrics?.record(response.status < 500 ? .ok : .failed)
            if write && reached && (serverError || notProcessed) {
                // A 5xx after the write may have been applied (now or by an earlier attempt).
                throw unknownOutcome(facts: facts, detail: "answered \(response.status)")
            }
            return response
        }
    }

    /// `what` (made only for a failure) is what the operator page shows as the last error.
    func recordHealth(ok: Bool, what: @autoclosure () -> String) {
        let now = clock.now()
        breaker.withLock { ok ? $0.recordSuccess() : $0.recordFailure(now: now) }
        let what = ok ? "" : what()
        activity.withLock { $0.record(ok: ok, what: what, at: Date()) }
        publishCircuit()
    }

    /// The circuit breaker's state in words (the operator page).
    func circuitDescription() -> String {
        let now = clock.now()
        return breaker.withLock { breaker in
            switch breaker.state {
            case .closed(let failures):
                failures == 0 ? "closed" : "closed (\(failures) consecutive failure\(failures == 1 ? "" : "s"))"
            case .open(let until) where until > now:
                "open: calls refused for \(max(1, Int(((until - now) / .seconds(1)).rounded(.up)))) s more"
            case .open:
                "open: the next call is let through as the probe"
            case .halfOpen:
                "half-open: one probe let through"
            }
        }
    }

    func publishCircuit() {
        let state = breaker.withLock { $0.state.metricValue }
        activity.withLock { $0.circuit(state, at: Date()) }
        metrics?.circuit(state)
    }

    /// Balances, page after page while the backend announces another (at most its dialect's
    /// `capabilities.maxBalancePages`); a product read on two pages counts once, non-zero first.
    func readBalances(_ query: BalanceQuery, facts: RequestFacts) async throws -> [Balance] {
        var request = try codec.balanceRequest(query, catalog: catalog)
        var balances: [Balance] = []
        for _ in 0..<max(1, codec.capabilities.maxBalancePages) {
            let response = try await send(request, facts: facts)
            do {
                balances += try codec.balanceResult(response, query: query, catalog: catalog)
            } catch {
                throw redacted(error)
            }
            guard let next = codec.nextBalanceRequest(after: response) else { break }
            request = next
        }
        return Self.merged(balances)
    }

    /// Balances with each product and location once: the first non-zero one read, else the
    /// first (a product read on two pages counts once). One location's page is a short list,
    /// scanned; a longer one is indexed (hashing two strings per balance costs more than
    /// comparing a few).
    static func merged(_ balances: [Balance]) -> [Balance] {
        var merged: [Balance] = []
        merged.reserveCapacity(balances.count)
        struct Key: Hashable {
            let product: String
            let location: String
        }
        var seen: [Key: Int] = [:]
        let scanned = balances.count <= scannedBalances
        if !scanned { seen.reserveCapacity(balances.count) }
        for balance in balances {
            let index: Int?
            if scanned {
                index = merged.firstIndex { $0.product == balance.product && $0.location == balance.location }
            } else {
                let key = Key(product: balance.product, location: balance.location)
                index = seen[key]
                if index == nil { seen[key] = merged.count }
            }
            if let index {
                if merged[index].quantity == .zero { merged[index] = balance }
            } else {
                merged.append(balance)
            }
        }
        return merged
    }

    /// Up to this many balances are merged by a scan, more through an index.
    static let scannedBalances = 16

    /// One attempt, with one fresh token after a 401 when the auth method has tokens.
    func authenticated(
        _ request: OutboundRequest, facts: RequestFacts, timeout: Duration
    ) async throws -> OutboundResponse {
        let started = ContinuousClock.now
        let response = try await transmit(request, facts: facts, refresh: false, timeout: timeout)
        guard response.status == 401 && auth.refreshes else { return response }
        let left = timeout - (ContinuousClock.now - started)
        return left > .zero ? try await transmit(request, facts: facts, refresh: true, timeout: left) : response
    }

    func transmit(
        _ request: OutboundRequest, facts: RequestFacts, refresh: Bool, timeout: Duration
    ) async throws
        -> OutboundResponse
    {
        // The head keeps the codec's relative path; the URL is the base's and that path.
        var head = request.head
        let path = request.path
        var url = ""
        url.reserveCapacity(urlPrefix.utf8.count + path.utf8.count)
        url += urlPrefix
        url += path
        // Room for what is added here (the request id, the trace, the credentials): one
        // allocation instead of one per field.
        head.headerFields.reserveCapacity(head.headerFields.count + 4)
        head.headerFields[.requestID] = facts.requestID
        // The caller's trace continues at the backend, this hop its parent span.
        if let trace = facts.traceparent.flatMap(TraceParent.init) {
            head.headerFields[.traceParentField] = trace.child().header
            if let state = facts.tracestate { head.headerFields[.traceStateField] = state }
        }
        // Fixed credentials need no `await` (a suspension point on every forward).
        if let fixed = auth.fixedHeaders {
            head.headerFields.append(contentsOf: fixed)
        } else {
            head.headerFields.append(contentsOf: try await auth.headers(refresh: refresh))
        }
        var outbound = CurlRequest(head, url: url, body: request.body, timeout: timeout)
        // A write's answer is journaled next (the settlement, on the commit thread): its task
        // may go on on the curl thread up to there. A read's answer is translated and played
        // on its loop, and would keep the curl thread from other transfers meanwhile.
        outbound.resumesOnClientThread = request.method != .get && request.method != .head
        let response: CurlResponse
        if GatewayTracing.recording {
            response = try await withSpan("\(request.method.rawValue) \(name)", ofKind: .client) { span in
                span.attributes["http.request.method"] = request.method.rawValue
                span.attributes["server.address"] = authority
                span.attributes["stockgate.backend"] = name
                // A tracer's own context wins over the child made above: the backend's parent is this span.
                var traced = outbound
                GatewayTracing.inject(into: &traced.head.headerFields)
                let answer = try await client.execute(traced)
                span.attributes["http.response.status_code"] = answer.status
                if answer.status >= 500 { span.setStatus(SpanStatus(code: .error)) }
                return answer
            }
        } else {
            response = try await client.execute(outbound)
        }
        logger.debug(
            "backend answered",
            metadata: [
                "backend": "\(name)", "method": "\(request.method)", "path": "\(request.path)",
                "status": "\(response.status)", "request_id": "\(facts.requestID)",
            ])
        // Retry-After is read where `send` heeds it (429 and 5xx), Link for a dialect that pages
        // (`nextBalanceRequest`): not a scan of every answer's head (~800 instructions each).
        let status = response.status
        return OutboundResponse(
            status: status, body: response.body,
            retryAfter: status == 429 || status >= 500 ? response.header("Retry-After") : nil,
            link: codec.capabilities.maxBalancePages > 1 ? response.header("Link") : nil)
    }
}
