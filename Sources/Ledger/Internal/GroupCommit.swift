import Foundation
import GRDB
import StockCore
import Synchronization
import ThreadHandoff

/// Group commit: writes that arrive while a commit is being made wait for it to finish and
/// then share the next transaction, so many callers pay for one WAL fsync together.
///
/// A write that throws is rolled back alone and gets its error, the others are kept: the group
/// runs in one transaction without savepoints, and only if one of its writes throws is that
/// transaction rolled back and the group run again with each write in a savepoint of its own.
/// A caller is answered only after the transaction holding its write has committed (with
/// `synchronous = FULL`, after the fsync), so "acknowledged" still means "on disk". If the
/// commit itself fails, every write in it fails and nothing of it is applied.
///
/// Nobody waits on a timer: the first write of an idle ledger commits at once, alone; writes
/// arriving during that commit form the next group. Under load the groups grow by themselves.
///
/// The groups are committed on a thread of their own (`ledger.commit`) through GRDB's
/// synchronous API: a write crosses to that thread and its caller is resumed from there, under
/// a hand-off (`answer`): a request's task goes on on this thread up to its next suspension
/// instead of waking its event loop first. (Through a task and GRDB's asynchronous API it was
/// four crossings: the task's thread, GRDB's queue, the task's thread again, the caller's; each
/// wakes a sleeping thread when traffic is light — BENCHMARKS.md.) The thread ends after
/// `idleExit` without writes and is started again by the next one.
final class GroupCommit: @unchecked Sendable {
    /// One write: its body (which touches only the database and its own result, so it may run
    /// twice: see `runTogether`) and the way to answer its caller.
    struct Job: Sendable {
        /// Whether its caller waits for the disk (`synchronous = FULL`); a group of writes none
        /// of which does commits without an fsync, and reaches the disk with the next one that does.
        let durable: Bool
        let body: @Sendable (Database) throws -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    /// The queue of waiting writes, and whether the commit thread has work.
    typealias State = WriteQueue<Job>

    /// A bound on one transaction, so a burst is committed in steps and the first callers of
    /// a burst are answered without waiting for its last.
    static let maxGroup = 512
    /// How long the commit thread waits for a write before it ends.
    static let idleExit: TimeInterval = 2

    private let writer: any DatabaseWriter
    /// Guards `queue` and `threadRunning`; the commit thread waits on it for work.
    private let condition = NSCondition()
    /// The waiting writes; `draining` while the commit thread has work or is committing.
    private var queue = State()
    private var threadRunning = false
    private let groups = Atomic<Int>(0)

    /// Transactions committed so far (each holds one or more writes).
    var committedGroups: Int { groups.load(ordering: .relaxed) }
    /// Writes queued behind the commit in progress.
    var waitingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.waiting.count
    }

    /// Checked before each transaction; a throw fails the whole group without touching the file.
    private let precheck: @Sendable () throws -> Void
    /// Why the last transaction did not commit, until one does.
    private let failure = Mutex<String?>(nil)
    var lastFailure: String? { failure.withLock { $0 } }

    init(writer: any DatabaseWriter, precheck: @escaping @Sendable () throws -> Void = {}) {
        self.writer = writer
        self.precheck = precheck
    }

