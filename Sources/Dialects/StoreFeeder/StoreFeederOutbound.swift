import StockCore

/// A StoreFeeder backend: bulk transfers with per-item results, whole quantities only; levels
/// natively, as stock sync updates (`PUT /products/stocklocationinventory`, 50 per call).
public struct StoreFeederOutbound: OutboundCodec {
    public var dialect: DialectID { StoreFeederCodec.dialect }
    public let capabilities = BackendCapabilities(
        maxBatchItems: StoreFeederCodec.maxBatchItems, atomicRequests: false, integerQuantities: true,
        maxFractionDigits: 0, pendingTransfers: true, balanceReads: false, idempotencyKeys: false, nativeLevels: true,
        maxLevelItems: StoreFeederCodec.maxInventoryUpdates)

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
        if let level = item.level { return try check(level, of: item, catalog: catalog) }
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
        if items.first?.level != nil { return try levelRequest(items, catalog: catalog) }
        var transfers: [JSONValue] = []
        for item in items { transfers.append(try transfer(item, catalog: catalog)) }
        return .json(.post, "/stocklocations/create-transfers", .array(transfers))
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        if items.first?.level != nil { return levelResult(response, items: items) }
        if (200..<300).contains(response.status),
            response.json?["Responses"]?.arrayValue.map({ $0.count == items.count }) != true
        {
            return items.map { _ in .failed(unreadableAnswer("StoreFeeder", response)) }
        }
        guard response.status == 200, let responses = response.json?["Responses"]?.arrayValue,
            responses.count == items.count
        else {
            let error = Self.wholeRefusal(response)
            return items.map { _ in .failed(error) }
        }
        return zip(responses, items).map { result, item in
            if result["Success"] == true { return .applied(item) }
            return .failed(Self.itemError(result["Error"]?.stringValue ?? "StoreFeeder refused the transfer"))
        }
    }

    /// A request refused whole, in the vendor's words: the first `ModelState` entry, else its
    /// `Message`, else the status and the start of the body.
    static func wholeRefusal(_ response: OutboundResponse) -> GatewayError {
        let json = response.json
        var message = "StoreFeeder answered \(response.status): \(response.text)"
        if let state = json?["ModelState"]?.objectValue, let first = state.members.first {
            message =
                "\(first.key): " + (first.value.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? "")
        } else if let text = json?["Message"]?.stringValue {
            message = text
        }
        return backendError(status: response.status, message: message)
    }

    /// An item's refusal, its code from the vendor's words.
    static func itemError(_ message: String) -> GatewayError {
        let code: GatewayError.Code =
            message.contains("does not exist")
            ? .notFound : message.contains("holds") ? .insufficientStock : .invalidValue
        return GatewayError(code: code, message: message)
    }
}

/// Levels as StoreFeeder stock sync updates (rest.storefeeder.com/Help,
/// PUT-products-stocklocationinventory): an absolute level as an `AbsoluteAdjustment`, a
/// relative change as a `RelativeAdjustment`, each at the location by ID or reference.
extension StoreFeederOutbound {
    /// What StoreFeeder's stock sync cannot say: an expected level (it has no compare-and-set,
    /// and StockGate cannot read its balances to check one), a fraction, a location it does
    /// not know.
    func check(_ level: StockLevel, of item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try product(item, catalog: catalog)
        _ = try location(level.location, asSource: false, catalog: catalog, field: "location")
        if level.expected != nil {
            throw GatewayError.unsupported(
                "a storefeeder backend cannot check an expected level (no compare-and-set, no balance reads): send the level without one",
                field: "expected")
        }
        let amount = level.target ?? item.signedChange
        guard amount.isInteger, amount.intValue != nil else {
            throw GatewayError.unsupported(
                "a storefeeder backend carries whole quantities only, got \(amount)",
                field: level.target == nil ? "change" : "level")
        }
    }

    func levelRequest(_ items: [Movement], catalog: Catalog) throws(GatewayError) -> OutboundRequest {
        var updates: [JSONValue] = []
        for item in items {
            guard let level = item.level else {
                throw GatewayError.internalError("a movement in a StoreFeeder stock sync request")
            }
            var object = JSONObject()
            object["ProductIDType"] = try product(item, catalog: catalog).json
            object["AdjustmentType"] = .string(level.target == nil ? "RelativeAdjustment" : "AbsoluteAdjustment")
            object["AdjustmentAmount"] = .number((level.target ?? item.signedChange).description)
            object["StockLocationID"] = try location(
                level.location, asSource: false, catalog: catalog, field: "location"
            )
            .json
            if let reason = item.reason ?? item.description { object["Reason"] = .string(reason) }
            updates.append(.object(object))
        }
        return .json(.put, "/products/stocklocationinventory", .array(updates))
    }

    /// Each update's outcome: per item when the answer lists `Responses`; from the counts when
    /// it says all succeeded or all failed; otherwise nobody knows which applied (an unknown
    /// outcome, never a guess). A relative change's new inventory gives the balance it read.
    func levelResult(_ response: OutboundResponse, items: [Movement]) -> [BatchOutcome.Item] {
        let json = response.json
        guard response.status == 200 else {
            let error = Self.wholeRefusal(response)
            return items.map { _ in .failed(error) }
        }
        if let responses = json?["Responses"]?.arrayValue, responses.count == items.count {
            return zip(responses, items).map { result, item in
                guard result["Success"] == true else {
                    return .failed(Self.itemError(result["Error"]?.stringValue ?? "StoreFeeder refused the update"))
                }
                return .applied(Self.applied(item, newInventory: result["NewStockLocationInventory"]?["Inventory"]))
            }
        }
        let successful = json?["Successful"]?.numberText.flatMap { Int($0) }
        let failed = json?["Failed"]?.numberText.flatMap { Int($0) }
        if successful == items.count && failed == 0 { return items.map { .applied($0) } }
        if successful == 0 && failed == items.count {
            return items.map { _ in
                .failed(GatewayError(code: .invalidValue, message: "StoreFeeder refused the update"))
            }
        }
        return items.map { _ in .failed(unreadableAnswer("StoreFeeder", response)) }
    }

    /// A level item as StoreFeeder applied it: with the new inventory known, a relative change
    /// read `inventory - change`; an absolute level leaves the balance it replaced unknown.
    static func applied(_ item: Movement, newInventory: JSONValue?) -> Movement {
        guard var level = item.level, level.target == nil,
            let text = newInventory?.numberText ?? newInventory?.stringValue,
            let inventory = try? Quantity(parsing: text)
        else { return item }
        level.before = inventory - item.signedChange
        var movement = item
        movement.level = level
        return movement
    }
}
