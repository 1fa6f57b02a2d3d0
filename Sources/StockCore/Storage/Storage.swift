import Foundation

/// The storage boundary: what the pipeline asks of the place its state lives. Two
/// implementations: the SQLite `Ledger` (one process, the zero-setup default) and the
/// PostgreSQL store (many gateway instances, one truth). The behaviour suites run against both.
///
/// Four roles, one store: the embedded ledger (a `StockBackend`), the journal of movements
/// forwarded to remote backends, the idempotency answers with their in-flight claims, and
/// Zettle tracking. Every method may throw `GatewayError` (a refusal, or `unavailable` when the
/// database cannot be reached) or the database's own error (an internal failure).
public typealias Storage = LedgerStore & ForwardJournal & ResponseStore

/// Reads of stored movements: the embedded ledger's (`backend == nil` in the query) and the
/// journal's (a backend named).
public protocol MovementReader: Sendable {
    func movements(_ query: MovementQuery) async throws -> [Movement]
    func count(_ query: MovementQuery) async throws -> Int
    func movement(id: Int64) async throws -> Movement?
}

/// The embedded backend: moves, balances, pending transfers and their confirmation,
/// descriptions, deletions (as reversals). `execute` is the same for every store (below).
public protocol LedgerStore: StockBackend, MovementReader, TrackingStore {
    /// What the store is, in words for the operator: "embedded ledger", "shared PostgreSQL database".
    var storeDescription: String { get }

    var catalog: Catalog { get }
    /// Checks movements against `catalog` from now on (a reload).
    func replaceCatalog(_ catalog: Catalog)
    /// Records a batch: all of it or none of it, or each item on its own, as it says.
    func move(_ batch: MoveBatch, facts: RequestFacts) async throws -> BatchOutcome
    /// Applies a pending transfer now.
    func confirm(id: Int64, facts: RequestFacts) async throws -> Movement
    /// Changes the description of a movement, and nothing else.
    func updateDescription(id: Int64, description: String) async throws -> Movement
    /// Deletes movements by undoing them (a reversal each); returns the ids deleted.
    func delete(ids: [Int64], facts: RequestFacts) async throws -> [Int64]
    func balances(_ query: BalanceQuery) async throws -> [Balance]
    /// Why writes cannot be taken now, if they cannot (a database file gone, the last commit
    /// failed, the database unreachable): `/healthz` reports it and writes are refused.
    var healthProblem: String? { get }
    /// Asks the store now whether it takes writes: nil when it does, else why not. A shared
    /// database is asked over the network (bounded to about a second); a file is checked.
    func probe() async -> String?
    /// Whether `probe` asks over the network (else it is `healthProblem`, known at once).
    var probesOverNetwork: Bool { get }
    /// Empties every table (contract testing only: `serve --enable-test-reset`).
    func reset() async throws
}

extension LedgerStore {
    public func probe() async -> String? { healthProblem }
    public var probesOverNetwork: Bool { false }

    public func execute(_ command: Command, facts: RequestFacts) async throws -> Outcome {
        switch command {
        case .move(let batch): return .moved(try await move(batch, facts: facts))
        case .findMovements(let query): return .movements(try await movements(query))
        case .getMovement(let id): return .movement(try await movement(id: id))
        case .countMovements(let query): return .count(try await count(query))
        case .updateDescription(let id, let description):
            return .updated(try await updateDescription(id: id, description: description))
        case .deleteMovements(let ids): return .deleted(ids: try await delete(ids: ids, facts: facts))
        case .readBalances(let query): return .balances(try await balances(query))
        case .listLocations: return .locations(catalog.locations)
        case .confirmTransfer(let id): return .confirmed(try await confirm(id: id, facts: facts))
        case .setTracking(let products, let tracked):
            try await setTracking(products: products, tracked: tracked)
            return .tracking(untracked: try await untrackedProducts())
        case .readTracking: return .tracking(untracked: try await untrackedProducts())
        case .settleForwarded(let id, let state):
            guard let journal = self as? any ForwardJournal else {
                throw GatewayError.unsupported("this store keeps no journal of forwarded movements")
            }
            return .movement(try await journal.settleUnknown(id: id, state: state))
        }
    }

    /// The sum of all balances of a product (conservation checks and reports).
    public func totalStock(product: String) async throws -> Quantity {
        try await balances(BalanceQuery(products: [product])).reduce(.zero) { $0 + $1.quantity }
    }
}

