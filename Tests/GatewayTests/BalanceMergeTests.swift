import StockCore
import Testing

@testable import Gateway

/// `RemoteBackend.merged`: the balances of every page read, each product and location once.
@Suite("Balance merge across pages")
struct BalanceMergeTests {
    static func balance(_ product: String, _ location: String, _ quantity: Int) -> Balance {
        Balance(product: product, location: location, quantity: Quantity(quantity))
    }

    /// `count` products at one location, then each again on a "second page": the first read
    /// of every even one is zero, the second read is not.
    static func pages(_ count: Int) -> [Balance] {
        let first = (0..<count).map { balance("p\($0)", "shop", $0 % 2 == 0 ? 0 : $0) }
        let second = (0..<count).map { balance("p\($0)", "shop", 100 + $0) }
        return first + second + [balance("p0", "back", 5)]
    }

    @Test(
        "a product read twice counts once, its first non-zero balance kept, in the order first read — scanned or indexed",
        // 2 × count + 1 balances: up to 15 are scanned, from 17 on indexed.
        arguments: [1, 3, (RemoteBackend.scannedBalances - 1) / 2, RemoteBackend.scannedBalances / 2, 40])
    func merge(_ count: Int) {
        let merged = RemoteBackend.merged(Self.pages(count))
        #expect(merged.count == count + 1)
        for (index, balance) in merged.dropLast().enumerated() {
            #expect(balance.product == "p\(index)" && balance.location == "shop")
            #expect(balance.quantity == Quantity(index % 2 == 0 ? 100 + index : index))
        }
        // The same product at another location is another balance.
        #expect(merged.last == Self.balance("p0", "back", 5))
    }

    @Test("a zero read twice stays one zero balance; nothing read is nothing merged")
    func zeros() {
        #expect(
            RemoteBackend.merged([Self.balance("a", "x", 0), Self.balance("a", "x", 0)]) == [Self.balance("a", "x", 0)])
        #expect(RemoteBackend.merged([]).isEmpty)
    }
}
