/// The balances one write changes, the same in every store: each read from the database once, checked and changed in
/// memory in movement order, and written once at the end.
///
/// `apply` either changes nothing and throws, or changes the balances of both ends, so a
/// refused movement needs no savepoint to be taken back.
public struct BalanceChanges {
    public struct Key: Hashable, Sendable, Comparable {
        public let product: String
        public let location: String

        public init(product: String, location: String) {
            self.product = product
            self.location = location
        }

        public static func < (a: Key, b: Key) -> Bool { (a.product, a.location) < (b.product, b.location) }
    }

    private struct Entry {
        var quantity: Quantity
        var changed: Bool
    }

    private var entries: [Key: Entry] = [:]
    /// Keys in the order they were first changed, so writes happen in a stable order.
    private var changed: [Key] = []

    public init() {}

    /// The balances a movement would read and change: its tracked ends (a store that locks
    /// rows locks these, in sorted order).
    public static func keys(of movement: Movement, catalog: Catalog) -> [Key] {
        var keys: [Key] = []
        for end in [movement.from, movement.to] {
            if let location = catalog.location(key: end), location.kind.isTracked {
                keys.append(Key(product: movement.product, location: location.key))
            }
        }
        return keys
    }

    /// Applies a movement that is not pending: the quantity leaves a stock source and enters a
    /// stock destination. Refuses (changing nothing) a source that would go below zero unless
    /// the movement allows overage, and a balance that would pass 18 integer digits. A level
    /// movement is first resolved against the balance as it stands at this point of the write.
    /// - Parameter read: the stored balance of a product at a location (zero when none).
    /// - Returns: the movement as applied (a level movement resolved).
    @discardableResult
    public mutating func apply(
        _ movement: Movement, catalog: Catalog, read: (_ product: String, _ location: String) throws -> Quantity
    ) throws -> Movement {
        var movement = movement
        if let level = movement.level {
            let balance = try current(Key(product: movement.product, location: level.location), read: read)
            movement = try movement.resolved(balance: balance, catalog: catalog)
        }
        var updates: [(Key, Quantity)] = []
        if let from = catalog.location(key: movement.from), from.kind.isTracked {
            let key = Key(product: movement.product, location: from.key)
            let held = try current(key, read: read)
            let remaining = try Self.inRange(held - movement.quantity, at: from.key, of: movement.product)
            if remaining.isNegative && !movement.allowOverage {
                throw GatewayError.insufficientStock(
                    "location '\(from.key)' holds \(held) of '\(movement.product)', cannot move \(movement.quantity)",
                    field: "quantity")
            }
            updates.append((key, remaining))
        }
        if let to = catalog.location(key: movement.to), to.kind.isTracked {
            let key = Key(product: movement.product, location: to.key)
            let total = try Self.inRange(current(key, read: read) + movement.quantity, at: to.key, of: movement.product)
            updates.append((key, total))
        }
        for (key, quantity) in updates {
            // `current` has read every key in `updates`, so each has an entry.
            if entries[key]?.changed == false { changed.append(key) }
            entries[key] = Entry(quantity: quantity, changed: true)
        }
        return movement
    }

    /// The balance, or a refusal when it passes what 18 integer digits carry (either sign).
    private static func inRange(
        _ balance: Quantity, at location: String, of product: String
    ) throws(GatewayError)
        -> Quantity
    {
        guard balance.isInRange else {
            throw GatewayError.invalidValue(
                "the balance of '\(product)' at '\(location)' would pass \(Quantity.maxIntegerDigits) integer digits",
                field: "quantity")
        }
        return balance
    }

    private mutating func current(_ key: Key, read: (String, String) throws -> Quantity) throws -> Quantity {
        if let known = entries[key] { return known.quantity }
        let stored = try read(key.product, key.location)
        entries[key] = Entry(quantity: stored, changed: false)
        return stored
    }

    /// Writes each changed balance once.
    public func write(_ store: (_ product: String, _ location: String, _ quantity: Quantity) throws -> Void) throws {
        for key in changed {
            try store(key.product, key.location, entries[key]?.quantity ?? .zero)
        }
    }
}

/// What a write does to each balance if every one of its movements is accepted, and the
/// stored balances for which that is so: a store that can check and change balances in one
/// statement on the database (PostgreSQL, one round trip) uses it, and runs `BalanceChanges`
/// itself only when a balance lies outside its window.
///
/// Sound by construction from the rules of `BalanceChanges.apply`: with each stored balance
/// inside `[low, high]`, applying the movements in order refuses none of them and leaves each
/// balance at stored + `delta`. (`BalanceChangesTests` checks it against `apply`.)
public struct AcceptanceWindow: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let key: BalanceChanges.Key
        /// The net change of the balance.
        public let delta: Quantity
        /// The least and greatest stored balance for which every movement is accepted.
        public let low: Quantity
        public let high: Quantity
    }

    /// One entry per balance the movements change, in sorted key order (the order rows are locked in).
    public let entries: [Entry]

    /// The window of `movements` (pending ones change nothing); nil when no stored balance
    /// could accept them all, or when a running sum leaves the range quantities carry.
    public init?(_ movements: [Movement], catalog: Catalog) {
        let largest = Quantity(units: Quantity.limit - 1)
        var running: [BalanceChanges.Key: (sum: Quantity, low: Quantity, high: Quantity)] = [:]
        func change(_ key: BalanceChanges.Key, by amount: Quantity, mayGoNegative: Bool) -> Bool {
            var entry = running[key] ?? (.zero, -largest, largest)
            entry.sum = entry.sum + amount
            guard entry.sum.isInRange else { return false }
            // stored + sum must stay within ±largest, and at or above zero for a guarded source.
            entry.low = max(entry.low, -largest - entry.sum)
            entry.high = min(entry.high, largest - entry.sum)
            if !mayGoNegative { entry.low = max(entry.low, -entry.sum) }
            running[key] = entry
            return true
        }
        for movement in movements where movement.state != .pending {
            // A level's change is known only once its balance is read: no window.
            if movement.level != nil { return nil }
            if let from = catalog.location(key: movement.from), from.kind.isTracked {
                let key = BalanceChanges.Key(product: movement.product, location: from.key)
                guard change(key, by: -movement.quantity, mayGoNegative: movement.allowOverage) else { return nil }
            }
            if let to = catalog.location(key: movement.to), to.kind.isTracked {
                let key = BalanceChanges.Key(product: movement.product, location: to.key)
                guard change(key, by: movement.quantity, mayGoNegative: true) else { return nil }
            }
        }
        var entries: [Entry] = []
        for (key, entry) in running.sorted(by: { $0.key < $1.key }) {
            guard entry.low <= entry.high else { return nil }
            entries.append(Entry(key: key, delta: entry.sum, low: entry.low, high: entry.high))
        }
        self.entries = entries
    }

    /// A write that changes no balance (a forwarded movement's journal row).
    public static let none = AcceptanceWindow(entries: [])

    private init(entries: [Entry]) {
        self.entries = entries
    }

    /// Whether a stored balance lies inside its entry's window.
    public func admits(_ stored: [BalanceChanges.Key: Quantity]) -> Bool {
        entries.allSatisfy { entry in
            let value = stored[entry.key] ?? .zero
            return entry.low <= value && value <= entry.high
        }
    }
}
