import StockCore

/// An Open2b backend: one signed adjustment of the stock-role location per call.
public struct Open2bOutbound: OutboundCodec {
    public let version: Open2bCodec.Version
    public var dialect: DialectID { DialectID(version.rawValue) }
    public let capabilities = BackendCapabilities(
        maxBatchItems: 1, atomicRequests: true, integerQuantities: false, maxFractionDigits: 2,
        pendingTransfers: false, balanceReads: false, idempotencyKeys: false)

    public init(version: Open2bCodec.Version) {
        self.version = version
    }

    /// The signed adjustment for a movement, or a refusal when Open2b cannot express it.
    func adjustment(_ item: Movement, catalog: Catalog) throws(GatewayError) -> (sku: String, adjustment: String) {
        guard let stock = catalog.location(open2bRole: .stock) else {
            throw GatewayError.unsupported("the catalog has no open2b_role stock location", field: "to")
        }
        guard let sku = catalog.product(key: item.product)?.sku else {
            throw GatewayError.unsupported(
                "product '\(item.product)' has no sku for Open2b in the catalog", field: "product")
        }
        let signed: Quantity
        let other: String
        if item.to == stock.key {
            signed = item.quantity
            other = item.from
        } else if item.from == stock.key {
            signed = -item.quantity
            other = item.to
        } else {
            throw GatewayError.unsupported(
                "Open2b only knows adjustments of '\(stock.key)'; this movement does not touch it", field: "from")
        }
        guard let otherLocation = catalog.location(key: other), !otherLocation.kind.isTracked else {
            throw GatewayError.unsupported(
                "Open2b only knows adjustments of one location: a move between '\(item.from)' and '\(item.to)' cannot be expressed",
                field: item.to == stock.key ? "from" : "to")
        }
        // `MovePlan` refused more than two decimals (the capabilities say so) before this.
        guard let text = signed.fixed(fractionDigits: 2) else {
            throw GatewayError.unsupported(
                "a \(version.rawValue) backend carries at most 2 decimals, got \(item.quantity)", field: "quantity")
        }
        guard item.quantity <= Open2bCodec.maxAdjustment else {
            throw GatewayError.unsupported(
                "Open2b adjustments stop at 999999999.99, got \(item.quantity)", field: "quantity")
        }
        return (sku, text)
    }

    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try adjustment(item, catalog: catalog)
    }

    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest
    {
        guard items.count == 1, let item = items.first else {
            throw GatewayError.internalError("Open2b takes one movement per call")
        }
        let (sku, adjustment) = try self.adjustment(item, catalog: catalog)
        var movement = JSONObject([.init("sku", .string(sku)), .init("adjustment", .string(adjustment))])
        if let description = item.description ?? item.reference ?? item.reason {
            movement["description"] = .string(String(description.prefix(255)))
        }
        return .json(.post, version.prefix + "/commerce.movements.create", ["movement": .object(movement)])
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        let json = response.json
        guard response.status == 200 else {
            let error = backendError(
                status: response.status, message: "Open2b answered \(response.status): \(response.text)")
            return items.map { _ in .failed(error) }
        }
        // Open2b answers its own refusals with 200 too: only the body says which it was.
        guard let json, json["status"] == "ok" || json["status"] == "error" else {
            return items.map { _ in .failed(unreadableAnswer("Open2b", response)) }
        }
        if json["status"] == "ok" {
            return items.map { item in
                var movement = item
                movement.id = json["id"]?.numberText.flatMap { Int64($0) }
                return .applied(movement)
            }
        }
        let type = json["error"]?["type"]?.stringValue ?? ""
        let code: GatewayError.Code
        switch type {
        case "NotFound": code = .notFound
        case "Missing": code = .missing
        case "Malformed": code = .malformed
        case "UnknownField": code = .unknownField
        default: code = .invalidValue
        }
        let message = json["error"]?["description"]?.stringValue ?? "Open2b refused the movement"
        let field: String? =
            switch json["error"]?["field"]?.stringValue.map(Open2bCodec.vendorField) {
            case "sku": "product"  // the vendor's tables name the member alone; `movement.sku` is read the same
            case "adjustment": "quantity"
            default: nil
            }
        return items.map { _ in .failed(GatewayError(code: code, message: message, field: field)) }
    }
}
