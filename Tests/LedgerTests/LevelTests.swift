import Foundation
import StoreTestSupport
import TestSupport
import Testing

@testable import StockCore

/// Issue 31: a level command is applied atomically by each store — the balance read, the
/// compare-and-set checked and the difference applied in one transaction — and journaled
/// with the level asked, the balance read and the change made.
@Suite("Stock levels in the stores")
struct LevelTests {
    func level(
        _ product: String, at location: String, to target: String? = nil, change: String = "0",
        expected: String? = nil
    ) -> Movement {
        Movement.level(
            product: product, location: location, target: target.map(q), change: q(change),
            expected: expected.map(q), catalog: testCatalog)!
    }

    @Test(
        "set, change and hold a level: each journaled with what was asked, read and changed",
        arguments: StoreKind.testable)
    func setAndChange(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            _ = try await store.move(
                MoveBatch(items: [move("mug", "5", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let outcome = try await store.move(
                MoveBatch(
                    items: [
                        level("mug", at: "floor", to: "7"), level("mug", at: "floor", change: "-2"),
                        level("mug", at: "floor", to: "5"), level("tea", at: "back", to: "3"),
                    ],
                    atomicity: .perItem),
                facts: facts)
            let applied = outcome.succeeded
            #expect(applied.count == 4)
            #expect(applied[0].levelSummary() == "level 7 asked; balance 5 read; +2 applied")
            #expect(applied[0].from == "outside" && applied[0].to == "floor" && applied[0].quantity == q("2"))
            #expect(applied[1].levelSummary() == "change -2 asked; balance 7 read; -2 applied")
            #expect(applied[1].from == "floor" && applied[1].to == "outside")
            #expect(applied[2].levelSummary() == "level 5 asked; balance 5 read; nothing to apply")
            #expect(applied[2].quantity == .zero)
            #expect(applied[3].levelSummary() == "level 3 asked; balance 0 read; +3 applied")
            #expect(try await balance(store, "mug", "floor") == q("5"))
            #expect(try await balance(store, "tea", "back") == q("3"))
            // The journal keeps every row with its level facts, read back from the store.
            let stored = try await store.movement(id: applied[0].id!)
            #expect(stored?.level == StockLevel(location: "floor", target: q("7"), before: q("5")))
            #expect(stored?.quantity == q("2"))
            let held = try await store.movement(id: applied[2].id!)
            #expect(held?.level?.before == q("5") && held?.quantity == .zero)
        }
    }

    @Test(
        "compare-and-set refuses a level that is not the one expected, and changes nothing",
        arguments: StoreKind.testable)
    func compareAndSet(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            _ = try await store.move(
                MoveBatch(items: [move("mug", "4", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let refused = try await store.move(
                MoveBatch(
                    items: [move("tea", "1", "supplier", "back"), level("mug", at: "floor", to: "9", expected: "3")],
                    atomicity: .allOrNothing),
                facts: facts)
            #expect(refused.items[0] == .notApplied)
            guard case .failed(let error) = refused.items[1] else {
                Issue.record("expected a refusal, got \(refused.items[1])")
                return
            }
            #expect(error.code == .conflict && error.field == "expected")
            #expect(error.message.contains("is 4, not the 3 expected"))
            #expect(try await balance(store, "mug", "floor") == q("4"))
            #expect(try await balance(store, "tea", "back") == .zero)
            let taken = try await store.move(
                MoveBatch(items: [level("mug", at: "floor", to: "9", expected: "4")], atomicity: .perItem),
                facts: facts)
            #expect(taken.succeeded.first?.levelSummary() == "level 9 asked; 4 expected; balance 4 read; +5 applied")
            #expect(try await balance(store, "mug", "floor") == q("9"))
        }
    }

    @Test(
        "a level resent under its key is answered from the journal, never read and applied again",
        arguments: StoreKind.testable)
    func resend(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            let batch = MoveBatch(items: [level("mug", at: "floor", to: "6")], atomicity: .perItem)
            let first = try await store.move(batch, facts: keyedFacts)
            _ = try await store.move(
                MoveBatch(items: [move("mug", "2", "floor", "sold")], atomicity: .perItem), facts: facts)
            let again = try await store.move(batch, facts: keyedFacts)
            #expect(again.replayed)
            #expect(again.succeeded.map(\.id) == first.succeeded.map(\.id))
            #expect(again.succeeded.first?.levelSummary() == "level 6 asked; balance 0 read; +6 applied")
            #expect(try await balance(store, "mug", "floor") == q("4"))
        }
    }

    @Test(
        "refusals name the field: a negative level, a level at a location that holds none",
        arguments: StoreKind.testable)
    func refusals(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            var negative = level("mug", at: "floor", to: "1")
            negative.level?.target = q("-1")
            let outcome = try await store.move(
                MoveBatch(items: [negative, level("mug", at: "sold", to: "2")], atomicity: .perItem), facts: facts)
            let fields = outcome.failures.map(\.error.field)
            #expect(fields == ["level", "location"])
            #expect(try await store.count(MovementQuery()) == 0)
        }
    }

    @Test(
        "levels set at once by many writers: the journal replayed in order gives the balance",
        arguments: StoreKind.testable)
    func concurrentLevels(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        let item =
                            writer % 2 == 0
                            ? level("mug", at: "floor", to: "\(writer + 3)")
                            : move("mug", "\(writer)", "supplier", "floor")
                        _ = try await store.move(MoveBatch(items: [item], atomicity: .perItem), facts: facts)
                    }
                }
                try await group.waitForAll()
            }
            var replayed = Quantity.zero
            for row in try await store.movements(MovementQuery(product: "mug", limit: 100)) {
                if let level = row.level {
                    #expect(level.before == replayed, "row \(row.id ?? 0) read \(String(describing: level.before))")
                    if let target = level.target { #expect(replayed + row.signedChange == target) }
                }
                replayed = replayed + row.signedChange
            }
            #expect(try await balance(store, "mug", "floor") == replayed)
        }
    }
}
