import StockCore

extension StoreFeederCodec {
    /// What each route takes, as `decode` checks it. ASP.NET's binder reads member names and
    /// enum values in any case and ignores members it does not know, so objects are open and
    /// the enums name the vendor's spelling. The bulk endpoints answer a malformed item in its
    /// own result (`Success: false`, HTTP 200), as the vendor does: only the array itself
    /// (not an array, empty, too long) refuses the request.
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let positiveID: JSONValue = ["type": "string", "pattern": "^\\+?0*[1-9][0-9]{0,17}$"]
        switch route.endpoint {
        case .locationsList:
            return RequestSchema(query: [
                .init("WarehouseID", SchemaFragment.integer(1...Int64(Int32.max))),
                .init("HasProducts", ["type": "boolean"]), .init("IsEmpty", ["type": "boolean"]),
                .init("KeepProduct", ["type": "boolean"]), .init("IncludeSystem", ["type": "boolean"]),
                .init("SKU", ["type": "string"]), .init("PageSize", SchemaFragment.integer(1...100)),
                .init("Page", SchemaFragment.integer(1...Int64(Int32.max))),
            ])
        case .locationGet:
            return RequestSchema(path: ["stockLocationID": positiveID])
        case .transfersCreate:
            return RequestSchema(body: SchemaFragment.batch(Self.transferSchema, maxItems: Self.maxBatchItems))
        case .inventoryUpdate:
            return RequestSchema(
                body: SchemaFragment.batch(
                    Self.inventoryUpdateSchema(withProduct: true), maxItems: Self.maxInventoryUpdates))
        case .productInventoryUpdate:
            return RequestSchema(body: Self.inventoryUpdateSchema(withProduct: false), path: ["productid": positiveID])
        }
    }

    /// `{"IDType", "Value"}` with `IDType` one of `types`.
    static func identifier(_ types: [String], warehouse: Bool = false) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("IDType", SchemaFragment.oneOf(types)), ("Value", SchemaFragment.text(maxLength: maxText)),
        ]
        if warehouse { members.append(("Warehouse", SchemaFragment.nullable(identifier(["Name", "ID"])))) }
        return SchemaFragment.object(members, required: ["IDType", "Value"])
    }

    /// One `StockTransferModel`.
    static var transferSchema: JSONValue {
        let text = SchemaFragment.nullable(SchemaFragment.text(maxLength: maxText, allowEmpty: true))
        let date = SchemaFragment.nullable(["type": "string", "maxLength": 40, "pattern": "^[0-9]{4}-..-"])
        let flag = SchemaFragment.nullable(["type": "boolean"])
        let location = identifier(["ID", "StockLocationReference"], warehouse: true)
        return SchemaFragment.object(
            [
                ("ProductIDType", identifier(["SKU", "ID"])), ("StockLocationFrom", location),
                ("StockLocationTo", location),
                ("TransferAmount", ["type": "integer", "minimum": 1, "maximum": .number("999999999999999999")]),
                ("ImmediateTransfer", ["type": "boolean"]),
                ("AssignedUserID", SchemaFragment.nullable(identifier(["Email", "ID"]))),
                ("StockLocationFromBatchReference", text), ("StockLocationFromExpiryDate", date),
                ("StockLocationFromDeliveredDate", date), ("DissociateProductIfEmpty", flag), ("IsSystem", flag),
                ("TransferReason", text),
            ],
            required: ["ProductIDType", "StockLocationFrom", "StockLocationTo", "TransferAmount", "ImmediateTransfer"])
    }

    /// One inventory update: an absolute level (zero or more) or a relative change (not zero),
    /// a whole number within 32 bits, at a stock location; with `withProduct`, the product too.
    static func inventoryUpdateSchema(withProduct: Bool) -> JSONValue {
        let limit = Int(Int32.max)
        let common: [(String, JSONValue)] =
            (withProduct ? [("ProductIDType", identifier(["SKU", "ID"]))] : []) + [
                // Null or absent: the Unspecified location (the vendor's help), refused 409 here.
                (
                    "StockLocationID",
                    SchemaFragment.nullable(identifier(["ID", "StockLocationReference"], warehouse: true))
                ),
                ("Reason", SchemaFragment.nullable(SchemaFragment.text(maxLength: maxText, allowEmpty: true))),
            ]
        let required = (withProduct ? ["ProductIDType"] : []) + ["AdjustmentType", "AdjustmentAmount"]
        return [
            "anyOf": [
                SchemaFragment.object(
                    common + [
                        ("AdjustmentType", ["const": "AbsoluteAdjustment"]),
                        ("AdjustmentAmount", ["type": "integer", "minimum": 0, "maximum": .integer(limit)]),
                    ], required: required),
                SchemaFragment.object(
                    common + [
                        ("AdjustmentType", ["const": "RelativeAdjustment"]),
                        (
                            "AdjustmentAmount",
                            [
                                "type": "integer", "minimum": .integer(-limit), "maximum": .integer(limit),
                                "not": ["const": 0],
                            ]
                        ),
                    ], required: required),
            ]
        ]
    }
}
