import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import Testing

@testable import Ledger
@testable import StockCore

@Suite("Group commit")
struct GroupCommitTests {
    @Test("the queue: the first write starts a drain, groups respect the limit, an empty queue ends the drain")
    func stateMachine() {
        var state = GroupCommit.State()
        let job = GroupCommit.Job(durable: true, body: { _ in }, finish: { _ in })
        let starts = [state.enqueue(job), state.enqueue(job), state.enqueue(job)]
        #expect(starts == [true, false, false])
        let sizes = [state.nextGroup(limit: 2).count, state.nextGroup(limit: 2).count]
        #expect(sizes == [2, 1])
        #expect(state.draining)
        let last = state.nextGroup(limit: 2)
        #expect(last.isEmpty)
        #expect(!state.draining)
        let restart = state.enqueue(job)
        #expect(restart)
    }

    @Test(
        "writes commit with synchronous = FULL (GRDB's pool had left NORMAL); a group none of which waits for the disk commits with NORMAL, and FULL returns"
    )
    func durability() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            defer { try? ledger.close() }
            let mode: @Sendable (Database) throws -> Int = { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
            }
            let first = try await ledger.commits.write(durable: true, mode)
            #expect(first == 2)
            #expect(try await ledger.commits.write(durable: false, mode) == 1)
            #expect(try await ledger.commits.write(durable: true, mode) == 2)
            // A failed non-durable write leaves the connection as it was, too.
            await #expect(throws: Refused.self) {
                try await ledger.commits.write(durable: false) { _ in throw Refused() }
            }
            #expect(try await ledger.commits.write(mode) == 2)
        }
    }

    /// SQLite's defaults are set once per process, and only if the ledger is the first to use
    /// SQLite in it (a test may have opened an in-memory database before): either way the ledger's
    /// connections agree with what was set — no mutex of their own when multi-thread mode took.
    @Test("the ledger's connections have no mutex of their own exactly when SQLite's multi-thread default was set")
    func multiThreadDefault() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            defer { try? ledger.close() }
            let hasMutex = try await ledger.commits.write { db in sqlite3_db_mutex(db.sqliteConnection) != nil }
            #expect(hasMutex == !Ledger.sqliteDefaults)
        }
    }

    @Test("every ledger connection, the writer's and a reader's, keeps a page cache of 1 MiB")
    func pageCacheSize() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            defer { try? ledger.close() }
            let writer = try await ledger.commits.write { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
            let reader = try await ledger.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA cache_size") }
            #expect(writer == -1024)
            #expect(reader == -1024)
        }
    }

    /// Set from the writer's queue, read by the test.
    final class Flag: Sendable {
        let raised = Mutex(false)
    }

    struct Refused: Error {}

    @Test("writes arriving during a commit share the next transaction; each failure is rolled back alone")
    func sharedTransaction() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "5", "supplier", "floor")], atomicity: .allOrNothing), facts: facts)
            let groupsBefore = ledger.commits.committedGroups
            // Hold the writer inside a commit until every other write below is queued behind it.
            let gate = DispatchSemaphore(value: 0)
            let inside = Flag()
            let blocker = Task {
                try await ledger.commits.write { _ in
                    inside.raised.withLock { $0 = true }
                    gate.wait()
                }
            }
            while !inside.raised.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }

            // Eight single moves of one mug each from a floor holding five, and an all-or-nothing
            // batch whose second item overdraws: order inside the group must not matter.
            let singles = (0..<8).map { index in
                Task {
                    try await ledger.move(
                        MoveBatch(items: [move("mug", "1", "floor", "sold")], atomicity: .allOrNothing),
                        facts: RequestFacts(dialect: "stockgate", requestID: "single-\(index)"))
                }
            }
            let doomed = Task {
                try await ledger.move(
                    MoveBatch(
                        items: [move("tea", "2", "supplier", "back"), move("tea", "5", "back", "sold")],
                        atomicity: .allOrNothing),
                    facts: RequestFacts(dialect: "stockgate", requestID: "doomed"))
            }
            // A write that changes a row and then throws: its savepoint must take the change back.
            let throwing = Task {
                try await ledger.commits.write { db in
                    try db.execute(sql: "INSERT INTO balance (product, location, quantity) VALUES ('tea', 'dc', '99')")
                    throw Refused()
                }
            }
            while ledger.commits.waitingCount < 10 { try await Task.sleep(for: .milliseconds(1)) }
            gate.signal()
            try await blocker.value

            var applied = 0
            var refused: [GatewayError.Code] = []
            for single in singles {
                let outcome = try await single.value
                if outcome.allSucceeded { applied += 1 } else { refused += outcome.failures.map(\.error.code) }
            }
            let batch = try await doomed.value
            await #expect(throws: Refused.self) { try await throwing.value }
            #expect(try await balance(ledger, "tea", "dc") == .zero)
            #expect(applied == 5)
            #expect(refused == Array(repeating: .insufficientStock, count: 3))
            #expect(batch.succeeded.isEmpty)
            // The blocker's transaction, then one for all ten queued writes.
            #expect(ledger.commits.committedGroups - groupsBefore == 2)
            #expect(try await balance(ledger, "mug", "floor") == .zero)
            #expect(try await balance(ledger, "tea", "back") == .zero)
            let journal = try await ledger.movements(MovementQuery())
            #expect(journal.count == 1 + 5)
            #expect(!journal.contains { $0.requestID == "doomed" })
            try ledger.close()
        }
    }

    @Test("64 concurrent writes: each acknowledged, and a reopened ledger holds every one exactly once")
    func durableOnAnswer() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            let outcomes = try await withThrowingTaskGroup(of: BatchOutcome.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        try await ledger.move(
                            MoveBatch(items: [move("mug", "0.5", "supplier", "floor")], atomicity: .allOrNothing),
                            facts: RequestFacts(dialect: "stockgate", requestID: "r\(index)"))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.allSatisfy { $0.allSucceeded })
            try ledger.close()
            let reopened = try Ledger.open(directory: dir, catalog: testCatalog)
            #expect(try await balance(reopened, "mug", "floor") == q("32"))
            let journal = try await reopened.movements(MovementQuery(limit: 100))
            #expect(journal.count == 64)
            #expect(Set(journal.compactMap(\.requestID)) == Set((0..<64).map { "r\($0)" }))
            #expect(Set(outcomes.flatMap { $0.succeeded.compactMap(\.id) }) == Set(journal.compactMap(\.id)))
            try reopened.close()
        }
    }
}
