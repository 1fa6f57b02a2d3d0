import StockCore

/// A StoreFeeder backend: bulk transfers with per-item results, whole quantities only.
public struct StoreFeederOutbound: OutboundCodec {
    public var dialect: String { StoreFeederCodec.dialect }
    public let capabilities = BackendCapabilities(
        maxBatchItems: StoreFeederCodec.maxBatchItems, atomicRequests: false, integerQuantities: true,
        maxFractionDigits: 0, pendingTransfers: true, balanceReads: false, idempotencyKeys: false)

    public init() {}

    /// How StoreFeeder names a product or a location: `{"IDType": …, "Value": …}`, a location
    /// by reference possibly within a named warehouse.
    struct Reference {
        var idType: String
        var value: String
        var warehouse: String? = nil

        var json: JSONValue {
            var object = JSONObject([.init("IDType", .string(idType)), .init("Value", .string(value))])
            if let warehouse { object["Warehouse"] = ["IDType": "Name", "Value": .string(warehouse)] }
            return .object(object)
        }
    }

    func product(_ item: Movement, catalog: Catalog) throws(GatewayError) -> Reference {
        guard let product = catalog.product(key: item.product) else {
            throw GatewayError.notFound("unknown product '\(item.product)'", field: "product")
        }
        if let id = product.storefeederID { return Reference(idType: "ID", value: id) }
        if let sku = product.sku { return Reference(idType: "SKU", value: sku) }
        throw GatewayError.unsupported(
            "product '\(product.key)' has no StoreFeeder id or sku in the catalog", field: "product")
    }

    func location(_ key: String, asSource: Bool, catalog: Catalog, field: String) throws(GatewayError) -> Reference {
        guard let location = catalog.location(key: key) else {
            throw GatewayError.notFound("unknown location '\(key)'", field: field)
        }
        if let id = location.storefeederID { return Reference(idType: "ID", value: id) }
        if let reference = location.storefeederReference {
            return Reference(
                idType: "StockLocationReference", value: reference, warehouse: location.storefeederWarehouse)
        }
        // Every untracked location is outside StoreFeeder's stock locations.
        if !location.kind.isTracked { return Reference(idType: "StockLocationReference", value: "Unspecified") }
        throw GatewayError.unsupported(
            "location '\(key)' has no StoreFeeder id or reference in the catalog", field: field)
    }

    /// Refuses what StoreFeeder cannot carry, without building the request.
    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try product(item, catalog: catalog)
        _ = try location(item.from, asSource: true, catalog: catalog, field: "from")
        _ = try location(item.to, asSource: false, catalog: catalog, field: "to")
    }

    func transfer(_ item: Movement, catalog: Catalog) throws(GatewayError) -> JSONValue {
        var object = JSONObject()
        object["ProductIDType"] = try product(item, catalog: catalog).json
        object["StockLocationFrom"] = try location(item.from, asSource: true, catalog: catalog, field: "from").json
        object["StockLocationTo"] = try location(item.to, asSource: false, catalog: catalog, field: "to").json
        object["TransferAmount"] = .number(item.quantity.description)
        object["ImmediateTransfer"] = .bool(item.state != .pending)
        if let user = item.user {
            object["AssignedUserID"] = ["IDType": user.contains("@") ? "Email" : "ID", "Value": .string(user)]
        }
        if let reason = item.reason ?? item.description { object["TransferReason"] = .string(reason) }
        if let value = item.extras.batchReference { object["StockLocationFromBatchReference"] = .string(value) }
        if let value = item.extras.expiryDate { object["StockLocationFromExpiryDate"] = .string(value) }
        if let value = item.extras.deliveredDate { object["StockLocationFromDeliveredDate"] = .string(value) }
        if let value = item.extras.dissociateIfEmpty { object["DissociateProductIfEmpty"] = .bool(value) }
        if let value = item.extras.isSystem { object["IsSystem"] = .bool(value) }
        return .object(object)
    }

    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest
    {
        var transfers: [JSONValue] = []
        for item in items { transfers.append(try transfer(item, catalog: catalog)) }
        return .json(.post, "/stocklocations/create-transfers", .array(transfers))
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        if (200..<300).contains(response.status),
            response.json?["Responses"]?.arrayValue.map({ $0.count == items.count }) != true
        {
            return items.map { _ in .failed(unreadableAnswer("StoreFeeder", response)) }
        }
        guard response.status == 200, let responses = response.json?["Responses"]?.arrayValue,
            responses.count == items.count
        else {
            var message = "StoreFeeder answered \(response.status): \(response.text)"
            if let state = response.json?["ModelState"]?.objectValue, let first = state.members.first {
                message =
                    "\(first.key): " + (first.value.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? "")
            }
            let error = backendError(status: response.status, message: message)
            return items.map { _ in .failed(error) }
        }
        return zip(responses, items).map { result, item in
            if result["Success"] == true { return .applied(item) }
            let message = result["Error"]?.stringValue ?? "StoreFeeder refused the transfer"
            let code: GatewayError.Code =
                message.contains("does not exist")
                ? .notFound : message.contains("holds") ? .insufficientStock : .invalidValue
            return .failed(GatewayError(code: code, message: message))
        }
    }
}
