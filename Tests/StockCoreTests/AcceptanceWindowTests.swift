import Testing

@testable import StockCore

/// `AcceptanceWindow` lets PostgreSQL check and change balances in one statement; it must
/// agree with `BalanceChanges.apply`, which stays the one statement of the rules.
@Suite("Acceptance window")
struct AcceptanceWindowTests {
    static let catalog = try! Catalog.parse(
        productsCSV: "key\nmug\ncup\n", locationsCSV: "key,kind\nshelf,stock\nback,stock\nvendor,supplier\nsold,sold\n",
        rules: [])
    static let locations = ["shelf", "back", "vendor", "sold"]
    static let products = ["mug", "cup"]

    /// Applies `movements` in order to `stored` as every store does; nil when one is refused.
    static func applyAll(
        _ movements: [Movement], _ stored: [BalanceChanges.Key: Quantity]
    ) -> [BalanceChanges.Key: Quantity]? {
        var changes = BalanceChanges()
        for movement in movements where movement.state != .pending {
            do {
                try changes.apply(movement, catalog: catalog) { product, location in
                    stored[BalanceChanges.Key(product: product, location: location)] ?? .zero
                }
            } catch {
                return nil
            }
        }
        var result = stored
        try? changes.write { product, location, quantity in
            result[BalanceChanges.Key(product: product, location: location)] = quantity
        }
        return result
    }

    @Test("admits exactly the stored balances under which every movement is accepted, and its deltas are the changes")
    func agreesWithApply() throws {
        var generator = SystemRandomNumberGenerator()
        let quantities = [
            Quantity(1), Quantity(2), Quantity(5), try Quantity(parsing: "0.5"), try Quantity(parsing: "1.25"),
        ]
        var admitted = 0
        var refused = 0
        for _ in 0..<4000 {
            var movements: [Movement] = []
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let from = Self.locations.randomElement(using: &generator)!
                let to = Self.locations.filter { $0 != from }.randomElement(using: &generator)!
                var movement = Movement(
                    product: Self.products.randomElement(using: &generator)!,
                    quantity: quantities.randomElement(using: &generator)!, from: from, to: to)
                movement.allowOverage = Int.random(in: 0..<4, using: &generator) == 0
                if Int.random(in: 0..<8, using: &generator) == 0 { movement.state = .pending }
                movements.append(movement)
            }
            var stored: [BalanceChanges.Key: Quantity] = [:]
            for product in Self.products {
                for location in ["shelf", "back"] where Bool.random(using: &generator) {
                    stored[BalanceChanges.Key(product: product, location: location)] =
                        quantities.randomElement(using: &generator)!
                        - Quantity(Int.random(in: 0...3, using: &generator))
                }
            }
            let applied = Self.applyAll(movements, stored)
            let window = AcceptanceWindow(movements, catalog: Self.catalog)
            let admits = window?.admits(stored) ?? false
            #expect(admits == (applied != nil), "\(movements) on \(stored)")
            if let window, admits, let applied {
                admitted += 1
                for entry in window.entries {
                    #expect(applied[entry.key] == (stored[entry.key] ?? .zero) + entry.delta)
                }
                // Only the balances it names change.
                for (key, value) in applied where !window.entries.contains(where: { $0.key == key }) {
                    #expect(stored[key] == value)
                }
                #expect(window.entries.map(\.key) == window.entries.map(\.key).sorted())
            } else {
                refused += 1
            }
        }
        #expect(admitted > 500 && refused > 500)  // both sides exercised
    }

    @Test("the 18-digit limit: a window that would pass it admits nothing beyond it")
    func limit() throws {
        let big = try Quantity(parsing: "999999999999999999")
        let movement = Movement(product: "mug", quantity: big, from: "vendor", to: "shelf")
        let window = try #require(AcceptanceWindow([movement], catalog: Self.catalog))
        let key = BalanceChanges.Key(product: "mug", location: "shelf")
        #expect(window.admits([key: .zero]))
        #expect(!window.admits([key: Quantity(1)]))
        #expect(Self.applyAll([movement], [key: Quantity(1)]) == nil)
        // A running sum past the limit: no window (the store takes the general path); taken
        // out in between, a window.
        let out = Movement(product: "mug", quantity: big, from: "shelf", to: "sold")
        #expect(AcceptanceWindow([movement, movement], catalog: Self.catalog) == nil)
        #expect(AcceptanceWindow([movement, out, movement], catalog: Self.catalog)?.admits([key: .zero]) == true)
    }
}
