import Foundation
import StoreTestSupport
import TestSupport
import Testing

@testable import StockCore

/// The roles of the storage boundary beyond the ledger — the forward journal, idempotency
/// answers and claims, tracking — and concurrent writers, on every store this run has.
@Suite("Storage boundary")
struct StoreBehaviourTests {
    @Test(
        "PostgreSQL is there for the store suites (scripts/with-postgres)",
        .enabled(if: postgresURL != nil, postgresMissing))
    func postgresAvailable() async throws {
        let count = try await withStore(.postgres, catalog: testCatalog) { store in
            try await store.count(MovementQuery())
        }
        #expect(count == 0)
    }

    /// Issue 30/33: the operator page said "embedded ledger" on PostgreSQL; it names the store.
    @Test("each store names itself for the operator page", arguments: StoreKind.testable)
    func describesItself(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            #expect(
                store.storeDescription == (kind == .sqlite ? "embedded ledger" : "shared PostgreSQL database"))
        }
    }

    @Test(
        "the journal: sent before sending, settled after, found again by key and backend", arguments: StoreKind.testable
    )
    func journal(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            let sent = try await store.journalForwarded(
                [move("mug", "2", "supplier", "floor"), move("tea", "1", "supplier", "back")], backend: "shop",
                facts: keyedFacts)
            #expect(sent.map(\.state) == [.sent, .sent] && sent.allSatisfy { $0.backend == "shop" })
            let ids = sent.compactMap(\.id)
            #expect(ids.count == 2)
            let appliedAt = try await store.settleForwarded([(ids[0], .applied), (ids[1], .failed)])
            #expect(try await store.movement(id: ids[0])?.state == .applied)
            #expect(try await store.movement(id: ids[0])?.appliedAt == appliedAt)
            #expect(try await store.movement(id: ids[1])?.state == .failed)
            // A failed row keeps why (issue 33), whatever else its extras hold.
            try await store.recordFailures([(ids[1], "invalidValue: Variant not tracked")])
            #expect(try await store.movement(id: ids[1])?.failureReason == "invalidValue: Variant not tracked")
            #expect(try await store.movement(id: ids[0])?.failureReason == nil)
            try await store.recordNotes([(ids[1], .settlement, "failed by ops: checked")])
            let noted = try await store.movement(id: ids[1])
            #expect(noted?.settlementNote == "failed by ops: checked")
            #expect(noted?.failureReason == "invalidValue: Variant not tracked", "one note keeps the other")
            #expect(try await store.forwarded(idempotencyKey: "key-1", backend: "shop").map(\.id) == ids)
            #expect(try await store.forwarded(idempotencyKey: "key-1", backend: "other").isEmpty)
            try await store.markReversed(id: ids[0])
            #expect(try await store.movement(id: ids[0])?.state == .reversed)
            // Journal rows are the backend's, not the embedded ledger's: no balance changed.
            #expect(try await store.balances(BalanceQuery()).isEmpty)
            #expect(try await store.count(MovementQuery()) == 0)
            var journalQuery = MovementQuery()
            journalQuery.backend = "shop"
            #expect(try await store.count(journalQuery) == 2)
        }
    }

    /// The SQLite ledger binds a journal row's 20 values through SQLite's C API: each column
    /// reads back as written — text exactly, an empty text as '' (not NULL), an absent value as
    /// NULL, integers and the overage flag as such.
    @Test("a journal row reads back every field as written, '' apart from nothing", arguments: StoreKind.testable)
    func journalRowFields(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            var extras = MovementExtras()
            extras["batchReference"] = .string("B-7 ünïcode")
            let full = Movement(
                product: "mug", quantity: q("0.100"), from: "supplier", to: "floor", reason: "restock",
                reference: "", description: "a text with 'quotes', a \"quote\" and € signs", user: "ana",
                sourceSystem: "pos-3", externalID: "ext-42", allowOverage: true, extras: extras)
            let bare = Movement(product: "tea", quantity: q("1"), from: "floor", to: "back")
            let rows = try await store.journalForwarded(
                [full, bare], backend: "shop", facts: keyedFacts, state: .applied)
            let ids = rows.compactMap(\.id)
            #expect(ids.count == 2)
            let reversal = try await store.journalForwarded(
                [Movement(product: "mug", quantity: q("0.100"), from: "floor", to: "supplier", reverses: ids[0])],
                backend: "shop", facts: facts, state: .sent)
            let read = try #require(try await store.movement(id: ids[0]))
            #expect(read.product == "mug" && read.quantity == q("0.100"))
            #expect(read.from == "supplier" && read.to == "floor" && read.reason == "restock")
            #expect(read.reference == "", "an empty text stays empty, not absent")
            #expect(read.description == "a text with 'quotes', a \"quote\" and € signs")
            #expect(read.user == "ana" && read.sourceSystem == "pos-3" && read.externalID == "ext-42")
            #expect(read.allowOverage && read.state == .applied && read.backend == "shop")
            #expect(read.extras == extras)
            #expect(read.dialect == "stockgate" && read.requestID == "req-1" && read.idempotencyKey == "key-1")
            #expect(read.createdAt != nil && read.appliedAt == read.createdAt && read.reverses == nil)
            let plain = try #require(try await store.movement(id: ids[1]))
            #expect(plain.reason == nil && plain.reference == nil && plain.description == nil && plain.user == nil)
            #expect(plain.sourceSystem == nil && plain.externalID == nil && !plain.allowOverage && plain.extras.isEmpty)
            let reversalID = try #require(reversal.first?.id)
            let back = try #require(try await store.movement(id: reversalID))
            #expect(back.reverses == ids[0] && back.state == .sent && back.appliedAt == nil)
            #expect(back.idempotencyKey == nil && back.requestID == "req-1")
        }
    }

    @Test(
        "journal queries: each backend's rows by product, location and time, apart from the embedded ledger's",
        arguments: StoreKind.testable)
    func journalQueries(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            _ = try await store.move(
                MoveBatch(items: [move("mug", "5", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let shop = try await store.journalForwarded(
                [
                    move("mug", "2", "supplier", "floor"), move("tea", "1", "floor", "back"),
                    move("mug", "1", "back", "sold"),
                ],
                backend: "shop", facts: facts, state: .sent)
            let other = try await store.journalForwarded(
                [move("mug", "4", "supplier", "floor")], backend: "other", facts: facts, state: .applied)
            func ids(
                _ backend: String?, product: String? = nil, location: String? = nil, from: Date? = nil
            )
                async throws -> [Int64]
            {
                var query = MovementQuery(product: product, location: location, createdFrom: from)
                query.backend = backend
                return try await store.movements(query).compactMap(\.id)
            }
            let shopIDs = shop.compactMap(\.id)
            #expect(try await ids("shop", product: "mug") == [shopIDs[0], shopIDs[2]])
            #expect(try await ids("shop", location: "back") == [shopIDs[1], shopIDs[2]])
            #expect(try await ids("shop", location: "floor", from: .distantPast) == [shopIDs[0], shopIDs[1]])
            #expect(try await ids("shop", product: "mug", from: Date().addingTimeInterval(3600)).isEmpty)
            #expect(try await ids("other", product: "mug") == other.compactMap(\.id))
            #expect(try await ids(MovementQuery.anyBackend, product: "tea") == [shopIDs[1]])
            // The embedded ledger's queries see its own movement only.
            #expect(try await ids(nil, product: "mug").count == 1)
            #expect(try await ids(nil, location: "floor", from: .distantPast).count == 1)
            var count = MovementQuery(product: "mug")
            count.backend = "shop"
            #expect(try await store.count(count) == 2)
        }
    }

    @Test("idempotency: an answer kept and read back whole, expired by age", arguments: StoreKind.testable)
    func answers(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let answer = StoredResponse(
                fingerprint: "f1", status: 201, headers: ["Content-Type: application/json", "X-Request-Id: r"],
                body: Array(#"{"ok": true, "bytes": "\u0000é"}"#.utf8) + [0, 255], createdAt: now)
            try await store.store(answer, dialect: "zettle", key: "k", expiredBefore: now.addingTimeInterval(-60))
            #expect(
                try await store.storedResponse(dialect: "zettle", key: "k", since: now.addingTimeInterval(-1)) == answer
            )
            #expect(
                try await store.storedResponse(dialect: "open2b-v6", key: "k", since: now.addingTimeInterval(-1)) == nil
            )
            #expect(
                try await store.storedResponse(dialect: "zettle", key: "k", since: now.addingTimeInterval(1)) == nil)
            // A later store drops answers older than its cutoff.
            let later = StoredResponse(
                fingerprint: "f2", status: 200, headers: [], body: [], createdAt: now.addingTimeInterval(100))
            try await store.store(later, dialect: "zettle", key: "k2", expiredBefore: now.addingTimeInterval(50))
            #expect(try await store.storedResponse(dialect: "zettle", key: "k", since: .distantPast) == nil)
        }
    }

    @Test(
        "idempotency claims: one holder at a time, free again once released, a stale one taken over",
        arguments: StoreKind.testable)
    func claims(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            let now = Date()
            // 16 concurrent claims of one key: exactly one wins.
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        try await store.claim(
                            dialect: "stockgate", key: "k", now: now, staleBefore: now.addingTimeInterval(-60))
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
            #expect(
                try await store.claim(
                    dialect: "colleqtive", key: "k", now: now, staleBefore: now.addingTimeInterval(-60)))
            await store.releaseClaim(dialect: "stockgate", key: "k")
            #expect(
                try await store.claim(
                    dialect: "stockgate", key: "k", now: now, staleBefore: now.addingTimeInterval(-60)))
            if kind == .postgres {
                // Shared claims outlive their instance; one older than the cutoff is taken over.
                let later = now.addingTimeInterval(120)
                #expect(
                    !(try await store.claim(
                        dialect: "stockgate", key: "k", now: later, staleBefore: now.addingTimeInterval(-1))))
                #expect(
                    try await store.claim(
                        dialect: "stockgate", key: "k", now: later, staleBefore: now.addingTimeInterval(1)))
            }
        }
    }

    @Test("tracking: stopped and started per product, unknown products refused", arguments: StoreKind.testable)
    func tracking(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            #expect(try await store.untrackedProducts().isEmpty)
            try await store.setTracking(products: ["mug", "tea"], tracked: false)
            try await store.setTracking(products: ["tea"], tracked: true)
            #expect(try await store.untrackedProducts() == ["mug"])
            await #expect(throws: GatewayError.self) { try await store.setTracking(products: ["nope"], tracked: false) }
            #expect(try await store.untrackedProducts() == ["mug"])
        }
    }

    @Test(
        "16 concurrent writers on shared stock: conserved, never below zero, ids in commit order",
        arguments: StoreKind.testable)
    func concurrentWriters(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            _ = try await store.move(
                MoveBatch(
                    items: [move("mug", "100", "supplier", "floor"), move("tea", "100", "supplier", "back")],
                    atomicity: .perItem),
                facts: facts)
            let soldCount = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<16 {
                    group.addTask {
                        var random = SeededGenerator(seed: UInt64(writer + 1))
                        var sold = 0
                        for _ in 0..<25 {
                            // Floor and back exchange stock both ways (opposite lock orders if
                            // taken naively) and sell; selling more than held is refused.
                            let batch: [Movement] = [
                                move("mug", "3", "floor", "back"), move("tea", "2", "back", "floor"),
                                move(
                                    Bool.random(using: &random) ? "mug" : "tea", "1",
                                    Bool.random(using: &random) ? "floor" : "back", "sold"),
                            ]
                            let outcome = try await store.move(
                                MoveBatch(items: batch, atomicity: .allOrNothing), facts: facts)
                            if outcome.allSucceeded { sold += 1 }
                        }
                        return sold
                    }
                }
                return try await group.reduce(0, +)
            }
            let sold = Quantity(soldCount)
            let held = try await store.totalStock(product: "mug") + (try await store.totalStock(product: "tea"))
            #expect(held + sold == Quantity(200))
            for balance in try await store.balances(BalanceQuery()) {
                #expect(!balance.quantity.isNegative, "\(balance)")
            }
            try await expectBalancesMatchJournal(store)
            let ids = try await store.movements(MovementQuery()).compactMap(\.id)
            #expect(ids == ids.sorted() && Set(ids).count == ids.count)
        }
    }

    /// On PostgreSQL, writes arriving together share one statement (`WriteGroup`); one the
    /// database cannot store (a NUL character, which PostgreSQL text refuses) must fail alone.
    @Test(
        "a write the store cannot keep fails alone; the writes sharing its commit are kept",
        arguments: StoreKind.testable)
    func poisonedGroup(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { store in
            let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for writer in 0..<24 {
                    group.addTask {
                        var item = move("mug", "1", "supplier", "floor")
                        if writer == 12 { item.description = "bad\u{0}text" }
                        let outcome = try? await store.move(
                            MoveBatch(items: [item], atomicity: .allOrNothing), facts: facts)
                        return (writer, outcome?.allSucceeded ?? false)
                    }
                }
                return try await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
            }
            for writer in 0..<24 where writer != 12 { #expect(outcomes[writer] == true, "writer \(writer)") }
            // SQLite keeps any text; PostgreSQL refuses the NUL, for that write only.
            if kind == .postgres { #expect(outcomes[12] == false) }
            let applied = outcomes.values.filter { $0 }.count
            #expect(applied >= 23)
            #expect(try await store.totalStock(product: "mug") == Quantity(applied))
            try await expectBalancesMatchJournal(store)
            // What a write is answered is what is stored (ids, times), also inside a group.
            let answered = try await withThrowingTaskGroup(of: Movement?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        let outcome = try await store.move(
                            MoveBatch(items: [move("mug", "1", "supplier", "floor")], atomicity: .allOrNothing),
                            facts: facts)
                        if case .applied(let movement) = outcome.items.first { return movement }
                        return nil
                    }
                }
                return try await group.reduce(into: [Movement]()) { if let movement = $1 { $0.append(movement) } }
            }
            #expect(answered.count == 8)
            for movement in answered {
                let stored = try await store.movement(id: try #require(movement.id))
                #expect(stored?.createdAt == movement.createdAt && stored?.appliedAt == movement.appliedAt)
                #expect(stored?.quantity == movement.quantity && stored?.product == movement.product)
            }
        }
    }
}
