import Foundation
import GRDB
import StoreTestSupport
import TestSupport
import Testing

@testable import Ledger
@testable import StockCore

/// A catalog of two products, three stock locations and the unlimited kinds.
let testCatalog = Catalog(
    products: [Product(key: "mug", identifiers: ["sku": "MUG"]), Product(key: "tea", identifiers: ["sku": "TEA"])],
    locations: [
        Location(key: "floor", kind: .stock), Location(key: "back", kind: .stock), Location(key: "dc", kind: .stock),
        Location(key: "supplier", kind: .supplier), Location(key: "sold", kind: .sold),
        Location(key: "bin", kind: .bin),
        Location(key: "outside", kind: .outside),
    ])

let facts = RequestFacts(dialect: "stockgate", requestID: "req-1")
let keyedFacts = RequestFacts(dialect: "stockgate", requestID: "req-1", idempotencyKey: "key-1")

func q(_ text: String) -> Quantity { try! Quantity(parsing: text) }

func move(
    _ product: String, _ quantity: String, _ from: String, _ to: String, allowOverage: Bool = false,
    pending: Bool = false
) -> Movement {
    Movement(
        product: product, quantity: q(quantity), from: from, to: to,
        state: pending ? .pending : .applied, allowOverage: allowOverage)
}

/// A fresh temporary directory, removed when the test ends.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-test-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func balance(_ ledger: any LedgerStore, _ product: String, _ location: String) async throws -> Quantity {
    try await ledger.balances(BalanceQuery(products: [product], location: location)).first?.quantity ?? .zero
}

