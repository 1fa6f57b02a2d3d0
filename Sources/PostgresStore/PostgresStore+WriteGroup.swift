import Foundation
import PostgresNIO
import StockCore
import Synchronization

/// Group commit over PostgreSQL: the writes of one instance that arrive while a group is on its
/// way share the next call of `stockgate_write_group` (through `stockgate_write_group_committed`,
/// which commits before it answers) — one round trip, one commit, one lock hand-over of the
/// balance rows they touch, for all of them.
///
/// Measured (BENCHMARKS.md, "PostgreSQL"): as one statement per write, single movements on one
/// hot balance were bound by PostgreSQL's own CPU per statement and commit (~650 µs) and by the
/// row lock passing from backend to backend; a group pays those once.
///
/// Each write keeps its own outcome: one answered from the journal (`replayed`), one refused
/// alone because a balance lies outside its window (it then takes the general path), the rest
/// written. A group the database refuses for another reason (a text it cannot store, …) is
/// tried again one write at a time, so only the write at fault fails; a connection lost with
/// the group on its way is an unknown outcome for every write in it.
final class WriteGroup: Sendable {
    struct Write: Sendable {
        let window: AcceptanceWindow
        let rows: [Movement]
        let facts: RequestFacts
        /// The rows' `created_at` (and `applied_at`), milliseconds: what the caller is answered.
        let stamp: Int64
        let replay: Bool
    }

    struct Job: Sendable {
        let write: Write
        let finish: @Sendable (Result<PostgresStore.OneStatementResult, any Error>) -> Void
    }

    /// A bound on one statement, so the first callers of a burst are not held for its last.
    static let maxGroup = 64

    private let queue = Mutex(WriteQueue<Job>())
    private let groups = Atomic<Int>(0)
    /// Statements sent so far (each one group).
    var statements: Int { groups.load(ordering: .relaxed) }

    /// Runs the write in the next group and returns its outcome once that group has committed.
    func submit(_ write: Write, on store: PostgresStore) async throws -> PostgresStore.OneStatementResult {
        try await withCheckedThrowingContinuation { continuation in
            let job = Job(write: write) { continuation.resume(with: $0) }
            if queue.withLock({ $0.enqueue(job) }) {
                Task { await self.drain(store) }
            }
        }
    }

    private func drain(_ store: PostgresStore) async {
        while true {
            let group = queue.withLock { $0.nextGroup(limit: Self.maxGroup) }
            if group.isEmpty { return }
            groups.add(1, ordering: .relaxed)
            do {
                let outcomes = try await store.writeGroup(group.map(\.write))
                for (job, outcome) in zip(group, outcomes) { job.finish(.success(outcome)) }
            } catch let refusal as GroupRefused where group.count > 1 {
                // One write the database cannot take: each again alone, so only it fails.
                _ = refusal
                for job in group {
                    groups.add(1, ordering: .relaxed)
                    do {
                        job.finish(.success(try await store.writeGroup([job.write])[0]))
                    } catch let alone as GroupRefused {
                        job.finish(.failure(alone.error))
                    } catch {
                        job.finish(.failure(error))
                    }
                }
            } catch let refusal as GroupRefused {
                for job in group { job.finish(.failure(refusal.error)) }
            } catch {
                for job in group { job.finish(.failure(error)) }
            }
        }
    }
}

/// The database refused a group for a reason of its own (not a lost connection): what the
/// writes' callers are answered if they fail alone too.
struct GroupRefused: Error {
    let error: any Error
}

