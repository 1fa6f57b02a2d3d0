import Foundation

/// What every store does the same way when it checks, journals and queries movements.

extension Movement {
    /// The checks every store makes before a movement touches a balance, needing only the
    /// catalog: a positive quantity, a known product and two different known locations.
    public func check(against catalog: Catalog) throws(GatewayError) {
        if let level {
            try level.check(product: product, against: catalog)
        } else if !quantity.isPositive {
            throw GatewayError.invalidValue("quantity must be greater than zero, got \(quantity)", field: "quantity")
        }
        guard catalog.product(key: product) != nil else {
            throw GatewayError.notFound("product '\(product)' is not in the catalog", field: "product")
        }
        guard catalog.location(key: from) != nil else {
            throw GatewayError.notFound("location '\(from)' is not in the catalog", field: "from")
        }
        guard catalog.location(key: to) != nil else {
            throw GatewayError.notFound("location '\(to)' is not in the catalog", field: "to")
        }
        guard from != to else {
            throw GatewayError.invalidValue("from and to are the same location '\(from)'", field: "to")
        }
    }
}

extension Movement {
    /// What a journal row's `extras` column holds: the vendor extras and, for a level movement,
    /// the level under the key `level` (JSON, keys sorted); nil when there is neither.
    public func storedExtras() throws -> String? {
        if level == nil && extras.isEmpty && failureReason == nil && settlementNote == nil { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let stored = StoredExtras(
            extras: extras, level: level, failure: failureReason, settlement: settlementNote)
        return String(decoding: try encoder.encode(stored), as: UTF8.self)
    }

    /// Reads a journal row's `extras` column back into `extras` and `level`.
    public mutating func restoreExtras(_ text: String?) throws {
        guard let text else { return }
        let stored = try JSONDecoder().decode(StoredExtras.self, from: Data(text.utf8))
        extras = stored.extras
        level = stored.level
        failureReason = stored.failure
        settlementNote = stored.settlement
    }
}

/// The `extras` column: the extras' own fields, with the level and a failed forward's
/// reason and an unknown outcome's settlement (`failure`, `settlement`: the stores also set them in
/// place, `ForwardJournal.recordNotes`) beside them.
private struct StoredExtras: Codable {
    var extras: MovementExtras
    var level: StockLevel?
    var failure: String?
    var settlement: String?

    init(extras: MovementExtras, level: StockLevel?, failure: String?, settlement: String?) {
        self.extras = extras
        self.level = level
        self.failure = failure
        self.settlement = settlement
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        extras = MovementExtras()
        for key in container.allKeys {
            switch key.stringValue {
            case "level": level = try container.decodeIfPresent(StockLevel.self, forKey: key)
            case "failure": failure = try container.decodeIfPresent(String.self, forKey: key)
            case "settlement": settlement = try container.decodeIfPresent(String.self, forKey: key)
            default: extras[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
            }
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in extras.values { try container.encode(value, forKey: Key(name)) }
        try container.encodeIfPresent(level, forKey: Key("level"))
        try container.encodeIfPresent(failure, forKey: Key("failure"))
        try container.encodeIfPresent(settlement, forKey: Key("settlement"))
    }
}

extension StockLevel {
    /// The level's own checks: a stock location of the catalog, a level asked that is not
    /// negative, and an expected level within what quantities carry.
    func check(product: String, against catalog: Catalog) throws(GatewayError) {
        guard let place = catalog.location(key: location) else {
            throw GatewayError.notFound("location '\(location)' is not in the catalog", field: "location")
        }
        guard place.kind.isTracked else {
            throw GatewayError.invalidValue(
                "location '\(location)' is a \(place.kind.rawValue) location: only a stock location has a level",
                field: "location")
        }
        if let target, target.isNegative {
            throw GatewayError.invalidValue("the level asked must be zero or more, got \(target)", field: "level")
        }
    }
}

extension Movement {
    /// The movement as a store journals it, created at `millis` (since 1970, UTC) for the
    /// request in `facts`: applied unless pending, stamped, and carrying the request's dialect,
    /// id and idempotency key.
    public func journaled(atMillis millis: Int64, facts: RequestFacts) -> Movement {
        var movement = self
        movement.state = state == .pending ? .pending : .applied
        movement.createdAt = Date(timeIntervalSince1970: Double(millis) / 1000)
        movement.appliedAt = movement.state == .applied ? movement.createdAt : nil
        movement.dialect = facts.dialect
        movement.requestID = facts.requestID
        movement.idempotencyKey = facts.idempotencyKey
        return movement
    }
}

extension MovementQuery {
    /// `LIKE` patterns for the keywords, each word escaped (`\` the escape character) and
    /// wrapped in `%`: every word must appear in the description.
    public var keywordPatterns: [String] {
        guard let keywords else { return [] }
        return keywords.split(whereSeparator: \.isWhitespace).map { word in
            let escaped = word.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            return "%" + escaped + "%"
        }
    }
}

extension MovementQuery.SortField {
    /// The journal column a sort reads, the same in every store (`quantity` compared as an
    /// exact decimal by each store's own means).
    public var journalColumn: String {
        switch self {
        case .id: "id"
        case .product: "product"
        case .createdAt: "created_at"
        case .description: "description"
        case .quantity: "quantity"
        }
    }
}
