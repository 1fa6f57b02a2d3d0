import CSQLiteTuning
import Foundation
import GRDB
import Logging
import StockCore
import Synchronization

/// The embedded backend: balances, movements and pending transfers in one SQLite file.
///
/// Balances exist for `stock` locations only; the other kinds are unlimited sources and
/// sinks. Quantities are stored as exact decimal text and added as exact fixed-point
/// decimals (`Quantity`). Every write runs in a savepoint of a group commit (concurrent
/// writes share one transaction and one fsync), so a batch is recorded whole or not at all
/// and acknowledged only once on disk. The movement table is the journal: one row per
/// movement with its time, the dialect it came in by, the request id and the idempotency key.
public final class Ledger: StockBackend {
    /// The file name of the ledger inside the data directory.
    public static let fileName = "ledger.sqlite"

    let writer: any DatabaseWriter
    /// Every write goes through here: concurrent writes share one transaction and one fsync.
    let commits: GroupCommit
    /// The products and locations movements may name; replaced by a reload (SIGHUP).
    public var catalog: Catalog { catalogs.withLock { $0 } }
    private let catalogs: Mutex<Catalog>
    let clock: @Sendable () -> Date
    let logger: Logger
    /// How long an idempotency key keeps a batch from being applied again, in seconds.
    public let idempotencyWindow: TimeInterval
    /// This process's hold on the data directory (nil for a database opened by the caller).
    let directoryLock: DataDirectoryLock?
    /// The file as opened, to notice it deleted or replaced (nil in memory).
    let fileIdentity: LedgerFileIdentity?
    /// Idempotency keys of requests in flight (dialect NUL key).
    let claims = Mutex<Set<String>>([])