/// The journal of movements forwarded to remote backends
/// ([docs/forwarded-writes.md](../../docs/forwarded-writes.md)): `sent` before sending,
/// settled `applied`, `failed` or `reversed` after.
public protocol ForwardJournal: MovementReader {
    /// Journals movements about to be forwarded, in `state` (`sent` unless given).
    /// - Returns: the movements as stored, with their journal ids.
    func journalForwarded(
        _ items: [Movement], backend: String, facts: RequestFacts, state: MovementState
    ) async throws -> [Movement]
    /// Settles journaled movements. - Returns: the time recorded for those now applied.
    @discardableResult
    func settleForwarded(_ states: [(id: Int64, state: MovementState)]) async throws -> Date
    /// Movements forwarded to `backend` under a key within the idempotency window, reversals
    /// left out, oldest first.
    func forwarded(idempotencyKey key: String, backend: String) async throws -> [Movement]
    func markReversed(id: Int64) async throws
    /// Keeps a note on journal rows beside their state: why a forwarded movement failed (the
    /// backend's refusal, redacted), or who settled an unknown outcome and why. `stockgate
    /// journal`, the API and the operator page show them.
    func recordNotes(_ notes: [(id: Int64, note: JournalNote, text: String)]) async throws
    /// Records what a backend that takes levels natively did with a journaled level movement:
    /// the change it made (quantity and direction) and the balance it read.
    func recordLevelResolution(id: Int64, as movement: Movement) async throws
}

extension ForwardJournal {
    /// Settles one forwarded movement whose outcome is unknown (`sent`) as `applied` or
    /// `failed`; anything else is refused: a movement not forwarded, or already settled.
    public func settleUnknown(id: Int64, state: MovementState) async throws -> Movement {
        guard state == .applied || state == .failed else {
            throw GatewayError.invalidValue("state must be applied or failed, got '\(state.rawValue)'", field: "state")
        }
        guard let movement = try await movement(id: id), movement.backend != nil else {
            throw GatewayError.notFound("no forwarded movement \(id) in the journal", field: "id")
        }
        guard movement.state == .sent else {
            throw GatewayError.conflict(
                "movement \(id) is \(movement.state.rawValue), not an unknown outcome: there is nothing to settle",
                field: "id")
        }
        try await settleForwarded([(id, state)])
        return try await self.movement(id: id) ?? movement
    }

    public func journalForwarded(_ items: [Movement], backend: String, facts: RequestFacts) async throws -> [Movement] {
        try await journalForwarded(items, backend: backend, facts: facts, state: .sent)
    }
}

/// A note a journal row keeps (its key in the row's `extras` JSON).
public enum JournalNote: String, Sendable {
    /// Why the backend refused it.
    case failure
    /// Who settled an unknown outcome, as what, and why.
    case settlement
}

extension ForwardJournal {
    /// Keeps why forwarded movements failed.
    public func recordFailures(_ reasons: [(id: Int64, reason: String)]) async throws {
        try await recordNotes(reasons.map { ($0.id, .failure, $0.reason) })
    }
}

/// The answer given to a write sent with an idempotency key, kept to answer a repeat.
public struct StoredResponse: Sendable, Equatable {
    /// A digest of the request (method, path, query, body): a repeat must match it.
    public var fingerprint: String
    public var status: Int
    public var headers: [String]
    public var body: [UInt8]
    public var createdAt: Date

    public init(fingerprint: String, status: Int, headers: [String], body: [UInt8], createdAt: Date = Date()) {
        self.fingerprint = fingerprint
        self.status = status
        self.headers = headers
        self.body = body
        self.createdAt = createdAt
    }
}

/// Idempotency answers, and the claims that keep two requests under one key from running at
/// once — across every gateway instance that shares the store.
public protocol ResponseStore: Sendable {
    /// The answer stored for `key` in `dialect`, unless it is older than `since`.
    func storedResponse(dialect: DialectID, key: String, since: Date) async throws -> StoredResponse?
    /// Keeps an answer; answers older than `expiredBefore` may be dropped on the way.
    func store(_ response: StoredResponse, dialect: DialectID, key: String, expiredBefore: Date) async throws
    /// Claims `key` for one request in flight; false when another request holds it. A claim
    /// older than `staleBefore` (its instance died) is taken over.
    func claim(dialect: DialectID, key: String, now: Date, staleBefore: Date) async throws -> Bool
    /// Gives a claim up (the answer is stored, or the request failed).
    func releaseClaim(dialect: DialectID, key: String) async
}

/// Which products Zettle clients see (tracking started or stopped), durably.
public protocol TrackingStore: Sendable {
    /// Starts or stops tracking products (catalog keys); unknown keys are refused.
    func setTracking(products: [String], tracked: Bool) async throws
    /// The products whose tracking is stopped.
    func untrackedProducts() async throws -> Set<String>
}
