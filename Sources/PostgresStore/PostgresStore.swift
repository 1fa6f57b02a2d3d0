import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import StockCore
import Synchronization

/// The storage boundary over a shared PostgreSQL: the embedded ledger, the forward journal,
/// the idempotency answers and claims, and tracking, for any number of gateway instances.
///
/// Concurrency, measured against the promises (docs/postgresql.md):
/// - a write locks the balance rows it reads, in one sorted order (`SELECT … FOR UPDATE`
///   after creating missing rows), so two instances moving the same stock serialize and no
///   balance goes below zero where the movement does not allow it;
/// - movement rows are inserted under a transaction-scoped advisory lock taken after the
///   balance locks, so ids are committed in increasing order (clients page with `after=id`
///   and never miss a row committed late) and the lock order is fixed (no deadlock);
/// - a deadlock or serialization failure reported by the server is retried (3 attempts).
///
/// Quantities are `numeric`, bound and read as their exact decimal text; times are
/// milliseconds since 1970 (as in the SQLite ledger).
public final class PostgresStore: Sendable {
    /// The products and locations movements may name; replaced by a reload (SIGHUP).
    public var catalog: Catalog { catalogs.withLock { $0 } }
    private let catalogs: Mutex<Catalog>
    public let idempotencyWindow: TimeInterval
    let client: PostgresClient
    let clock: @Sendable () -> Date
    let logger: Logger
    /// The last time the database could not be reached, and why (cleared by a success).
    let unreachable = Mutex<String?>(nil)
    /// Longest wait for a pooled connection before a request is answered `unavailable`.
    let leaseTimeout: Duration
    /// Longest wait for a leased connection's work (see `withLease`).
    let answerTimeout: Duration
    let location: Location
    /// A diagnosis is under way (one at a time).
    let diagnosing = Mutex(false)
    /// The writes of this instance that arrive together, committed as one statement.
    let writes = WriteGroup()

    /// The settings of a `postgres://user:password@host:port/database` URL.
    public struct Location: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String?
        /// `sslmode=require` (or `verify-full`) in the URL; otherwise plain TCP, for a
        /// database on loopback or a private network.
        public var requireTLS: Bool