    /// Opens (creating it if needed) the ledger in `directory`, in WAL mode with
    /// `synchronous = FULL`: a commit reported to a caller is on disk.
    /// - Parameters:
    ///   - directory: the data directory; created if missing.
    ///   - catalog: the products and locations movements may name.
    ///   - clock: the time source for `createdAt` (tests pass a fixed clock).
    ///   - logger: where the ledger logs.
    ///   - idempotencyWindow: how long an idempotency key keeps a batch from applying again.
    public static func open(
        directory: String, catalog: Catalog, clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "stockgate.ledger"), idempotencyWindow: TimeInterval = 24 * 3600
    ) throws -> Ledger {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LedgerOpenError(
                description: "cannot create data directory \(directory): \(error.localizedDescription)")
        }
        let lock = try DataDirectoryLock(directory: directory)
        _ = Ledger.sqliteDefaults
        let path = (directory as NSString).appendingPathComponent(fileName)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // The group commit's savepoints (one per write) keep a statement journal of the pages
            // they change, which SQLite spills to a temporary file past 64 KiB.
            // It only serves rolling a savepoint back inside a live transaction (a crash rolls the
            // whole transaction back through the WAL), so memory is enough and saves the writes.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // A page cache of 1 MiB per connection, half SQLite's default: the journal's hot
            // pages are the right edges of its tables and indexes, the kernel's page cache holds
            // the rest, and the default's other MiB showed as gateway memory after write load
            // with no write any faster for it (BENCHMARKS.md, "The hop's memory").
            try db.execute(sql: "PRAGMA cache_size = \(Ledger.pageCacheKiB)")
            // Quantities are exact decimal text; they sort by value through this collation
            // (a cast to REAL would tie values that differ past the 15th digit).
            db.add(collation: Ledger.decimalCollation)
        }
        configuration.label = "stockgate.ledger"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw LedgerOpenError(
                description: "cannot open the ledger \(path): \(error.message ?? "\(error.resultCode)")")
        }
        do {
            // FULL makes each commit fsync the WAL, so an acknowledged movement survives a power
            // cut, not only a process crash. Set here, after the pool is open: DatabasePool sets
            // NORMAL on its writer when it turns WAL on, after `prepareDatabase` has run (GRDB
            // Database.setUpWALMode), so setting it there had no effect.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw LedgerOpenError(description: "cannot configure the ledger \(path): \(error)")
        }
        logger.info("ledger opened", metadata: ["path": "\(path)"])
        return try Ledger(
            writer: pool, catalog: catalog, clock: clock, logger: logger, idempotencyWindow: idempotencyWindow,
            directoryLock: lock, fileIdentity: LedgerFileIdentity(path: path))
    }

    /// SQLite's process-wide defaults, set once before the first connection opens: multi-thread
    /// mode (GRDB already serializes each connection's use, so a connection needs no mutex of its
    /// own; GRDB documents it as the only mode it supports) and no memory-use statistics, which
    /// took a global mutex on every allocation. ~75 mutex lock/unlock pairs per forwarded write
    /// fewer (BENCHMARKS.md). True when set; false when SQLite was already initialized in this
    /// process (tests that opened an in-memory database first), which changes nothing else.
    static let sqliteDefaults: Bool = csqlite_tune_defaults() == 0

    /// Each connection's page cache, in the negative-KiB form `PRAGMA cache_size` takes.
    static let pageCacheKiB = -1024

    /// Orders decimal texts (`-` allowed) by exact value; text that is not a quantity sorts first.
    static let decimalCollation = DatabaseCollation("stockgate_decimal") { lhs, rhs in
        let left = try? Quantity(parsing: lhs)
        let right = try? Quantity(parsing: rhs)
        switch (left, right) {
        case let (left?, right?):
            return left < right ? .orderedAscending : left > right ? .orderedDescending : .orderedSame
        case (nil, nil): return lhs < rhs ? .orderedAscending : lhs > rhs ? .orderedDescending : .orderedSame
        case (nil, _): return .orderedAscending
        case (_, nil): return .orderedDescending
        }
    }

    /// Uses an already opened database (an in-memory `DatabaseQueue` in tests) and migrates it.
    /// Its connections must have `decimalCollation` (quantity ordering); `open` adds it.
    public convenience init(
        writer: any DatabaseWriter, catalog: Catalog, clock: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "stockgate.ledger"), idempotencyWindow: TimeInterval = 24 * 3600
    ) throws {
        try self.init(
            writer: writer, catalog: catalog, clock: clock, logger: logger, idempotencyWindow: idempotencyWindow,
            directoryLock: nil, fileIdentity: nil)
    }

    init(
        writer: any DatabaseWriter, catalog: Catalog, clock: @escaping @Sendable () -> Date, logger: Logger,
        idempotencyWindow: TimeInterval, directoryLock: DataDirectoryLock?, fileIdentity: LedgerFileIdentity?
    ) throws {
        self.directoryLock = directoryLock
        self.fileIdentity = fileIdentity
        self.idempotencyWindow = idempotencyWindow
        self.writer = writer
        // Before each commit: a ledger file deleted or replaced under us takes no more writes.
        self.commits = GroupCommit(writer: writer) {
            if let fileIdentity, let problem = fileIdentity.problem {
                logger.error(
                    "ledger refuses writes", metadata: ["problem": "\(problem)", "path": "\(fileIdentity.path)"])
                throw GatewayError(code: .unavailable, message: problem)
            }
        }
        self.catalogs = Mutex(catalog)
        self.clock = clock
        self.logger = logger
        try Self.migrator.migrate(writer)
    }

    /// Runs `body` as part of the next group commit, in a savepoint of its own: it is applied
    /// whole or not at all, and this returns once it is committed (on disk, unless not `durable`:
    /// then a crash may lose it, never a part of it).
    func write<T: Sendable>(
        durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await commits.write(durable: durable, body)
    }

    /// Transactions committed since the ledger was opened; each holds one or more writes.
    public var commitCount: Int { commits.committedGroups }

    /// Closes the database and gives up the data directory. Further calls fail.
    public func close() throws {
        defer { directoryLock?.release() }
        if let pool = writer as? DatabasePool {
            try pool.close()
        } else if let queue = writer as? DatabaseQueue {
            try queue.close()
        }
    }

    /// Why the ledger cannot take writes now, if it cannot: its file deleted or replaced under
    /// the running process, or the last commit failed (a full disk, an I/O error).
    public var healthProblem: String? {
        if let problem = fileIdentity?.problem { return problem }
        if let failure = commits.lastFailure { return "the last commit failed: \(failure)" }
        return nil
    }
}

extension Ledger {
    /// Movements from now on are checked against `catalog` (a reload); the stored ones stay.
    public func replaceCatalog(_ catalog: Catalog) {
        catalogs.withLock { $0 = catalog }
    }
}

/// A dialect id is kept as its text.
extension DialectID: DatabaseValueConvertible {}
