/// What a level command asks of one product at one stock location, and, once carried out,
/// what was found there: the canonical form of "this bin holds 7 now" (an absolute level) and
/// of "this bin holds 2 fewer" (a relative one), each optionally guarded by the level the
/// client expects to replace (compare-and-set).
///
/// A level travels as a `Movement` whose `level` is set, so it has the movements' per-item
/// results, idempotency, all-or-nothing rule and journal. Until a store (or the gateway, for a
/// remote backend) reads the balance, an absolute level's movement is unresolved: quantity
/// zero, from the counterpart into the level's location. `resolved(balance:catalog:)` turns it
/// into the one movement that takes the balance read to the level asked.
public struct StockLevel: Sendable, Equatable, Codable {
    /// The stock location whose level it is (a catalog key).
    public var location: String
    /// An absolute level: the level asked. Nil for a relative change, which the movement's
    /// quantity and direction carry.
    public var target: Quantity?
    /// Compare-and-set: the level the client expects to replace. The change is refused, and
    /// nothing is applied, when the balance read is another.
    public var expected: Quantity?
    /// The balance read just before the change (by the store in the same transaction, or by
    /// the gateway from a remote backend). Nil until resolved.
    public var before: Quantity?

    public init(location: String, target: Quantity? = nil, expected: Quantity? = nil, before: Quantity? = nil) {
        self.location = location
        self.target = target
        self.expected = expected
        self.before = before
    }

    enum CodingKeys: String, CodingKey {
        case location, target, expected, before
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func quantity(_ key: CodingKeys) throws -> Quantity? {
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
            return try Quantity(parsing: text)
        }
        location = try container.decode(String.self, forKey: .location)
        target = try quantity(.target)
        expected = try quantity(.expected)
        before = try quantity(.before)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(location, forKey: .location)
        try container.encodeIfPresent(target?.description, forKey: .target)
        try container.encodeIfPresent(expected?.description, forKey: .expected)
        try container.encodeIfPresent(before?.description, forKey: .before)
    }
}

extension Movement {
    /// A level command as a movement: set `product` at `location` to `target` (absolute), or
    /// change it by `change` (relative, signed, non-zero), optionally only if the level is
    /// `expected` now. The counterpart is the catalog's (`Catalog.levelCounterpart`).
    /// - Returns: nil when the catalog has no counterpart location for the direction.
    public static func level(
        product: String, location: String, target: Quantity? = nil, change: Quantity = .zero,
        expected: Quantity? = nil, catalog: Catalog
    ) -> Movement? {
        let gain = target != nil || !change.isNegative
        guard let counterpart = catalog.levelCounterpart(gain: gain) else { return nil }
        return Movement(
            product: product, quantity: target == nil ? change.absolute : .zero,
            from: gain ? counterpart.key : location, to: gain ? location : counterpart.key,
            level: StockLevel(location: location, target: target, expected: expected))
    }

    /// The signed change this movement makes at its level's location (or at `to`).
    public var signedChange: Quantity {
        let location = level?.location ?? to
        return to == location ? quantity : -quantity
    }

    /// The level after the change, once applied: the level asked, or the balance read plus
    /// the change (nil for a relative change applied without a read).
    public var levelAfter: Quantity? {
        guard let level else { return nil }
        if let target = level.target { return target }
        return level.before.map { $0 + signedChange }
    }

    /// This level movement resolved against the balance read at its location: the compare-and-set
    /// checked, and quantity and direction set to take `balance` to the level asked. A movement
    /// without a level is returned as it is.
    public func resolved(balance: Quantity, catalog: Catalog) throws(GatewayError) -> Movement {
        guard var level else { return self }
        if let expected = level.expected, expected != balance {
            throw GatewayError.conflict(
                "the level of '\(product)' at '\(level.location)' is \(balance), not the \(expected) expected: nothing was changed",
                field: "expected")
        }
        let change = level.target.map { $0 - balance } ?? signedChange
        guard (balance + change).isInRange else {
            throw GatewayError.invalidValue(
                "the level of '\(product)' at '\(level.location)' would pass \(Quantity.maxIntegerDigits) integer digits",
                field: "quantity")
        }
        guard let counterpart = catalog.levelCounterpart(gain: !change.isNegative) else {
            throw GatewayError.unsupported("the catalog has no location to take a level change from or to")
        }
        var movement = self
        level.before = balance
        movement.level = level
        movement.quantity = change.absolute
        movement.from = change.isNegative ? level.location : counterpart.key
        movement.to = change.isNegative ? counterpart.key : level.location
        return movement
    }

    /// What was done, in words: "level 7 asked; balance 5 read; +2 sent" (`sent`: the verb for
    /// the change made, "applied" in the embedded ledger).
    public func levelSummary(verb: String = "applied") -> String? {
        guard let level else { return nil }
        var parts: [String] = []
        if let target = level.target {
            parts.append("level \(target) asked")
        } else {
            parts.append("change \(signedChange.isNegative ? "" : "+")\(signedChange) asked")
        }
        if let expected = level.expected { parts.append("\(expected) expected") }
        guard let before = level.before else {
            // Sent without a read: a relative change as a movement, or a level to a backend
            // that sets it itself and did not say what it replaced.
            parts.append(
                level.target == nil
                    ? "\(signedChange.isNegative ? "" : "+")\(signedChange) \(verb)"
                    : "\(verb) as a level; the balance it replaced is unknown")
            return parts.joined(separator: "; ")
        }
        parts.append("balance \(before) read")
        let change = signedChange
        parts.append(
            change.isZero
                ? "nothing to \(verb == "sent" ? "send" : "apply")" : "\(change.isNegative ? "" : "+")\(change) \(verb)"
        )
        return parts.joined(separator: "; ")
    }
}

extension Catalog {
    /// The location a level change takes stock from (`gain`) or gives it to: the catalog's
    /// outside location, else a supplier for a gain and the bin (then sold) for a loss.
    public func levelCounterpart(gain: Bool) -> Location? {
        if let outside = firstLocation(kind: .outside) { return outside }
        return gain ? firstLocation(kind: .supplier) : (firstLocation(kind: .bin) ?? firstLocation(kind: .sold))
    }
}
