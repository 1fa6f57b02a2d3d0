import StockCore

extension Open2bCodec {
    /// What each method takes, as `decode` checks it: members it does not know are refused,
    /// so the objects are closed. Open2b answers every call with HTTP 200 and says in the body
    /// whether it failed (`status: error`), so an HTTP client cannot tell a refusal by its status.
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        guard name.hasPrefix("commerce.movements."),
            let method = Method(rawValue: String(name.dropFirst("commerce.movements.".count)))
        else { return nil }
        let id = SchemaFragment.integer(1...Int64.max)
        let text = { (most: Int) in SchemaFragment.nullable(SchemaFragment.text(maxLength: most, allowEmpty: true)) }
        switch method {
        case .find:
            let fields = SchemaFragment.nullable(SchemaFragment.array(SchemaFragment.oneOf(Self.allFields)))
            let sortable = Self.orderFields.keys.sorted()
            let order = SchemaFragment.nullable(
                SchemaFragment.array(SchemaFragment.oneOf(sortable + sortable.map { "-" + $0 }), minItems: 0))
            return RequestSchema(
                body: SchemaFragment.object(
                    [
                        ("conditions", conditionsSchema), ("fields", fields), ("order", order),
                        (
                            "limit",
                            SchemaFragment.nullable(
                                SchemaFragment.integer(1...Int64(version.maxLimit ?? Int(Int32.max))))
                        ),
                        ("first", SchemaFragment.nullable(SchemaFragment.integer(0...Int64(Int32.max)))),
                    ], closed: true))
        case .count:
            return RequestSchema(body: SchemaFragment.object([("conditions", conditionsSchema)], closed: true))
        case .get:
            return RequestSchema(
                body: SchemaFragment.object(
                    [
                        ("id", id),
                        ("fields", SchemaFragment.nullable(SchemaFragment.array(SchemaFragment.oneOf(Self.allFields)))),
                    ], required: ["id"], closed: true))
        case .create:
            let movement = SchemaFragment.object(
                [
                    ("sku", SchemaFragment.text(maxLength: 32)), ("adjustment", Self.adjustmentSchema),
                    ("description", text(255)),
                ],
                required: ["sku", "adjustment"], closed: true)
            return RequestSchema(
                body: SchemaFragment.object([("movement", movement)], required: ["movement"], closed: true))
        case .update:
            let description = SchemaFragment.nullable(SchemaFragment.text(maxLength: 255))
            return RequestSchema(
                body: SchemaFragment.object(
                    [("id", id), ("movement", SchemaFragment.object([("description", description)], closed: true))],
                    required: ["id", "movement"], closed: true))
        case .delete:
            return RequestSchema(
                body: SchemaFragment.object(
                    [("ids", SchemaFragment.array(id, minItems: 0))], required: ["ids"], closed: true))
        }
    }

    /// `conditions` of find and count: `sku`, the creation time range (`YYYY-MM-DD hh:mm:ss`),
    /// `keywords`, and in v6 `after`.
    var conditionsSchema: JSONValue {
        let time = SchemaFragment.nullable([
            "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
        ])
        var members: [(String, JSONValue)] = [
            ("sku", SchemaFragment.nullable(SchemaFragment.text(maxLength: 32))), ("fromCreationTime", time),
            ("toCreationTime", time), ("keywords", SchemaFragment.nullable(SchemaFragment.text(maxLength: 100))),
        ]
        if version.hasAfter {
            members.append(("after", SchemaFragment.nullable(SchemaFragment.integer(0...Int64.max))))
        }
        return SchemaFragment.nullable(SchemaFragment.object(members, closed: true))
    }

    /// decimal(11,2), not zero: a number or a decimal string, at most 999999999.99 either way.
    static var adjustmentSchema: JSONValue {
        [
            "anyOf": [
                ["type": "number", "minimum": .number("0.01"), "maximum": .number("999999999.99")],
                ["type": "number", "minimum": .number("-999999999.99"), "maximum": .number("-0.01")],
                ["type": "string", "pattern": "^-?(0*[1-9][0-9]{0,8}(\\.[0-9]{1,2})?|0*\\.(0[1-9]|[1-9][0-9]?))$"],
            ]
        ]
    }
}