@Suite("Embedded ledger")
struct LedgerTests {
    @Test(
        "ids start at 1 and increase; the journal keeps dialect, request id and idempotency key",
        arguments: StoreKind.testable)
    func journal(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let outcome = try await ledger.move(
                MoveBatch(
                    items: [move("mug", "3", "supplier", "floor"), move("tea", "1", "supplier", "back")],
                    atomicity: .perItem), facts: keyedFacts)
            #expect(outcome.succeeded.map(\.id) == [1, 2])
            let journal = try await ledger.movements(MovementQuery())
            #expect(journal.count == 2)
            #expect(journal[0].dialect == "stockgate")
            #expect(journal[0].requestID == "req-1")
            #expect(journal[0].idempotencyKey == "key-1")
            #expect(journal[0].createdAt != nil && journal[0].appliedAt == journal[0].createdAt)
        }
    }

    @Test(
        "a batch repeated under the same idempotency key is answered from the journal, not applied again",
        arguments: StoreKind.testable)
    func idempotentReplay(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let batch = MoveBatch(items: [move("mug", "3", "supplier", "floor")], atomicity: .allOrNothing)
            let first = try await ledger.move(batch, facts: keyedFacts)
            let again = try await ledger.move(batch, facts: keyedFacts)
            #expect(!first.replayed)
            #expect(again.replayed)
            #expect(again.succeeded.map(\.id) == first.succeeded.map(\.id))
            #expect(try await balance(ledger, "mug", "floor") == q("3"))
            let otherKey = RequestFacts(dialect: "stockgate", requestID: "req-2", idempotencyKey: "key-2")
            _ = try await ledger.move(batch, facts: otherKey)
            #expect(try await balance(ledger, "mug", "floor") == q("6"))
        }
    }

    @Test(
        "a balance that would pass 18 integer digits is refused, naming the quantity, and nothing changes",
        arguments: StoreKind.testable)
    func balanceRange(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let largest = "999999999999999999"
            let first = try await ledger.move(
                MoveBatch(items: [move("mug", largest, "supplier", "floor")], atomicity: .allOrNothing), facts: facts)
            #expect(first.allSucceeded)
            let second = try await ledger.move(
                MoveBatch(items: [move("mug", "1", "supplier", "floor")], atomicity: .allOrNothing), facts: facts)
            #expect(second.failures.map(\.error.code) == [.invalidValue])
            #expect(second.failures.first?.error.field == "quantity")
            #expect(try await balance(ledger, "mug", "floor") == q(largest))
            let owing = try await ledger.move(
                MoveBatch(
                    items: [
                        move("tea", largest, "back", "sold", allowOverage: true),
                        move("tea", "1", "back", "sold", allowOverage: true),
                    ], atomicity: .perItem),
                facts: facts)
            #expect(owing.succeeded.count == 1)
            #expect(try await balance(ledger, "tea", "back") == q("-" + largest))
            #expect(try await ledger.movements(MovementQuery()).count == 2)
        }
    }

    @Test("0.1 + 0.2 moved shows exactly 0.3", arguments: StoreKind.testable)
    func exactDecimals(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "0.1", "supplier", "floor")], atomicity: .perItem), facts: facts)
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "0.2", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let held = try await balance(ledger, "mug", "floor")
            #expect(held.description == "0.3")
            #expect(held == q("0.3"))
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "0.3", "floor", "sold")], atomicity: .perItem), facts: facts)
            #expect(try await balance(ledger, "mug", "floor").isZero)
        }
    }

    @Test("moving more than a stock location holds is refused unless overage is allowed", arguments: StoreKind.testable)
    func overage(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "2", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let refused = try await ledger.move(
                MoveBatch(items: [move("mug", "5", "floor", "back")], atomicity: .perItem), facts: facts)
            guard case .failed(let error) = refused.items[0] else {
                Issue.record("expected a failure, got \(refused.items[0])")
                return
            }
            #expect(error.code == .insufficientStock)
            #expect(error.field == "quantity")
            #expect(try await balance(ledger, "mug", "floor") == q("2"))
            #expect(try await balance(ledger, "mug", "back").isZero)
            #expect(try await ledger.count(MovementQuery()) == 1)

            let allowed = try await ledger.move(
                MoveBatch(items: [move("mug", "5", "floor", "back", allowOverage: true)], atomicity: .perItem),
                facts: facts)
            #expect(allowed.allSucceeded)
            #expect(try await balance(ledger, "mug", "floor") == q("-3"))
            #expect(try await balance(ledger, "mug", "back") == q("5"))
        }
    }

    @Test(
        "an all-or-nothing batch with one bad item changes nothing; a per-item batch keeps the good ones",
        arguments: StoreKind.testable)
    func atomicity(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let items = [
                move("mug", "4", "supplier", "floor"), move("mug", "10", "floor", "sold"),
                move("tea", "1", "supplier", "back"),
            ]
            let atomic = try await ledger.move(MoveBatch(items: items, atomicity: .allOrNothing), facts: facts)
            #expect(atomic.items[0] == .notApplied)
            #expect(atomic.items[2] == .notApplied)
            if case .failed(let error) = atomic.items[1] {
                #expect(error.code == .insufficientStock)
            } else {
                Issue.record("item 1 should fail")
            }
            #expect(try await ledger.balances(BalanceQuery()).isEmpty)
            #expect(try await ledger.count(MovementQuery()) == 0)

            let perItem = try await ledger.move(MoveBatch(items: items, atomicity: .perItem), facts: facts)
            #expect(perItem.succeeded.count == 2)
            #expect(try await balance(ledger, "mug", "floor") == q("4"))
            #expect(try await balance(ledger, "tea", "back") == q("1"))
            // The id of a rolled-back insert is not handed out: ids stay dense for applied rows here.
            #expect(perItem.succeeded.map(\.id) == [1, 2])
        }
    }

    @Test("later items of a batch see earlier ones", arguments: StoreKind.testable)
    func chainedBatch(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let outcome = try await ledger.move(
                MoveBatch(
                    items: [
                        move("mug", "4", "supplier", "floor"), move("mug", "4", "floor", "back"),
                        move("mug", "1.5", "back", "bin"),
                    ], atomicity: .allOrNothing), facts: facts)
            #expect(outcome.allSucceeded)
            #expect(try await balance(ledger, "mug", "floor").isZero)
            #expect(try await balance(ledger, "mug", "back") == q("2.5"))
        }
    }

    @Test(
        "unknown products and locations, zero quantities and same-location moves are refused",
        arguments: StoreKind.testable)
    func refusals(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let outcome = try await ledger.move(
                MoveBatch(
                    items: [
                        move("ghost", "1", "supplier", "floor"), move("mug", "1", "nowhere", "floor"),
                        move("mug", "1", "supplier", "nowhere"), move("mug", "0", "supplier", "floor"),
                        move("mug", "1", "floor", "floor"),
                    ], atomicity: .perItem), facts: facts)
            let fields = outcome.failures.map { $0.error.field }
            #expect(fields == ["product", "from", "to", "quantity", "to"])
            #expect(
                outcome.failures.map(\.error.code) == [.notFound, .notFound, .notFound, .invalidValue, .invalidValue])
            #expect(try await ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("a pending transfer changes nothing until confirmed, and only once", arguments: StoreKind.testable)
    func pendingThenConfirm(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "5", "supplier", "floor")], atomicity: .perItem), facts: facts)
            let pending = try await ledger.move(
                MoveBatch(items: [move("mug", "3", "floor", "back", pending: true)], atomicity: .perItem), facts: facts)
            let id = try #require(pending.succeeded.first?.id)
            #expect(pending.succeeded.first?.state == .pending)
            #expect(try await balance(ledger, "mug", "floor") == q("5"))
            #expect(try await balance(ledger, "mug", "back").isZero)

            let confirmed = try await ledger.confirm(id: id, facts: facts)
            #expect(confirmed.state == .applied)
            #expect(confirmed.appliedAt != nil)
            #expect(try await balance(ledger, "mug", "floor") == q("2"))
            #expect(try await balance(ledger, "mug", "back") == q("3"))

            await #expect(throws: GatewayError.self) { try await ledger.confirm(id: id, facts: facts) }
            await #expect(throws: GatewayError.self) { try await ledger.confirm(id: 999, facts: facts) }
            #expect(try await balance(ledger, "mug", "back") == q("3"))
        }
    }

    @Test(
        "a confirmation that would overdraw is refused and leaves the transfer pending", arguments: StoreKind.testable)
    func confirmOverdraw(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            let pending = try await ledger.move(
                MoveBatch(items: [move("mug", "3", "floor", "back", pending: true)], atomicity: .perItem), facts: facts)
            let id = try #require(pending.succeeded.first?.id)
            await #expect {
                try await ledger.confirm(id: id, facts: facts)
            } throws: { error in
                (error as? GatewayError)?.code == .insufficientStock
            }
            #expect(try await ledger.movement(id: id)?.state == .pending)
        }
    }

    @Test("conservation: stock changes only by flows to and from non-stock locations", arguments: StoreKind.testable)
    func conservation(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            var generator = SeededGenerator(seed: 42)
            let locations = testCatalog.locations.map(\.key)
            var expectedNet: [String: Quantity] = ["mug": .zero, "tea": .zero]
            for _ in 0..<300 {
                let product = ["mug", "tea"].randomElement(using: &generator)!
                let from = locations.randomElement(using: &generator)!
                var to = locations.randomElement(using: &generator)!
                while to == from { to = locations.randomElement(using: &generator)! }
                let quantity = Quantity(Decimal(Int.random(in: 1...400, using: &generator)) / 100)
                let outcome = try await ledger.move(
                    MoveBatch(
                        items: [Movement(product: product, quantity: quantity, from: from, to: to)],
                        atomicity: .perItem), facts: facts)
                guard outcome.allSucceeded else { continue }
                let fromTracked = testCatalog.location(key: from)!.kind.isTracked
                let toTracked = testCatalog.location(key: to)!.kind.isTracked
                if !fromTracked && toTracked { expectedNet[product]! = expectedNet[product]! + quantity }
                if fromTracked && !toTracked { expectedNet[product]! = expectedNet[product]! - quantity }
            }
            for product in ["mug", "tea"] {
                #expect(try await ledger.totalStock(product: product) == expectedNet[product]!)
            }
            // No stock balance went negative without overage.
            for balance in try await ledger.balances(BalanceQuery()) {
                #expect(!balance.quantity.isNegative, "\(balance)")
            }
            // And the balances equal the sum of the journal.
            try await expectBalancesMatchJournal(ledger)
        }
    }

    @Test("balances and the journal survive a restart; ids continue")
    func persistence() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
                _ = try await ledger.move(
                    MoveBatch(
                        items: [move("mug", "7.25", "supplier", "floor"), move("mug", "1", "floor", "sold")],
                        atomicity: .allOrNothing), facts: facts)
                try ledger.close()
            }
            let reopened = try Ledger.open(directory: dir, catalog: testCatalog)
            #expect(try await balance(reopened, "mug", "floor") == q("6.25"))
            #expect(try await reopened.count(MovementQuery()) == 2)
            let next = try await reopened.move(
                MoveBatch(items: [move("tea", "1", "supplier", "back")], atomicity: .perItem), facts: facts)
            #expect(next.succeeded.first?.id == 3)
            try reopened.close()
        }
    }

    @Test("the journal's state rule is checked without an ephemeral table per row, also in a ledger made before v10")
    func stateCheckWithoutList() async throws {
        try await withTemporaryDirectory { dir in
            // What a row costs to check, from SQLite's own program for it.
            @Sendable func opcodes(_ db: Database, _ sql: String) throws -> [String] {
                try Row.fetchAll(db, sql: "EXPLAIN " + sql).map { $0["opcode"] as String }
            }
            let insert = """
                INSERT INTO movement (product, quantity, from_location, to_location, created_at, state, dialect,
                    request_id, backend)
                VALUES ('mug', '3', 'supplier', 'floor', 1, 'sent', 'stockgate', 'old', 'shop')
                """
            let update = "UPDATE movement SET state = 'applied' WHERE id = 1"
            // A ledger as v9 left it, with a forwarded row: its rule builds the list per row.
            do {
                let old = try DatabaseQueue(path: (dir as NSString).appendingPathComponent(Ledger.fileName))
                try Ledger.migrator.migrate(old, upTo: "v9-webhooks")
                let before = try await old.write { db in
                    try db.execute(sql: insert)
                    return (try opcodes(db, insert), try opcodes(db, update))
                }
                #expect(before.0.contains("OpenEphemeral") && before.1.contains("OpenEphemeral"))
                try old.close()
            }
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "1", "supplier", "floor")], atomicity: .perItem), facts: facts)
            try await ledger.settleForwarded([(1, .applied)])
            let after = try await ledger.writer.write { db in
                var refused = false
                do {
                    try db.execute(sql: insert.replacingOccurrences(of: "'sent'", with: "'lost'"))
                } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_CHECK {
                    refused = true
                }
                return (
                    insert: try opcodes(db, insert), update: try opcodes(db, update), refused: refused,
                    integrity: try String.fetchAll(db, sql: "PRAGMA integrity_check"),
                    definition: try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'movement'")
                )
            }
            #expect(!after.insert.contains("OpenEphemeral") && !after.update.contains("OpenEphemeral"))
            #expect(after.refused, "a state outside the five is still refused")
            #expect(after.integrity == ["ok"])
            #expect(after.definition?.contains(Ledger.stateCheckAsComparisons) == true)
            #expect(try await ledger.movement(id: 1)?.state == .applied, "the row written before v10 is kept")
            #expect(try await ledger.count(MovementQuery()) == 1)
            try ledger.close()
        }
        // A new ledger has the same rule.
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            let definition = try await ledger.writer.read { db in
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE name = 'movement'")
            }
            #expect(definition?.contains(Ledger.stateCheckAsComparisons) == true)
            try ledger.close()
        }
    }

    @Test("forwarded rows stay out of the embedded ledger's indexes, also in a ledger made before v8")
    func embeddedOnlyIndexes() async throws {
        try await withTemporaryDirectory { dir in
            // A ledger as v7 left it, with one forwarded row in every index.
            do {
                let old = try DatabaseQueue(path: (dir as NSString).appendingPathComponent(Ledger.fileName))
                try Ledger.migrator.migrate(old, upTo: "v7-tracking")
                try await old.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO movement (product, quantity, from_location, to_location, created_at, state,
                                dialect, request_id, backend)
                            VALUES ('mug', '3', 'supplier', 'floor', 1, 'applied', 'stockgate', 'old', 'shop')
                            """)
                }
                try old.close()
            }
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            _ = try await ledger.move(
                MoveBatch(items: [move("mug", "1", "supplier", "floor")], atomicity: .perItem), facts: facts)
            _ = try await ledger.journalForwarded([move("tea", "2", "floor", "back")], backend: "shop", facts: facts)
            // Rows in each index (the first figure of its statistics): 1 embedded, 2 forwarded.
            let (entries, plans) = try await ledger.writer.write { db in
                // The plans first: statistics of three rows would make a scan of the table look as cheap.
                func plan(_ filter: String) throws -> String {
                    try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM movement WHERE \(filter) ORDER BY id")
                        .map { $0["detail"] as String }.joined(separator: "; ")
                }
                let plans = [
                    try plan("backend IS NULL AND product = 'mug'"),
                    try plan("backend IS NULL AND created_at = 1"),
                    try plan("backend = 'shop' AND product = 'mug'"),
                ]
                try db.execute(sql: "ANALYZE")
                let entries = Dictionary(
                    uniqueKeysWithValues: try Row.fetchAll(
                        db, sql: "SELECT idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"
                    ).map {
                        row -> (String, Int) in
                        let stat: String = row["stat"]
                        return (row["idx"], Int(stat.split(separator: " ")[0]) ?? -1)
                    })
                return (entries, plans)
            }
            for index in ["movement_by_product", "movement_by_from", "movement_by_to", "movement_by_created"] {
                #expect(entries[index] == 1, "\(index): \(entries)")
            }
            #expect(entries["movement_by_backend"] == 3)
            #expect(plans[0].contains("movement_by_product"), "\(plans[0])")
            #expect(plans[1].contains("movement_by_created"), "\(plans[1])")
            #expect(plans[2].contains("movement_by_backend"), "\(plans[2])")
            // The old forwarded row is still found through its backend.
            var query = MovementQuery(product: "mug")
            query.backend = "shop"
            #expect(try await ledger.movements(query).map(\.requestID) == ["old"])
            try ledger.close()
        }
    }

    @Test("the database runs in WAL mode with synchronous FULL")
    func durabilitySettings() async throws {
        try await withTemporaryDirectory { dir in
            let ledger = try Ledger.open(directory: dir, catalog: testCatalog)
            let (mode, synchronous) = try await ledger.writer.read { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
            }
            #expect(mode == "wal")
            #expect(synchronous == 2)  // FULL
        }
    }

    @Test("delete undoes movements with reversals; update changes only the description", arguments: StoreKind.testable)
    func deleteAndUpdate(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            _ = try await ledger.move(
                MoveBatch(
                    items: [move("mug", "5", "supplier", "floor"), move("mug", "2", "floor", "sold")],
                    atomicity: .perItem), facts: facts)
            let updated = try await ledger.updateDescription(id: 2, description: "order 3819")
            #expect(updated.description == "order 3819")
            #expect(updated.quantity == q("2"))
            await #expect(throws: GatewayError.self) { try await ledger.updateDescription(id: 77, description: "x") }

            let deleted = try await ledger.delete(ids: [2, 2, 99], facts: facts)
            #expect(deleted == [2])
            #expect(try await balance(ledger, "mug", "floor") == q("5"))
            #expect(try await ledger.movement(id: 2)?.state == .reversed)
            let reversal = try #require(try await ledger.movement(id: 3))
            #expect(reversal.reverses == 2)
            #expect(reversal.from == "sold" && reversal.to == "floor")
            // Hidden from views that hide deleted movements, kept in the canonical journal.
            #expect(try await ledger.count(MovementQuery(appliedOnly: true)) == 1)
            #expect(try await ledger.count(MovementQuery()) == 3)
            // Deleting again does nothing.
            #expect(try await ledger.delete(ids: [2, 3], facts: facts).isEmpty)
            try await expectBalancesMatchJournal(ledger)
        }
    }

    @Test("find filters by product, location, id, keywords and orders and pages", arguments: StoreKind.testable)
    func find(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            var items = [
                move("mug", "5", "supplier", "floor"), move("tea", "2", "supplier", "back"),
                move("mug", "1", "floor", "sold"),
            ]
            items[2].description = "Order number 3819 shirt"
            _ = try await ledger.move(MoveBatch(items: items, atomicity: .perItem), facts: facts)
            #expect(try await ledger.movements(MovementQuery(product: "mug")).map(\.id) == [1, 3])
            #expect(try await ledger.movements(MovementQuery(location: "floor")).map(\.id) == [1, 3])
            #expect(try await ledger.movements(MovementQuery(afterID: 1)).map(\.id) == [2, 3])
            #expect(try await ledger.movements(MovementQuery(keywords: "shirt 3819")).map(\.id) == [3])
            #expect(try await ledger.movements(MovementQuery(keywords: "shirt 100%")).isEmpty)
            #expect(
                try await ledger.movements(MovementQuery(order: [.init(.id, descending: true)], limit: 2)).map(\.id)
                    == [3, 2])
            #expect(try await ledger.movements(MovementQuery(offset: 1, limit: 1)).map(\.id) == [2])
            // Signed as seen from the floor: +5 in, -1 out.
            let bySigned = try await ledger.movements(MovementQuery(location: "floor", order: [.init(.quantity)]))
            #expect(bySigned.map(\.id) == [3, 1])
            let future = Date().addingTimeInterval(3600)
            #expect(try await ledger.count(MovementQuery(createdFrom: future)) == 0)
            #expect(try await ledger.count(MovementQuery(createdTo: future)) == 3)
        }
    }

    @Test("quantities sort by their exact value, also where a double would tie them", arguments: StoreKind.testable)
    func exactQuantityOrder(_ kind: StoreKind) async throws {
        try await withStore(kind, catalog: testCatalog) { ledger in
            // As doubles, 100000000000000000.2 and 100000000000000000.1 are the same number.
            let items = [
                move("mug", "100000000000000000.2", "supplier", "floor"),
                move("mug", "100000000000000000.1", "supplier", "floor"),
                move("mug", "9", "supplier", "floor"), move("mug", "100000000000000000.15", "floor", "sold"),
            ]
            _ = try await ledger.move(MoveBatch(items: items, atomicity: .perItem), facts: facts)
            let ascending = try await ledger.movements(MovementQuery(order: [.init(.quantity)]))
            #expect(ascending.map(\.id) == [3, 2, 4, 1])
            let descending = try await ledger.movements(MovementQuery(order: [.init(.quantity, descending: true)]))
            #expect(descending.map(\.id) == [1, 4, 2, 3])
            // Signed as seen from the floor: the move out (-…0.15) first.
            let signed = try await ledger.movements(MovementQuery(location: "floor", order: [.init(.quantity)]))
            #expect(signed.map(\.id) == [4, 3, 2, 1])
        }
    }
}

/// Recomputes every stock balance from the applied journal and compares.
func expectBalancesMatchJournal(
    _ ledger: any LedgerStore, sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    var sums: [String: Quantity] = [:]
    for movement in try await ledger.movements(MovementQuery()) where movement.state != .pending {
        if ledger.catalog.location(key: movement.from)!.kind.isTracked {
            sums[movement.product + "@" + movement.from, default: .zero] =
                sums[movement.product + "@" + movement.from, default: .zero] - movement.quantity
        }
        if ledger.catalog.location(key: movement.to)!.kind.isTracked {
            sums[movement.product + "@" + movement.to, default: .zero] =
                sums[movement.product + "@" + movement.to, default: .zero] + movement.quantity
        }
    }
    for balance in try await ledger.balances(BalanceQuery()) {
        #expect(
            balance.quantity == sums[balance.product + "@" + balance.location, default: .zero],
            "\(balance.product)@\(balance.location)", sourceLocation: sourceLocation)
    }
}

/// Attack run finding 13 (issue 29): a full disk answered writes 500 (an internal error) where
/// `unavailable` fits; SQLite's own limit on pages is a real SQLITE_FULL without filling a disk.
@Suite("A ledger whose disk is full")
struct DiskFullTests {
    @Test("a write that cannot be committed for a full disk is unavailable, names no path, applies nothing")
    func diskFull() async throws {
        try await withTemporaryDirectory { directory in
            let ledger = try Ledger.open(directory: directory, catalog: testCatalog)
            defer { try? ledger.close() }
            let batch = MoveBatch(items: [move("mug", "3", "supplier", "floor")], atomicity: .allOrNothing)
            _ = try await ledger.move(batch, facts: RequestFacts(dialect: "stockgate", requestID: "r1"))
            try await ledger.writer.writeWithoutTransaction { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
                _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
            }
            var big: [Movement] = []
            for index in 0..<400 {
                var item = move("mug", "1", "supplier", "floor")
                item.reason = String(repeating: "x", count: 200) + "\(index)"
                big.append(item)
            }
            do {
                _ = try await ledger.move(
                    MoveBatch(items: big, atomicity: .allOrNothing),
                    facts: RequestFacts(dialect: "stockgate", requestID: "r2"))
                Issue.record("the write was committed past max_page_count")
            } catch let error as GatewayError {
                #expect(error.code == .unavailable, "\(error)")
                #expect(error.message.contains("disk is full"), "\(error)")
                #expect(!error.message.contains(directory))
            }
            #expect(try await balance(ledger, "mug", "floor") == q("3"))
            #expect(ledger.healthProblem?.contains(directory) != true)
        }
    }
}
