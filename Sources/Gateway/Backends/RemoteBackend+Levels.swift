import Dialects
import StockCore

/// Level commands to a backend that only takes movements: the balance is read from the
/// backend, the difference sent as one movement of the right direction, and the journal row
/// keeps the level asked, the balance read and the change sent. The read and the send are
/// serialized per product and location (`LevelLocks`); the backend itself may still change
/// between them by a path that bypasses StockGate (docs/levels.md), which compare-and-set
/// cannot see either — it guards against what the client expected, as read.
extension RemoteBackend {
    /// The lock keys of the level items that need the backend's balance: an absolute level,
    /// or any level with an expected value. A relative change without one is a plain movement.
    func levelKeys(_ batch: MoveBatch) -> [String] {
        batch.items.compactMap { item in
            guard let level = item.level, LevelTreatment.of(item, codec: codec) == .readThenMove else { return nil }
            return "\(name)\u{1F}\(item.product)\u{1F}\(level.location)"
        }
    }

    /// Resolves each level item against the backend's balance, read once per product and
    /// location and carried through the batch in item order (an earlier item of the batch moves
    /// it as the backend will).
    /// - Returns: the batch with levels resolved; `settled`: items decided here — refused (no
    ///   balance read possible, compare-and-set failed) or needing no change.
    func resolveLevels(
        _ batch: MoveBatch, facts: RequestFacts
    ) async throws -> (batch: MoveBatch, settled: [Int: Result<Void, GatewayError>]) {
        var resolved = batch
        var settled: [Int: Result<Void, GatewayError>] = [:]
        var known: [BalanceChanges.Key: Quantity] = [:]
        for (index, item) in batch.items.enumerated() {
            let treatment = LevelTreatment.of(item, codec: codec)
            if case .refused(let error) = treatment {
                settled[index] = .failure(error)
                continue
            }
            guard let level = item.level, treatment == .readThenMove else {
                for key in BalanceChanges.keys(of: item, catalog: catalog) where known[key] != nil {
                    known[key] = (known[key] ?? .zero) + (key.location == item.to ? item.quantity : -item.quantity)
                }
                continue
            }
            do {
                try item.check(against: catalog)
                let key = BalanceChanges.Key(product: item.product, location: level.location)
                let balance: Quantity
                if let held = known[key] {
                    balance = held
                } else {
                    balance = try await backendBalance(product: item.product, location: level.location, facts: facts)
                }
                let movement = try item.resolved(balance: balance, catalog: catalog)
                known[key] = balance + movement.signedChange
                resolved.items[index] = movement
                if movement.quantity.isZero { settled[index] = .success(()) }
            } catch let error as GatewayError {
                settled[index] = .failure(error)
            }
        }
        return (resolved, settled)
    }

    /// The backend's balance of one product at one location (zero when it lists none).
    func backendBalance(product: String, location: String, facts: RequestFacts) async throws -> Quantity {
        let balances = try await readBalances(BalanceQuery(products: [product], location: location), facts: facts)
        return balances.first { $0.product == product && $0.location == location }?.quantity ?? .zero
    }

    /// Journals the levels that needed no change (applied, nothing sent) once the batch
    /// stands: not when an all-or-nothing batch failed.
    func journalHeldLevels(
        _ batch: MoveBatch, settled: [Int: Result<Void, GatewayError>], results: inout [BatchOutcome.Item?],
        facts: RequestFacts
    ) async throws {
        let held = settled.filter { if case .success = $0.value { true } else { false } }.keys.sorted()
        guard !held.isEmpty else { return }
        let failed = results.contains { if case .failed = $0 { true } else { false } }
        if batch.atomicity == .allOrNothing && failed { return }
        let rows = try await journal.journalForwarded(
            held.map { batch.items[$0] }, backend: name, facts: facts, state: .applied)
        for (index, row) in zip(held, rows) { results[index] = .applied(row) }
    }
}
