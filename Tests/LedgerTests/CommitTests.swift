import Foundation
import StoreTestSupport
import TestSupport
import Testing

@testable import PostgresStore
@testable import StockCore

/// A write is acknowledged only once PostgreSQL has committed it.
///
/// Over the extended protocol the server answers a statement before it commits the statement's
/// implicit transaction, and the driver ends the query at that answer. A server stopped in
/// between lost a write the caller had been told was applied (CI once, in
/// `DatabaseAwayTests`: an acknowledged batch missing from the journal after an immediate
/// stop). That window cannot be hit on purpose, so the commit is made to fail in the database
/// itself: a deferred constraint trigger runs at COMMIT and refuses it. A store that reads a
/// write's answer before the commit acknowledges what was rolled back.
@Suite("PostgreSQL: acknowledged only once committed", .enabled(if: postgresURL != nil, postgresMissing))
struct CommitTests {
    /// Refuses, at commit, any journal row of `tea`, any row set to `failed`, and any row given
    /// a note saying "refuse me".
    static let refuseAtCommit = [
        """
        CREATE FUNCTION stockgate_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused at commit by the test'; END $$
        """,
        """
        CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT OR UPDATE ON movement
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
        WHEN (NEW.product = 'tea' OR NEW.state = 'failed' OR NEW.extras LIKE '%refuse me%')
        EXECUTE FUNCTION stockgate_test_refuse()
        """,
    ]

    /// The procedure answers after its commit: an answer that cannot be read leaves the writes
    /// applied or not, never "failed".
    @Test("the group write's answer: read per write; unreadable, an unknown outcome")
    func groupAnswer() throws {
        let rows = try PostgresStore.groupOutcomes(#"[[0, 12, "written"], [1, null, "outside"]]"#)
        #expect(rows.map(\.0) == [0, 1] && rows.map(\.1) == [12, nil] && rows.map(\.2) == ["written", "outside"])
        for unreadable in [nil, "", "{}", #"[[0, 12]]"#, #"[["0", 12, "written"]]"#] {
            #expect(throws: GatewayError.self, "\(unreadable ?? "nil")") {
                do { _ = try PostgresStore.groupOutcomes(unreadable) } catch let error as GatewayError {
                    #expect(error.code == .unknownOutcome)
                    throw error
                }
            }
        }
    }

    @Test("a write whose commit is refused is not acknowledged, and nothing of it stays")
    func commitRefused() async throws {
        try await withPostgresStore(catalog: testCatalog) { store, location in
            for statement in Self.refuseAtCommit { try await executeSQL(location, statement) }
            let first = try await store.move(
                MoveBatch(items: [move("mug", "5", "supplier", "floor")], atomicity: .perItem), facts: facts)
            #expect(first.items.allSatisfy { if case .applied = $0 { true } else { false } })

            // Through the group commit: a single movement, then an atomic batch with one refused row.
            await #expect(throws: GatewayError.self) {
                try await store.move(
                    MoveBatch(items: [move("tea", "1", "supplier", "floor")], atomicity: .perItem), facts: keyedFacts)
            }
            await #expect(throws: GatewayError.self) {
                try await store.move(
                    MoveBatch(
                        items: [move("mug", "2", "floor", "back"), move("tea", "1", "supplier", "back")],
                        atomicity: .allOrNothing),
                    facts: facts)
            }
            #expect(try await store.count(MovementQuery()) == 1)
            #expect(try await balance(store, "mug", "floor") == q("5"))
            #expect(try await balance(store, "mug", "back") == .zero)
            #expect(try await balance(store, "tea", "floor") == .zero)

            // The forward journal: the `sent` row, its settlement, a note.
            await #expect(throws: GatewayError.self) {
                try await store.journalForwarded([move("tea", "1", "supplier", "floor")], backend: "shop", facts: facts)
            }
            let sent = try await store.journalForwarded(
                [move("mug", "1", "supplier", "floor")], backend: "shop", facts: facts)
            let id = try #require(sent.first?.id)
            await #expect(throws: GatewayError.self) { try await store.settleForwarded([(id, .failed)]) }
            #expect(try await store.movement(id: id)?.state == .sent)
            await #expect(throws: GatewayError.self) {
                try await store.recordNotes([(id, .settlement, "refuse me")])
            }
            #expect(try await store.movement(id: id)?.settlementNote == nil)
            var journal = MovementQuery()
            journal.backend = "shop"
            #expect(try await store.count(journal) == 1)
        }
    }
}
