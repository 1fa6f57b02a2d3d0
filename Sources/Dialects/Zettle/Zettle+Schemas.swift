import StockCore

extension ZettleCodec {
    /// What each route takes, as `decode` checks it. Members the decoder does not read are
    /// ignored, and null reads as absent (clients that serialize every property send null for
    /// the ones they leave unset), so objects are open and optional members nullable. A location,
    /// product or variant the catalog does not hold, or an organization other than `self` and
    /// the configured one, is a 404.
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let uuid = SchemaFragment.uuid
        let org: [String: JSONValue] = ["org": ["type": "string", "minLength": 1]]
        let type = SchemaFragment.oneOf(["STORE", "SUPPLIER", "SOLD", "BIN"])
        switch route.endpoint {
        case .locationsList:
            return RequestSchema(query: [.init("type", type)], path: org)
        case .locationBalances:
            return RequestSchema(path: org.merging(["locationUuid": uuid]) { $1 })
        case .storeBalances:
            return RequestSchema(path: org)
        case .typeBalances:
            return RequestSchema(query: [.init("type", type, required: true)], path: org)
        case .productBalances:
            return RequestSchema(path: org.merging(["locationUuid": uuid, "productUuid": uuid]) { $1 })
        case .productsBalances:
            return RequestSchema(
                body: SchemaFragment.object(
                    [("locationType", type), ("productUuids", SchemaFragment.array(uuid, minItems: 0))],
                    required: ["locationType", "productUuids"]),
                path: org)
        case .trackingStart:
            return RequestSchema(
                body: SchemaFragment.object([("productUuid", uuid)], required: ["productUuid"]), path: org)
        case .trackingStop:
            return RequestSchema(path: org.merging(["productUuid": uuid]) { $1 })
        case .inventoryUpdate:
            let change = Self.changeSchema(withProduct: true)
            return RequestSchema(
                body: SchemaFragment.object(
                    [("changes", SchemaFragment.batch(change, maxItems: Self.maxChanges))] + Self.reportMembers,
                    required: ["changes"]),
                path: org)
        case .inventoryBulk:
            let product = SchemaFragment.object(
                [
                    ("productUuid", uuid),
                    (
                        "trackingStatusChange",
                        SchemaFragment.nullable(SchemaFragment.oneOf(["START_TRACKING", "STOP_TRACKING", "NO_CHANGE"]))
                    ),
                    (
                        "variantChanges",
                        SchemaFragment.nullable(
                            SchemaFragment.array(Self.changeSchema(withProduct: false), minItems: 0))
                    ),
                ], required: ["productUuid"])
            return RequestSchema(
                body: SchemaFragment.object(
                    [("productChanges", SchemaFragment.array(product))] + Self.reportMembers,
                    required: ["productChanges"]),
                path: org)
        }
    }

    /// The location whose balances the answer reports, and the caller's correlation id.
    static var reportMembers: [(String, JSONValue)] {
        [
            ("returnBalanceForLocationUuid", SchemaFragment.nullable(SchemaFragment.uuid)),
            ("externalUuid", SchemaFragment.nullable(SchemaFragment.uuid)),
        ]
    }

    /// One change: a variant moved between two locations by a positive `change`.
    static func changeSchema(withProduct: Bool) -> JSONValue {
        let uuid = SchemaFragment.uuid
        return SchemaFragment.object(
            (withProduct ? [("productUuid", uuid)] : []) + [
                ("variantUuid", uuid), ("fromLocationUuid", uuid), ("toLocationUuid", uuid),
                ("change", SchemaFragment.quantity()),
            ],
            required: (withProduct ? ["productUuid"] : []) + [
                "variantUuid", "fromLocationUuid", "toLocationUuid", "change",
            ])
    }
}