extension PostgresStore {
    /// Each write's (index, movement id, outcome) from the procedure's JSON answer. The answer
    /// comes after the commit, so one that cannot be read leaves the writes' outcome unknown (an
    /// internal error would read as "not applied" and invite a resend).
    static func groupOutcomes(_ text: String?) throws -> [(Int, Int64?, String)] {
        let unreadable = GatewayError(
            code: .unknownOutcome,
            message: "the stock database answered the write unreadably after its commit; it may or may not be applied")
        guard let text, let rows = (try? JSONParser.parse(text))?.arrayValue else { throw unreadable }
        return try rows.map { row in
            guard let fields = row.arrayValue, fields.count == 3,
                let index = fields[0].numberText.flatMap({ Int($0) }), let outcome = fields[2].stringValue
            else { throw unreadable }
            return (index, fields[1].numberText.flatMap { Int64($0) }, outcome)
        }
    }

    /// Runs the group write once, through `stockgate_write_group_committed` (again after a deadlock
    /// or a serialization failure);
    /// the outcome of each write, in order.
    func writeGroup(_ writes: [WriteGroup.Write]) async throws -> [OneStatementResult] {
        let stamp = Self.millis(clock())
        let replaySince = Self.millis(clock().addingTimeInterval(-idempotencyWindow))
        let keys = Set(writes.flatMap { $0.window.entries.map(\.key) }).sorted()
        let keysJSON = JSONWriter.string(.array(keys.map { [.string($0.product), .string($0.location)] }))
        let writesJSON = JSONWriter.string(
            .array(
                try writes.map { write in
                    [
                        "balances": .array(
                            write.window.entries.map { entry in
                                [
                                    "product": .string(entry.key.product), "location": .string(entry.key.location),
                                    "delta": .number(entry.delta.description), "low": .number(entry.low.description),
                                    "high": .number(entry.high.description),
                                ]
                            }),
                        "rows": .array(try write.rows.map(Self.journalRow)),
                        "dialect": .string(write.facts.dialect.rawValue), "request_id": .string(write.facts.requestID),
                        "key": .optional(write.facts.idempotencyKey), "stamp": .integer(write.stamp),
                        "replay": .bool(write.replay && write.facts.idempotencyKey != nil),
                    ]
                }))
        var attempt = 0
        while true {
            attempt += 1
            do {
                // One round trip, answered after the commit (`committedGroupWrite`).
                let rows = try await withLease { connection -> [(Int, Int64?, String)] in
                    let answer = try await connection.query(
                        """
                        CALL stockgate_write_group_committed(\(writesJSON)::jsonb, \(keysJSON)::jsonb, \(stamp),
                            \(Self.insertLock), \(replaySince), NULL)
                        """, logger: self.logger)
                    var outcomes: String?
                    for try await text in answer.decode(String?.self) { outcomes = text }
                    return try Self.groupOutcomes(outcomes)
                }
                reached()
                var ids = Array(repeating: [Int64](), count: writes.count)
                var outcomes = Array(repeating: OneStatementResult.written([]), count: writes.count)
                for (index, id, outcome) in rows where writes.indices.contains(index) {
                    switch outcome {
                    case "outside": outcomes[index] = .outsideWindow
                    case "replayed": outcomes[index] = .replayed([])
                    default: outcomes[index] = .written([])
                    }
                    if let id { ids[index].append(id) }
                }
                return zip(outcomes, ids).map { outcome, ids in
                    switch outcome {
                    case .outsideWindow: return .outsideWindow
                    case .replayed: return .replayed(ids)
                    case .written: return .written(ids)
                    }
                }
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < 3 {
                continue
            } catch let error as PSQLError
                where error.serverInfo == nil && error.code != .clientClosedConnection && error.code != .poolClosed
            {
                unreachable.withLock { $0 = "the stock database connection was lost" }
                logger.warning("database connection lost during a write", metadata: ["error": "\(error.code)"])
                throw GatewayError(
                    code: .unknownOutcome,
                    message:
                        "the stock database connection was lost during the write; it may or may not be applied")
            } catch let error as PSQLError where error.serverInfo != nil && !Self.isUnreachable(error) {
                throw GroupRefused(error: translated(error))
            } catch {
                throw translated(error)
            }
        }
    }
}
