/// What came of a command, in canonical terms. Every dialect encodes these.
public enum Outcome: Sendable, Equatable {
    case moved(BatchOutcome)
    case movements([Movement])
    // Every payload is a word or two (a `Movement` is one reference to its shared fields), so
    // an outcome is small wherever an async function keeps one across an `await`.
    case movement(Movement?)
    case count(Int)
    case updated(Movement)
    case deleted(ids: [Int64])
    case balances([Balance])
    case locations([Location])
    case confirmed(Movement)
    /// The products (catalog keys) whose tracking is stopped; every other product is tracked.
    case tracking(untracked: Set<String>)
}

/// The result of a batch: one entry per item, in request order.
public struct BatchOutcome: Sendable, Equatable {
    public enum Item: Sendable, Equatable {
        /// Recorded: applied, or pending when the movement asked for it.
        case applied(Movement)
        /// This item failed.
        case failed(GatewayError)
        /// Valid on its own, but not applied because another item of an all-or-nothing batch failed.
        case notApplied
        /// Applied by a backend that takes items one by one, then reversed there because
        /// another item of the all-or-nothing batch failed; the movement and its reversal
        /// are both in the journal.
        case undone(Movement)
    }

    public var items: [Item]
    /// The batch had been recorded before under the same idempotency key: nothing was
    /// applied now, and `items` are the movements recorded then.
    public var replayed: Bool

    public init(items: [Item], replayed: Bool = false) {
        self.items = items
        self.replayed = replayed
    }

    public var succeeded: [Movement] {
        items.compactMap { if case .applied(let movement) = $0 { return movement } else { return nil } }
    }

    public var failures: [(index: Int, error: GatewayError)] {
        items.enumerated().compactMap { index, item in
            if case .failed(let error) = item { return (index, error) } else { return nil }
        }
    }

    /// How many items were applied, counted without copying their movements (`succeeded` does).
    public var appliedCount: Int {
        items.reduce(0) { count, item in
            if case .applied = item { count + 1 } else { count }
        }
    }

    public var allSucceeded: Bool { appliedCount == items.count }
}
