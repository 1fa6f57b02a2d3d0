import StockCore

/// StockGate's own JSON for movements, balances, locations and errors, shared by the
/// inbound codec and (later) the outbound codec that talks to another StockGate.
public enum CanonicalJSON {
    static let movementFields: Set<String> = [
        "product", "quantity", "from", "to", "reason", "reference", "description", "user", "source", "externalId",
        "pending", "allowOverage", "extras",
    ]
    /// The dialects' declared extra fields (`ExtraField`).
    static let extrasFields = Set(ExtraField.all.map(\.name))
    static let levelFields: Set<String> = [
        "product", "location", "level", "change", "expected", "reason", "reference", "description", "user", "source",
        "externalId",
    ]

    /// Whether an item of a movements body is a level item (it names one `location`).
    static func isLevel(_ reader: FieldReader) -> Bool { reader.has("location") }

    /// Reads one level item: `{"product", "location", "level": "7"}` sets the level,
    /// `{"product", "location", "change": "-2"}` changes it; `"expected": "5"` makes either
    /// a compare-and-set. Quantities as numbers or decimal strings.
    public static func level(_ reader: FieldReader, catalog: Catalog) throws(GatewayError) -> Movement {
        try reader.rejectUnknown(levelFields)
        let product = try reader.requiredString("product", maxLength: 128)
        let location = try reader.requiredString("location", maxLength: 128)
        let target: Quantity? = reader.has("level") ? try reader.requiredQuantity("level", positive: false) : nil
        let change: Quantity? = reader.has("change") ? try reader.requiredQuantity("change", positive: false) : nil
        switch (target, change) {
        case (nil, nil):
            throw GatewayError.missing(reader.name("level"))
        case (.some, .some):
            throw GatewayError.invalidValue(
                "\(reader.name("level")) and \(reader.name("change")) exclude each other: set a level or change it",
                field: reader.name("change"))
        case (nil, .some(let change)) where change.isZero:
            throw GatewayError.invalidValue("\(reader.name("change")) must not be zero", field: reader.name("change"))
        default: break
        }
        if let target, target.isNegative {
            throw GatewayError.invalidValue(
                "\(reader.name("level")) must be zero or more, got \(target)", field: reader.name("level"))
        }
        let expected: Quantity? =
            reader.has("expected") ? try reader.requiredQuantity("expected", positive: false) : nil
        guard
            var movement = Movement.level(
                product: product, location: location, target: target, change: change ?? .zero, expected: expected,
                catalog: catalog)
        else {
            throw GatewayError.unsupported(
                "the catalog has no outside, supplier or bin location for a level change to come from or go to",
                field: reader.name("location"))
        }
        movement.reason = try reader.string("reason", maxLength: maxTextLength)
        movement.reference = try reader.string("reference", maxLength: maxTextLength)
        movement.description = try reader.string("description", maxLength: maxTextLength)
        movement.user = try reader.string("user", maxLength: maxTextLength)
        movement.sourceSystem = try reader.string("source", maxLength: maxTextLength)
        movement.externalID = try reader.string("externalId", maxLength: maxTextLength)
        return movement
    }

    /// A level item as StockGate's API sends it (to another StockGate).
    static func levelRequest(_ item: Movement, level: StockLevel) -> JSONValue {
        var object = JSONObject()
        object["product"] = .string(item.product)
        object["location"] = .string(level.location)
        if let target = level.target {
            object["level"] = .string(target.description)
        } else {
            object["change"] = .string(item.signedChange.description)
        }
        if let expected = level.expected { object["expected"] = .string(expected.description) }
        let texts: [(String, String?)] = [
            ("reason", item.reason), ("reference", item.reference), ("description", item.description),
            ("user", item.user), ("source", item.sourceSystem), ("externalId", item.externalID),
        ]
        for (key, value) in texts { if let value { object[key] = .string(value) } }
        return .object(object)
    }

    /// A level movement's facts as the API shows them: what was asked, what was read, what
    /// changed, and the sentence that says it.
    static func json(level: StockLevel, of movement: Movement) -> JSONValue {
        var object = JSONObject()
        object["location"] = .string(level.location)
        if let target = level.target { object["level"] = .string(target.description) }
        if let expected = level.expected { object["expected"] = .string(expected.description) }
        if let before = level.before { object["before"] = .string(before.description) }
        if let after = movement.levelAfter { object["after"] = .string(after.description) }
        if level.before != nil || level.target == nil { object["change"] = .string(movement.signedChange.description) }
        if let summary = movement.levelSummary(verb: movement.backend == nil ? "applied" : "sent") {
            object["summary"] = .string(summary)
        }
        return .object(object)
    }