        /// Parses the URL; nil when it is not a `postgres://` or `postgresql://` URL.
        public init?(url: String) {
            guard let components = URLComponents(string: url),
                components.scheme == "postgres" || components.scheme == "postgresql",
                let host = components.host, !host.isEmpty
            else { return nil }
            self.host = host
            self.port = components.port ?? 5432
            self.username = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
            self.password = components.password.flatMap { $0.removingPercentEncoding }
            let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            self.database = path.isEmpty ? nil : path
            let mode = components.queryItems?.first { $0.name == "sslmode" }?.value
            self.requireTLS = mode == "require" || mode == "verify-full" || mode == "verify-ca"
        }
    }

    /// A store on the database at `location`; `run()` (or a `ServiceGroup`) must run it, and
    /// `migrate()` must have been applied before the first use.
    public init(
        location: Location, catalog: Catalog, poolSize: Int = 16, logger: Logger,
        idempotencyWindow: TimeInterval = 24 * 3600, leaseTimeout: Duration = .seconds(5),
        answerTimeout: Duration = .seconds(30),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.location = location
        self.leaseTimeout = leaseTimeout
        self.answerTimeout = max(answerTimeout, leaseTimeout + .seconds(1))
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database,
            tls: location.requireTLS ? .require(.makeClientConfiguration()) : .disable)
        configuration.options.maximumConnections = max(1, poolSize)
        configuration.options.connectTimeout = .seconds(3)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: Self.poolLogger(logger))
        self.catalogs = Mutex(catalog)
        self.idempotencyWindow = idempotencyWindow
        self.clock = clock
        self.logger = logger
    }

    /// PostgresNIO's pool logs every failed connection attempt at `info` — once per retry, with
    /// the cause only there. The store reports an unreachable or refusing database itself (a
    /// warning with the cause, `diagnose`'s SQLSTATE), so the pool speaks from `warning` up.
    static func poolLogger(_ logger: Logger) -> Logger {
        var pool = logger
        pool.logLevel = max(logger.logLevel, .warning)
        return pool
    }

    // MARK: Transactions

    /// Runs `body` in one transaction on a pooled connection: committed when it returns
    /// `commit: true`, rolled back when it returns false or throws. A deadlock or a
    /// serialization failure is tried again; an unreachable database is `unavailable`.
    func transaction<T: Sendable>(
        _ body: @Sendable @escaping (PostgresConnection) async throws -> (value: T, commit: Bool)
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let value = try await withLease { connection -> T in
                    try await self.inTransaction(connection, body)
                }
                reached()
                return value
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < 3 {
                continue
            } catch {
                throw translated(error)
            }
        }
    }

    /// `body` between BEGIN and COMMIT on a leased connection: committed when it returns
    /// `commit: true`, rolled back when it returns false or throws.
    ///
    /// Every write goes through an explicit COMMIT (here, or inside the group write's procedure,
    /// `committedGroupWrite`), never a statement's implicit transaction:
    /// over the extended protocol the server answers a statement (its rows and CommandComplete)
    /// before it commits the implicit transaction at the Sync that follows, and postgres-nio
    /// ends the query at CommandComplete. A server stopped in between lost a write the caller
    /// had been told was applied (CI, `DatabaseAwayTests`; `CommitTests`). COMMIT's own answer
    /// comes after the commit is durable.
    func inTransaction<T: Sendable>(
        _ connection: PostgresConnection,
        _ body: @Sendable (PostgresConnection) async throws -> (value: T, commit: Bool)
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        let value: T
        let commit: Bool
        do {
            (value, commit) = try await body(connection)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        guard commit else {
            try await connection.query("ROLLBACK", logger: logger)
            return value
        }
        do {
            try await connection.query("COMMIT", logger: logger)
        } catch let error as PSQLError where error.serverInfo == nil || Self.isUnreachable(error) {
            // The connection broke, or the server went away, with the COMMIT on its way: it may
            // or may not have committed. Not `unavailable`, which says nothing was applied. (A
            // commit the server refused, a deferred check, rolled back: that error passes.)
            unreachable.withLock { $0 = "the stock database connection was lost" }
            throw GatewayError(
                code: .unknownOutcome,
                message: "the stock database connection was lost during the commit; the write may or may not be applied"
            )
        }
        return value
    }

    /// One read outside an explicit transaction.
    func read<T: Sendable>(_ body: @Sendable @escaping (PostgresConnection) async throws -> T) async throws -> T {
        do {
            let value = try await withLease(body)
            reached()
            return value
        } catch is StoreDidNotAnswer {
            unreachable.withLock { $0 = "the stock database did not answer within \(answerTimeout)" }
            throw GatewayError(
                code: .unavailable, message: "the stock database is unavailable: it did not answer in time; try again")
        } catch {
            throw translated(error)
        }
    }

    /// Runs `body` on a pooled connection, waiting at most `leaseTimeout` for one: with the
    /// database down the pool keeps trying to connect, and a request must not wait with it.
    /// Once a connection is leased, `body` is given until `answerTimeout` from the start; past
    /// it the caller is answered `StoreDidNotAnswer` (a write: unknown outcome) even if the
    /// driver never returns — a PostgreSQL restarted under load once left queries that never
    /// completed, holding their requests (and the server's graceful shutdown) forever.
    func withLease<T: Sendable>(_ body: @Sendable @escaping (PostgresConnection) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let answer = FirstAnswer<T>()
        // While the database is known to be down, give up sooner: callers learn it in a
        // second, and the pool goes on reconnecting in the background.
        let leaseWait =
            self.unreachable.withLock { $0 } == nil ? self.leaseTimeout : min(self.leaseTimeout, .seconds(1))
        let answerWait = answerTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                answer.install(continuation)
                let work = Task {
                    do {
                        let value = try await self.client.withConnection { connection in
                            leased.set()
                            return try await body(connection)
                        }
                        answer.give(.success(value))
                    } catch {
                        answer.give(.failure(error))
                    }
                }
                let timer = Task {
                    try await Task.sleep(for: leaseWait)
                    if !leased.isSet {
                        if answer.give(.failure(LeaseTimedOut())) { work.cancel() }
                        return
                    }
                    try await Task.sleep(for: answerWait - leaseWait)
                    if answer.give(.failure(StoreDidNotAnswer())) { work.cancel() }
                }
                answer.onAnswer { timer.cancel() }
                answer.onCancel { work.cancel() }
            }
        } onCancel: {
            answer.cancel()
        }
    }

    func reached() {
        if unreachable.withLock({ $0 }) != nil { unreachable.withLock { $0 = nil } }
    }

    /// A server error saying the server is going away or cannot be reached (class 08, 57P01–03).
    static func isUnreachable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
    }

    /// SQLSTATE 40001 (serialization failure) and 40P01 (deadlock detected).
    static func isRetryable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    /// A refusal passes as it is; a database that cannot be reached (no connection, the
    /// connection lost, the server shutting down or starting) becomes `unavailable`; anything
    /// else is the database's own error, which the gateway answers as an internal error.
    func translated(_ error: any Error) -> any Error {
        if let error = error as? GatewayError { return error }
        if let error = error as? PSQLError {
            let state = error.serverInfo?[.sqlState]
            let connectionLost = [
                PSQLError.Code.connectionError, .serverClosedConnection, .clientClosedConnection,
                .poolClosed, .uncleanShutdown,
            ].contains(error.code)
            if connectionLost || state?.hasPrefix("08") == true || state == "57P01" || state == "57P02"
                || state == "57P03"
            {
                let reason = "the database is unreachable (\(state ?? "\(error.code)"))"
                unreachable.withLock { $0 = reason }
                logger.warning("database unreachable", metadata: ["error": "\(String(reflecting: error.code))"])
                return GatewayError(code: .unavailable, message: "the stock database is unreachable; try again")
            }
            logger.error(
                "database error",
                metadata: [
                    "sqlstate": "\(state ?? "-")", "message": "\(error.serverInfo?[.message] ?? "\(error.code)")",
                ])
            return GatewayError.internalError("database error \(state ?? "\(error.code)")")
        }
        if error is CancellationError { return error }
        if error is StoreDidNotAnswer {
            unreachable.withLock { $0 = "the stock database did not answer within \(answerTimeout)" }
            return GatewayError(
                code: .unknownOutcome,
                message:
                    "the stock database did not answer within \(answerTimeout); the write may or may not be applied")
        }
        if error is LeaseTimedOut {
            let reason = "the stock database did not give a connection within \(leaseTimeout)"
            unreachable.withLock { $0 = reason }
            diagnoseInBackground()
            return GatewayError(code: .unavailable, message: "the stock database is unreachable; try again")
        }
        // The pool's own failures (a connection attempt that timed out, …) carry no SQLSTATE.
        let reason = "the database is unreachable"
        unreachable.withLock { $0 = reason }
        return GatewayError(code: .unavailable, message: "the stock database is unreachable; try again")
    }

    /// Why no connection can be had, from one connection of its own: the pool keeps retrying in
    /// the background and tells the cause only to its own log, so a role that does not exist
    /// (SQLSTATE 28000), a wrong password (28P01) or a missing database (3D000) read as
    /// "unreachable". nil when a connection can be made now.
    public func diagnose(timeout: Duration = .seconds(3)) async -> String? {
        var tls = PostgresConnection.Configuration.TLS.disable
        if location.requireTLS {
            do {
                tls = .require(try .init(configuration: .makeClientConfiguration()))
            } catch {
                return "cannot set up TLS for the database: \(error)"
            }
        }
        let configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: tls)
        do {
            let connection = try await withThrowingTaskGroup(of: PostgresConnection.self) { group in
                group.addTask {
                    try await PostgresConnection.connect(configuration: configuration, id: 0, logger: self.logger)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw StoreDidNotAnswer()
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
            try? await connection.close()
            return nil
        } catch let error as PSQLError {
            if let state = error.serverInfo?[.sqlState] {
                let message = error.serverInfo?[.message] ?? ""
                return "the database refused the connection: SQLSTATE \(state) \(message)"
            }
            return "no connection to \(location.host):\(location.port): \(String(reflecting: error.code))"
        } catch is StoreDidNotAnswer {
            return "no connection to \(location.host):\(location.port) within \(timeout)"
        } catch {
            return "no connection to \(location.host):\(location.port): \(error)"
        }
    }

    /// A lease timed out: find out why, once at a time, and say it in the health problem and
    /// the log (with its SQLSTATE).
    func diagnoseInBackground() {
        guard
            diagnosing.withLock({ started in
                defer { started = true }
                return !started
            })
        else { return }
        Task {
            let cause = await diagnose()
            if let cause {
                unreachable.withLock { $0 = cause }
                logger.error("database unreachable", metadata: ["cause": "\(cause)"])
            }
            diagnosing.withLock { $0 = false }
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}

extension PostgresStore {
    /// Runs the connection pool for the duration of `body`, outside a `ServiceGroup` (tests,
    /// `stockgate migrate`).
    public func whileRunning<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.client.run()
                return nil
            }
            defer { group.cancelAll() }
            // The pool has no "running" signal and warns about a lease before `run()` is
            // entered: give its task a moment to start.
            try await Task.sleep(for: .milliseconds(5))
            return try await body()
        }
    }
}

