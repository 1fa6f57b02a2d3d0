import StockCore

extension ZettleV3Codec {
    /// What each route takes, as `decode` checks it. An inventory or product UUID the catalog
    /// does not hold is a 404, not a schema matter; `from` and `to` must differ (400).
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let uuid = SchemaFragment.uuid
        // A member the decoder reads as absent when null.
        let optionalUUID: JSONValue = ["anyOf": [uuid, ["type": "null"]]]
        let page = [
            RequestSchema.Parameter("limit", SchemaFragment.integer(1...Int64(Self.maxLimit))),
            RequestSchema.Parameter("cursor", ["type": "string", "minLength": 1, "maxLength": 100]),
        ]
        switch route.endpoint {
        case .inventoriesList:
            return RequestSchema()
        case .inventoryGet:
            return RequestSchema(path: ["inventoryUuid": uuid])
        case .movementsCreate:
            let movement = SchemaFragment.object(
                [
                    ("productUuid", uuid), ("variantUuid", uuid), ("from", uuid), ("to", uuid),
                    ("change", SchemaFragment.quantity()),
                ], required: ["productUuid", "variantUuid", "from", "to", "change"])
            return RequestSchema(
                body: SchemaFragment.object(
                    [
                        ("movements", SchemaFragment.batch(movement, maxItems: Self.maxMovements)),
                        ("identifier", optionalUUID),
                    ], required: ["movements"]))
        case .stockAll:
            return RequestSchema(query: page)
        case .stockInventory:
            return RequestSchema(query: page, path: ["inventoryUuid": uuid])
        case .stockProduct:
            return RequestSchema(query: page, path: ["inventoryUuid": uuid, "productUuid": uuid])
        case .productsTracking:
            let item = SchemaFragment.object(
                [("productUuid", uuid), ("tracking", SchemaFragment.oneOf(["enable", "disable"]))],
                required: ["productUuid", "tracking"])
            return RequestSchema(body: SchemaFragment.array(item))
        case .productsStatus:
            return RequestSchema(body: SchemaFragment.array(uuid, maxItems: Self.maxStatusProducts))
        }
    }
}
