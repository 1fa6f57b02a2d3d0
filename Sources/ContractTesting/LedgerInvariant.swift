import StockCore

/// The ledger's own bookkeeping rule, checked after every contract case run against a
/// StockGate: each stock location's balance equals the sum of the journal's movements in
/// and out of it (applied ones, and reversed ones with their reversals; pending transfers do
/// not count until confirmed; rows of forwarded movements are not the ledger's).
public enum LedgerInvariant {
    /// Every balance that disagrees with the journal, as `product@location is X, the journal sums to Y`.
    public static func violations(in store: any LedgerStore) async throws -> [String] {
        let catalog = store.catalog
        var sums: [String: Quantity] = [:]
        for movement in try await store.movements(MovementQuery()) where movement.backend == nil {
            guard movement.state == .applied || movement.state == .reversed else { continue }
            for (key, sign) in [(movement.to, 1), (movement.from, -1)] {
                guard catalog.location(key: key)?.kind.isTracked == true else { continue }
                let slot = movement.product + "@" + key
                let current = sums[slot, default: .zero]
                sums[slot] = sign > 0 ? current + movement.quantity : current - movement.quantity
            }
        }
        var held: [String: Quantity] = [:]
        for balance in try await store.balances(BalanceQuery()) {
            held[balance.product + "@" + balance.location] = balance.quantity
        }
        var problems: [String] = []
        for slot in Set(sums.keys).union(held.keys).sorted() {
            let have = held[slot] ?? .zero
            let want = sums[slot] ?? .zero
            if have != want { problems.append("ledger invariant: \(slot) is \(have), the journal sums to \(want)") }
        }
        return problems
    }
}