    /// Longest free text accepted in a movement (reason, reference, description, …).
    public static let maxTextLength = 1000

    /// Reads one movement of a `POST /stockgate/v1/movements` body.
    public static func movement(_ reader: FieldReader) throws(GatewayError) -> Movement {
        try reader.rejectUnknown(movementFields)
        let text = { (key: String) throws(GatewayError) -> String? in
            try reader.string(key, maxLength: maxTextLength)
        }
        var extras = MovementExtras()
        if let extrasReader = try reader.object("extras") {
            try extrasReader.rejectUnknown(extrasFields)
            for field in ExtraField.all { extras[field.name] = try field.read(extrasReader) }
        }
        return Movement(
            product: try reader.requiredString("product", maxLength: 128),
            quantity: try reader.requiredQuantity("quantity"),
            from: try reader.requiredString("from", maxLength: 128),
            to: try reader.requiredString("to", maxLength: 128),
            reason: try text("reason"), reference: try text("reference"), description: try text("description"),
            user: try text("user"), sourceSystem: try text("source"), externalID: try text("externalId"),
            state: try reader.bool("pending") == true ? .pending : .applied,
            allowOverage: try reader.bool("allowOverage") ?? false, extras: extras)
    }

    /// A movement as StockGate's API shows it: quantities as decimal strings, absent values left out.
    public static func json(_ movement: Movement) -> JSONValue {
        var object = JSONObject()
        if let id = movement.id { object["id"] = .integer(id) }
        object["product"] = .string(movement.product)
        object["quantity"] = .string(movement.quantity.description)
        object["from"] = .string(movement.from)
        object["to"] = .string(movement.to)
        object["state"] = .string(movement.state.rawValue)
        let optional: [(String, String?)] = [
            ("reason", movement.reason), ("reference", movement.reference), ("description", movement.description),
            ("user", movement.user), ("source", movement.sourceSystem), ("externalId", movement.externalID),
            ("createdAt", movement.createdAt.map(Timestamp.iso8601)),
            ("appliedAt", movement.appliedAt.map(Timestamp.iso8601)),
            ("dialect", movement.dialect?.rawValue), ("requestId", movement.requestID),
            ("idempotencyKey", movement.idempotencyKey), ("backend", movement.backend),
        ]
        for (key, value) in optional { if let value { object[key] = .string(value) } }
        if movement.allowOverage { object["allowOverage"] = true }
        if let reverses = movement.reverses { object["reverses"] = .integer(reverses) }
        if !movement.extras.isEmpty { object["extras"] = json(movement.extras) }
        if let level = movement.level { object["level"] = json(level: level, of: movement) }
        if let reason = movement.failureReason { object["failure"] = .string(reason) }
        if let note = movement.settlementNote { object["settlement"] = .string(note) }
        return .object(object)
    }

    /// The extras as StockGate's API shows them: each declared field set, in the declared order.
    static func json(_ extras: MovementExtras) -> JSONValue {
        var object = JSONObject()
        for field in ExtraField.all {
            if let value = extras[field.name] { object[field.name] = field.json(value) }
        }
        return .object(object)
    }

    public static func json(_ balance: Balance) -> JSONValue {
        [
            "product": .string(balance.product), "location": .string(balance.location),
            "quantity": .string(balance.quantity.description),
        ]
    }

    /// `{"balances": [...]}` written straight into bytes: the same bytes as
    /// `JSONWriter.bytes(["balances": .array(balances.map(json))])` without building the tree
    /// (the read hop's answer; issue 34).
    public static func balancesBytes(_ balances: [Balance]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(16 + balances.count * 80)
        JSONWriter.appendLiteral(#"{"balances":["#, into: &output)
        for (index, balance) in balances.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONWriter.appendLiteral(#"{"product":"#, into: &output)
            JSONWriter.appendString(balance.product, into: &output)
            JSONWriter.appendLiteral(#","location":"#, into: &output)
            JSONWriter.appendString(balance.location, into: &output)
            JSONWriter.appendLiteral(#","quantity":""#, into: &output)
            balance.quantity.appendText(to: &output)
            JSONWriter.appendLiteral(#""}"#, into: &output)
        }
        JSONWriter.appendLiteral("]}", into: &output)
        return output
    }

    public static func json(_ location: Location) -> JSONValue {
        ["key": .string(location.key), "kind": .string(location.kind.rawValue)]
    }

    /// `{"error": {"code", "message", "field"?}}`
    public static func json(_ error: GatewayError) -> JSONValue {
        var object: JSONObject = JSONObject([
            .init("code", .string(error.code.description)), .init("message", .string(error.message)),
        ])
        if let field = error.field { object["field"] = .string(field) }
        return ["error": .object(object)]
    }
}