    /// Runs `body` in the next shared transaction and returns its result once that
    /// transaction has committed.
    func write<T: Sendable>(
        durable: Bool = true, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        let slot = ResultSlot<T>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let job = Job(
                durable: durable,
                body: { db in slot.value = try body(db) },
                finish: { error in
                    if let error { continuation.resume(throwing: error) } else { continuation.resume() }
                })
            condition.lock()
            if queue.enqueue(job) {
                if threadRunning {
                    condition.signal()
                } else {
                    threadRunning = true
                    let thread = Thread { [self] in
                        ThreadName.set("ledger.commit")
                        commitLoop()
                    }
                    thread.start()
                }
            }
            condition.unlock()
        }
        // Set by `body` before the commit, read after `finish`: the continuation orders them.
        guard let value = slot.value else { throw DatabaseError(message: "group commit lost a result") }
        return value
    }

    /// The commit thread: commits groups while writes wait, then waits for the next, and ends
    /// after `idleExit` without any.
    private func commitLoop() {
        condition.lock()
        while true {
            let group = queue.nextGroup(limit: Self.maxGroup)
            if group.isEmpty {
                // `draining` is off: the next write signals (or, once this thread is gone, starts one).
                if !condition.wait(until: Date(timeIntervalSinceNow: Self.idleExit)) && queue.waiting.isEmpty
                    && !queue.draining
                {
                    threadRunning = false
                    condition.unlock()
                    return
                }
                continue
            }
            condition.unlock()
            commit(group)
            condition.lock()
        }
    }

    /// Commits one group in one transaction and answers each of its writes.
    private func commit(_ group: [Job]) {
        do {
            try precheck()
            let durable = group.contains(where: \.durable)
            let failures = try writer.writeWithoutTransaction { db -> [(any Error)?] in
                if !durable { try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute() }
                defer { if !durable { try? db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute() } }
                if try Self.runTogether(group, db: db) { return Array(repeating: nil, count: group.count) }
                return try Self.runApart(group, db: db)
            }
            groups.add(1, ordering: .relaxed)
            failure.withLock { $0 = nil }
            for (job, failure) in zip(group, failures) { Self.answer(job, failure) }
        } catch {
            // The transaction did not commit: none of the group's writes is on disk.
            let text =
                (error as? GatewayError)?.message ?? (error as? DatabaseError)?.message ?? "\(type(of: error))"
            failure.withLock { $0 = text }
            let answered = Self.unavailable(error) ?? error
            for job in group { Self.answer(job, answered) }
        }
    }

    /// Resumes a write's caller, which goes on here up to its next hand-off (the transfer after
    /// a `sent` row, the answer after a settlement) instead of waking its event loop first
    /// (`Handoff`), whether its write was kept or not.
    private static func answer(_ job: Job, _ error: (any Error)?) {
        Handoff.continuingHere { job.finish(error) }
    }

    /// The group's writes in one transaction, none in a savepoint of its own: what almost every
    /// group is (a move refuses an item by its answer, not by throwing). If one throws, the whole
    /// transaction is rolled back and false returned, for `runApart` to run the group again.
    /// A write's body reads and writes only the database and its own result, so running it again
    /// after the rollback does what running it once would have.
    private static func runTogether(_ group: [Job], db: Database) throws -> Bool {
        var together = true
        try db.inTransaction {
            for job in group {
                do {
                    try job.body(db)
                } catch {
                    together = false
                    return .rollback
                }
            }
            return .commit
        }
        return together
    }

    /// The group's writes in one transaction, each in a savepoint of its own: a write that
    /// throws is rolled back alone and gets its error.
    /// - Returns: each write's error, nil for those kept.
    private static func runApart(_ group: [Job], db: Database) throws -> [(any Error)?] {
        var failures: [(any Error)?] = Array(repeating: nil, count: group.count)
        try db.inTransaction {
            // Prepared once per connection: GRDB's inSavepoint would parse its SQL per write.
            let savepoint = try db.cachedStatement(sql: "SAVEPOINT stockgate_write")
            let release = try db.cachedStatement(sql: "RELEASE SAVEPOINT stockgate_write")
            let rollback = try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT stockgate_write")
            for (index, job) in group.enumerated() {
                try savepoint.execute()
                do {
                    try job.body(db)
                } catch {
                    failures[index] = error
                    // Some errors (SQLITE_FULL, SQLITE_IOERR) abort the whole transaction,
                    // and the rollback to the savepoint then fails with SQLITE_ABORT: the
                    // group fails with the cause, not with the failed rollback.
                    do { try rollback.execute() } catch { throw failures[index]! }
                }
                try release.execute()
            }
            return .commit
        }
        return failures
    }
}

extension GroupCommit {
    /// A commit that failed because the disk cannot take it (full, an I/O error, read-only, the
    /// file gone) is `unavailable` — the caller may try again once the operator has acted — not
    /// an internal error; the words name no path.
    static func unavailable(_ error: any Error) -> GatewayError? {
        guard let error = error as? DatabaseError else { return nil }
        let cause: String
        switch error.resultCode {
        case .SQLITE_FULL: cause = "the disk is full"
        case .SQLITE_IOERR: cause = "the disk reported an I/O error"
        case .SQLITE_READONLY: cause = "the ledger file is read-only"
        case .SQLITE_CANTOPEN: cause = "the ledger file cannot be opened"
        default: return nil
        }
        return GatewayError(
            code: .unavailable, message: "the ledger cannot take writes now: \(cause); nothing was applied")
    }
}

/// Where a job leaves its result for its caller.
///
/// `@unchecked Sendable`: written once on the database's writer queue before the commit, and
/// read by the caller only after its continuation was resumed, which happens after the write.
private final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
}
