import StockCore

/// A Colleqtive backend: movements within one store, all-or-nothing per request.
public struct ColleqtiveOutbound: OutboundCodec {
    public var dialect: DialectID { ColleqtiveCodec.dialect }
    public let capabilities = BackendCapabilities(
        maxBatchItems: ColleqtiveCodec.maxBatchItems, atomicRequests: true, integerQuantities: false,
        maxFractionDigits: nil, pendingTransfers: false, balanceReads: false, idempotencyKeys: false)
    public let parameters: BackendParameters

    public init(parameters: BackendParameters = BackendParameters()) {
        self.parameters = parameters
    }

    struct Ends {
        var store: String
        var from: Location
        var to: Location
    }

    func ends(_ item: Movement, catalog: Catalog) throws(GatewayError) -> Ends {
        guard let from = catalog.location(key: item.from), let to = catalog.location(key: item.to) else {
            throw GatewayError.notFound("unknown location", field: "from")
        }
        guard let store = from.colleqtiveStore ?? to.colleqtiveStore else {
            throw GatewayError.unsupported(
                "neither '\(from.key)' nor '\(to.key)' is a location of a Colleqtive store", field: "from")
        }
        func resolve(_ location: Location, asSource: Bool, field: String) throws(GatewayError) -> Location {
            if location.colleqtiveStore == store && location.colleqtiveLocationCode != nil { return location }
            if let substitute = catalog.untrackedSubstitute(
                for: location, asSource: asSource,
                where: { $0.colleqtiveStore == store && $0.colleqtiveLocationCode != nil })
            {
                return substitute
            }
            throw GatewayError.unsupported(
                "location '\(location.key)' has no Colleqtive location in store \(store) (Colleqtive moves stock within one store)",
                field: field)
        }
        return Ends(
            store: store, from: try resolve(from, asSource: true, field: "from"),
            to: try resolve(to, asSource: false, field: "to"))
    }

    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try ends(item, catalog: catalog)
    }

    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest
    {
        var store: String?
        var body: [JSONValue] = []
        body.reserveCapacity(items.count)
        for item in items {
            let ends = try self.ends(item, catalog: catalog)
            if let store, store != ends.store {
                throw GatewayError.unsupported("a Colleqtive request moves stock within one store", field: "from")
            }
            store = ends.store
            let product = catalog.product(key: item.product)?.effectiveColleqtiveNumber ?? item.product
            var object = JSONObject()
            object["product_number"] = .string(product)
            object["quantity"] = .number(item.quantity.description)
            object["from_location"] = location(ends.from, order: item.extras.fromOrder)
            object["to_location"] = location(ends.to, order: item.extras.toOrder)
            object["allow_overage"] = .bool(item.allowOverage)
            if let reason = item.reason { object["reason_code"] = .string(reason) }
            if let reference = item.reference { object["reference"] = .string(reference) }
            object["source"] = .string(item.sourceSystem ?? "stockgate")
            body.append(.object(object))
        }
        var path = "/api/v2/public/stores/\(percentEncoded(store ?? ""))/storeproductlocation/movement"
        if let user = items.first?.user ?? parameters.colleqtiveAppUser {
            path += "?AppUserName=\(percentEncoded(user))"
        }
        return .json(.post, path, .array(body))
    }

    func location(_ location: Location, order: CustomerOrderRef?) -> JSONValue {
        var object = JSONObject()
        object["location_code"] = .string(location.colleqtiveLocationCode ?? "")
        if let pool = location.colleqtiveStockPool { object["stock_pool"] = .integer(pool) }
        if let order {
            if let value = order.orderNumber { object["customer_order_number"] = .string(value) }
            if let value = order.lineNumber { object["customer_order_line_number"] = .integer(value) }
            if let value = order.shipmentNumber { object["customer_order_shipment_number"] = .string(value) }
            if let value = order.shipmentLineNumber { object["customer_order_shipment_line_number"] = .integer(value) }
        }
        return .object(object)
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        let json = response.json
        if (200..<300).contains(response.status), json?["success"]?.boolValue == nil {
            return items.map { _ in .failed(unreadableAnswer("Colleqtive", response)) }
        }
        guard (200..<300).contains(response.status), json?["success"] == true else {
            let message = json?["message"]?.stringValue ?? "Colleqtive answered \(response.status): \(response.text)"
            let error = backendError(status: response.status, message: message)
            return items.map { _ in .failed(error) }
        }
        let ids = (json?["data"]?.stringValue ?? "").split(separator: ",").map { Int64($0) }
        return items.enumerated().map { index, item in
            var movement = item
            if index < ids.count, let id = ids[index] { movement.id = id }
            return .applied(movement)
        }
    }
}
