import Foundation

/// What every store does the same way when it checks, journals and queries movements.

extension Movement {
    /// The checks every store makes before a movement touches a balance, needing only the
    /// catalog: a positive quantity, a known product and two different known locations.
    public func check(against catalog: Catalog) throws(GatewayError) {
        guard quantity.isPositive else {
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

extension MovementExtras {
    /// The extras as stored in a journal row's `extras` column (JSON, keys sorted).
    public static func json(_ extras: MovementExtras) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(extras), as: UTF8.self)
    }

    /// Extras read back from a journal row.
    public init(json text: String) throws {
        self = try JSONDecoder().decode(MovementExtras.self, from: Data(text.utf8))
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
