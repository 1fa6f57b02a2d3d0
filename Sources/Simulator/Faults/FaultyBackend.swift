import StockCore
import Synchronization

/// A request's backend while an `error` or `partial` fault is played on it: the fault lands on
/// the request's first write (or, for a request that only reads, its first command); every
/// other command passes through. The refusal goes back through the codec as any backend's
/// would, so it comes out in the vendor's own shape.
public struct FaultyBackend: StockBackend {
    let base: any StockBackend
    let fault: Fault
    /// The request writes nothing: the fault lands on its first command.
    let hitsReads: Bool
    /// Whether the fault has landed (a request's commands run one after another).
    private let landed = LandedFlag()

    public init(base: any StockBackend, fault: Fault, hitsReads: Bool) {
        self.base = base
        self.fault = fault
        self.hitsReads = hitsReads
    }

    public func execute(_ command: Command, facts: RequestFacts) async throws -> Outcome {
        guard command.isWrite || hitsReads, landed.land() else {
            return try await base.execute(command, facts: facts)
        }
        let refusal = fault.refusal
        switch (fault.kind, command) {
        case (.error, .move(let batch)):
            // As a backend refuses: every item of a per-item batch fails; an all-or-nothing batch
            // fails on its first item and the rest are not applied.
            return .moved(
                BatchOutcome(
                    items: batch.items.indices.map { index in
                        batch.atomicity == .perItem || index == 0 ? .failed(refusal) : .notApplied
                    }))
        case (.partial, .move(let batch)):
            // A vendor that failed midway: the first movements are applied, not recorded under
            // the caller's key (the vendor did not get that far), and the answer is a failure.
            let count = min(fault.applied, batch.items.count)
            if count > 0 {
                var unkeyed = facts
                unkeyed.idempotencyKey = nil
                _ = try await base.execute(
                    .move(MoveBatch(items: Array(batch.items.prefix(count)), atomicity: batch.atomicity)),
                    facts: unkeyed)
            }
            throw refusal
        case (.partial, _) where command.isWrite && fault.applied > 0:
            var unkeyed = facts
            unkeyed.idempotencyKey = nil
            _ = try await base.execute(command, facts: unkeyed)
            throw refusal
        default:
            throw refusal
        }
    }
}

/// Set once, by the first command the fault lands on.
final class LandedFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    /// True the first time only.
    func land() -> Bool { !flag.exchange(true, ordering: .relaxed) }
}
