import StockCore

/// StockGate's own JSON for movements, balances, locations and errors, shared by the
/// inbound codec and (later) the outbound codec that talks to another StockGate.
public enum CanonicalJSON {
    static let movementFields: Set<String> = [
        "product", "quantity", "from", "to", "reason", "reference", "description", "user", "source", "externalId",
        "pending", "allowOverage", "extras",
    ]
    static let extrasFields: Set<String> = [
        "batchReference", "expiryDate", "deliveredDate", "fromOrder", "toOrder", "dissociateIfEmpty", "isSystem",
        "trackingStatusChange",
    ]
    static let orderFields: Set<String> = ["orderNumber", "lineNumber", "shipmentNumber", "shipmentLineNumber"]

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
            extras.batchReference = try extrasReader.string("batchReference", maxLength: maxTextLength)
            extras.expiryDate = try extrasReader.string("expiryDate", maxLength: 64)
            extras.deliveredDate = try extrasReader.string("deliveredDate", maxLength: 64)
            extras.fromOrder = try order(extrasReader.object("fromOrder"))
            extras.toOrder = try order(extrasReader.object("toOrder"))
            extras.dissociateIfEmpty = try extrasReader.bool("dissociateIfEmpty")
            extras.isSystem = try extrasReader.bool("isSystem")
            extras.trackingStatusChange = try extrasReader.string("trackingStatusChange", maxLength: 64)
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

    private static func order(_ reader: FieldReader?) throws(GatewayError) -> CustomerOrderRef? {
        guard let reader else { return nil }
        try reader.rejectUnknown(orderFields)
        let int32 = Int64(Int32.min)...Int64(Int32.max)
        return CustomerOrderRef(
            orderNumber: try reader.string("orderNumber", maxLength: maxTextLength),
            lineNumber: try reader.integer("lineNumber", range: int32).map { Int($0) },
            shipmentNumber: try reader.string("shipmentNumber", maxLength: maxTextLength),
            shipmentLineNumber: try reader.integer("shipmentLineNumber", range: int32).map { Int($0) })
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
            ("dialect", movement.dialect), ("requestId", movement.requestID),
            ("idempotencyKey", movement.idempotencyKey), ("backend", movement.backend),
        ]
        for (key, value) in optional { if let value { object[key] = .string(value) } }
        if movement.allowOverage { object["allowOverage"] = true }
        if let reverses = movement.reverses { object["reverses"] = .integer(reverses) }
        if !movement.extras.isEmpty { object["extras"] = json(movement.extras) }
        return .object(object)
    }

    static func json(_ extras: MovementExtras) -> JSONValue {
        var object = JSONObject()
        if let value = extras.batchReference { object["batchReference"] = .string(value) }
        if let value = extras.expiryDate { object["expiryDate"] = .string(value) }
        if let value = extras.deliveredDate { object["deliveredDate"] = .string(value) }
        if let value = extras.fromOrder { object["fromOrder"] = json(value) }
        if let value = extras.toOrder { object["toOrder"] = json(value) }
        if let value = extras.dissociateIfEmpty { object["dissociateIfEmpty"] = .bool(value) }
        if let value = extras.isSystem { object["isSystem"] = .bool(value) }
        if let value = extras.trackingStatusChange { object["trackingStatusChange"] = .string(value) }
        return .object(object)
    }

    static func json(_ order: CustomerOrderRef) -> JSONValue {
        var object = JSONObject()
        if let value = order.orderNumber { object["orderNumber"] = .string(value) }
        if let value = order.lineNumber { object["lineNumber"] = .integer(value) }
        if let value = order.shipmentNumber { object["shipmentNumber"] = .string(value) }
        if let value = order.shipmentLineNumber { object["shipmentLineNumber"] = .integer(value) }
        return .object(object)
    }

    public static func json(_ balance: Balance) -> JSONValue {
        [
            "product": .string(balance.product), "location": .string(balance.location),
            "quantity": .string(balance.quantity.description),
        ]
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
