import StockCore

extension ColleqtiveCodec {
    /// What each route takes, as `decode` checks it. Members and query parameters it does not
    /// know are ignored, as the vendor's binder ignores them, so the objects are open; query
    /// names match in any case. A store, product or location the catalog does not hold is a 404.
    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? {
        let store: [String: JSONValue] = ["store_number": ["type": "string", "minLength": 1]]
        let page = [
            RequestSchema.Parameter("page_start", SchemaFragment.integer(1...Int64(Int32.max))),
            RequestSchema.Parameter("page_size", SchemaFragment.integer(1...1000)),
        ]
        let dateTime: JSONValue = ["type": "string", "format": "date-time"]
        let wholeNumber = SchemaFragment.integer(0...Int64.max)
        switch route.endpoint {
        case .storesList:
            return RequestSchema(query: page)
        case .locationsList:
            return RequestSchema(query: page, path: store)
        case .locationProducts:
            return RequestSchema(
                query: page + [.init("stock_pool", SchemaFragment.integer(Self.int32))],
                path: store.merging(["location_code": ["type": "string", "minLength": 1]]) { $1 })
        case .storeproductsStock:
            return RequestSchema(
                query: page + [
                    .init("store_number", ["type": "string"]), .init("product_number", ["type": "string"]),
                    .init("last_stock_modified_datetime", dateTime),
                ])
        case .storeproductLogs:
            return RequestSchema(
                query: page + [
                    .init("store_number", ["type": "string"]), .init("article_number", ["type": "string"]),
                    .init("from_id", wholeNumber), .init("to_id", wholeNumber), .init("reason_code", wholeNumber),
                    .init("reference_id", wholeNumber), .init("review_status", wholeNumber),
                    .init("reference", ["type": "string"]), .init("customer_order_number", ["type": "string"]),
                    .init("last_modified_date", dateTime), .init("to_modified_date", dateTime),
                ])
        case .movementCreate:
            return RequestSchema(
                body: SchemaFragment.batch(Self.movementSchema, maxItems: Self.maxBatchItems),
                query: [.init("AppUserName", SchemaFragment.text(maxLength: Self.maxText, allowEmpty: true))],
                path: store)
        }
    }

    /// One movement of the body: a product number, a quantity (a JSON number only) and the
    /// two locations of the store.
    static var movementSchema: JSONValue {
        let text = SchemaFragment.nullable(SchemaFragment.text(maxLength: maxText, allowEmpty: true))
        let int32 = SchemaFragment.nullable(SchemaFragment.integer(Self.int32))
        let location = SchemaFragment.object(
            [
                ("location_code", SchemaFragment.text(maxLength: 64)), ("stock_pool", int32),
                ("customer_order_number", text), ("customer_order_line_number", int32),
                ("customer_order_shipment_number", text), ("customer_order_shipment_line_number", int32),
            ], required: ["location_code"])
        return SchemaFragment.object(
            [
                ("product_number", SchemaFragment.text(maxLength: 64)),
                ("quantity", SchemaFragment.quantity(allowString: false)),
                ("from_location", location), ("to_location", location), ("reason_code", text), ("reference", text),
                ("source", text), ("allow_overage", SchemaFragment.nullable(["type": "boolean"])),
            ], required: ["product_number", "quantity", "from_location", "to_location"])
    }
}