extension PostgresStore: Service {
    /// Runs the connection pool until the group shuts down gracefully.
    public func run() async throws {
        try await cancelWhenGracefulShutdown { await self.client.run() }
    }
}

/// Set once a pooled connection is leased (read by the lease timer).
final class LeaseFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

struct LeaseTimedOut: Error {}

/// A leased connection's work did not finish within the store's answer timeout.
struct StoreDidNotAnswer: Error {}

/// The first of several racing outcomes resumes the caller; the others are dropped.
final class FirstAnswer<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var answered = false
        var cancelled = false
        var afterAnswer: [@Sendable () -> Void] = []
        var afterCancel: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// Resumes the caller unless an answer came first; true when this one did.
    @discardableResult
    func give(_ result: Result<T, any Error>) -> Bool {
        let (continuation, actions) = state.withLock {
            state -> (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) in
            guard !state.answered else { return (nil, []) }
            state.answered = true
            defer { state.continuation = nil }
            return (state.continuation, state.afterAnswer)
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        for action in actions { action() }
        return true
    }

    func onAnswer(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.answered { return true }
            state.afterAnswer.append(action)
            return false
        }
        if now { action() }
    }

    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.afterCancel.append(action)
            return false
        }
        if now { action() }
    }

    func cancel() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            state.cancelled = true
            return state.afterCancel
        }
        for action in actions { action() }
    }
}

extension PostgresStore {
    /// Movements from now on are checked against `catalog` (a reload); the stored ones stay.
    public func replaceCatalog(_ catalog: Catalog) {
        catalogs.withLock { $0 = catalog }
    }
}
