import StockCore

extension CanonicalCodec {
    /// What each route takes, as `decode` checks it: unknown members and query parameters are
    /// refused, so the objects are closed. A product or location the catalog does not hold is
    /// refused when the batch is applied (a failed item, or 404 on a read), not by the schema.
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let id: [String: JSONValue] = ["id": ["type": "string", "pattern": "^0*[1-9][0-9]{0,17}$"]]
        let key = SchemaFragment.text(maxLength: 128)
        switch route.endpoint {
        case .balancesRead:
            return RequestSchema(query: [.init("product", key), .init("location", key)])
        case .movementsCreate:
            return RequestSchema(body: Self.batchSchema(member: "movements"))
        case .levelsSet:
            return RequestSchema(body: Self.batchSchema(member: "levels"))
        case .movementsFind:
            return RequestSchema(query: [
                .init("product", key), .init("location", key),
                .init("after", SchemaFragment.integer(0...Int64.max)),
                .init("limit", SchemaFragment.integer(1...Int64(Self.maxLimit))),
                .init("offset", SchemaFragment.integer(0...Int64(Int32.max))),
                .init("state", SchemaFragment.oneOf(MovementState.allCases.map(\.rawValue))),
                .init("backend", ["type": "string"]), .init("request", ["type": "string"]),
            ])
        case .movementsGet, .transfersConfirm:
            return RequestSchema(path: id)
        case .locationsList:
            return RequestSchema()
        case .journalSettle:
            return RequestSchema(
                body: SchemaFragment.object(
                    [("state", SchemaFragment.oneOf(["applied", "failed"]))], required: ["state"], closed: true),
                path: id)
        }
    }

    /// `{"movements": [...]}` (movements and level items) or `{"levels": [...]}` (level items).
    static func batchSchema(member: String) -> JSONValue {
        let items: JSONValue =
            member == "levels"
            ? ["anyOf": .array(CanonicalJSON.levelSchemas)]
            : ["anyOf": .array([CanonicalJSON.movementSchema] + CanonicalJSON.levelSchemas)]
        return SchemaFragment.object(
            [
                (member, SchemaFragment.batch(items, maxItems: maxBatchItems)),
                ("atomic", SchemaFragment.nullable(["type": "boolean"])),
            ], required: [member], closed: true)
    }
}

extension CanonicalJSON {
    static var texts: [(String, JSONValue)] {
        ["reason", "reference", "description", "user", "source", "externalId"].map {
            ($0, SchemaFragment.nullable(SchemaFragment.text(maxLength: maxTextLength, allowEmpty: true)))
        }
    }

    /// A movement: `product`, `quantity`, `from`, `to`, texts, flags and `extras`; no `location`.
    static var movementSchema: JSONValue {
        let key = SchemaFragment.text(maxLength: 128)
        let flag = SchemaFragment.nullable(["type": "boolean"])
        let extras = SchemaFragment.nullable(
            SchemaFragment.object(ExtraField.all.map { ($0.name, $0.schema) }, closed: true))
        return SchemaFragment.object(
            [("product", key), ("quantity", SchemaFragment.quantity()), ("from", key), ("to", key)] + texts + [
                ("pending", flag), ("allowOverage", flag), ("extras", extras),
            ], required: ["product", "quantity", "from", "to"], closed: true)
    }

    /// A level item, one schema for "set to `level`" and one for "change by `change`": the two
    /// exclude each other. `level` is zero or more; `change` is not zero.
    static var levelSchemas: [JSONValue] {
        let key = SchemaFragment.text(maxLength: 128)
        let expected = SchemaFragment.nullable(SchemaFragment.quantity(positive: false, nonZero: false))
        let common: [(String, JSONValue)] = [("product", key), ("location", key), ("expected", expected)] + texts
        let level = SchemaFragment.level
        return [
            SchemaFragment.object(
                common + [("level", level), ("change", ["type": "null"])], required: ["product", "location", "level"],
                closed: true),
            SchemaFragment.object(
                common + [("change", SchemaFragment.quantity(positive: false)), ("level", ["type": "null"])],
                required: ["product", "location", "change"], closed: true),
        ]
    }
}
