import HTTPTypes
import StockCore

/// StoreFeeder's bulk `POST /stocklocations/create-transfers`, and the stock location reads
/// (`GET /stocklocations`, paged, and `GET /stocklocations/{stockLocationID}`) from the catalog.
///
/// A JSON array of PascalCase transfers; each item stands or fails on its own and the
/// answer lists one response per item, in request order, with the item echoed. A body that
/// cannot be read at all (not JSON, not an array) is an ASP.NET-style whole-request 400:
/// `{"Message": "The request is invalid.", "ModelState": {...}}`.
public struct StoreFeederCodec: InboundCodec {
    public static let dialect: DialectID = "storefeeder"
    public var dialect: DialectID { Self.dialect }
    public static let maxBatchItems = 1000
    static let maxText = 255
    /// The seed's own text for an unknown location.
    static let unknownLocation = "Stock Location does not exist or you do not have permission to access it."
    static let unknownProduct = "Product does not exist or you do not have permission to access it."

    public enum Context: Sendable {
        case transfers(Transfers)
        /// `GET /stocklocations`: the filters, the page size and the page.
        case locations(LocationFilter, pageSize: Int, page: Int)
        /// `GET /stocklocations/{id}`: the catalog location.
        case location(String)
        /// `PUT products/stocklocationinventory` and `PUT products/{id}/stocklocationinventory`.
        case inventory(InventoryUpdates)
    }

    public struct Transfers: Sendable {
        /// Each request item as sent, echoed in its response.
        var items: [JSONValue]
        /// Per request item: the index in the move batch, or the error that kept it out.
        var slots: [Result<Int, GatewayError>]
    }

    public struct LocationFilter: Sendable {
        var warehouseID: Int?
        var hasProducts: Bool?
        var isEmpty: Bool?
        var sku: String?
    }

    public init() {}

    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case transfersCreate = "transfers.create"
        case locationsList = "locations.list"
        case locationGet = "location.get"
        case inventoryUpdate = "inventory.update"
        case productInventoryUpdate = "product.inventory.update"
    }

    public let routes: [Route<Endpoint>] = [
        Route(.transfersCreate, .post, "/stocklocations/create-transfers"),
        Route(.locationsList, .get, "/stocklocations"),
        Route(.locationGet, .get, "/stocklocations/{stockLocationID}"),
        Route(.inventoryUpdate, .put, "/products/stocklocationinventory"),
        Route(.productInventoryUpdate, .put, "/products/{productid}/stocklocationinventory"),
    ]

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        switch route.endpoint {
        case .locationsList: return try decodeLocationList(request, catalog: catalog)
        case .locationGet:
            let id = request.pathParameters["stockLocationID"] ?? ""
            guard Int(id).map({ $0 > 0 }) == true else {
                throw GatewayError.invalidValue(
                    "The value '\(id)' is not valid for stockLocationID.", field: "stockLocationID")
            }
            guard let location = catalog.location(storefeederID: id) else {
                throw GatewayError.notFound(Self.unknownLocation, field: "stockLocationID")
            }
            return Decoded(
                commands: [.readBalances(BalanceQuery(location: location.key, includeZero: false))],
                context: .location(location.key))
        case .transfersCreate: return try decodeTransfers(request, catalog: catalog)
        case .inventoryUpdate: return try decodeInventoryUpdates(request, single: false, catalog: catalog)
        case .productInventoryUpdate: return try decodeInventoryUpdates(request, single: true, catalog: catalog)
        }
    }

    /// The warehouses of the catalog's StoreFeeder locations, in order: `WarehouseID` is the position.
    static func warehouses(_ catalog: Catalog) -> [String] {
        var names: [String] = []
        for location in catalog.locations where location.storefeederID != nil {
            let name = location.storefeederWarehouse ?? "Default Warehouse"
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    func decodeLocationList(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        // Query names and values as ASP.NET binds them: case-insensitively.
        func integer(_ name: String, range: ClosedRange<Int>) throws(GatewayError) -> Int? {
            guard let text = request.queryValue(caseInsensitive: name) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw GatewayError.invalidValue("The value '\(text)' is not valid for \(name).", field: name)
            }
            return value
        }
        func boolean(_ name: String) throws(GatewayError) -> Bool? {
            guard let text = request.queryValue(caseInsensitive: name) else { return nil }
            switch text.lowercased() {
            case "true": return true
            case "false": return false
            default: throw GatewayError.invalidValue("The value '\(text)' is not valid for \(name).", field: name)
            }
        }
        var filter = LocationFilter()
        filter.warehouseID = try integer("WarehouseID", range: 1...Int(Int32.max))
        filter.hasProducts = try boolean("HasProducts")
        filter.isEmpty = try boolean("IsEmpty")
        _ = try boolean("KeepProduct")
        _ = try boolean("IncludeSystem")
        if let sku = request.queryValue(caseInsensitive: "SKU") {
            guard let product = catalog.product(sku: sku) else {
                throw GatewayError.notFound(Self.unknownProduct, field: "SKU")
            }
            filter.sku = product.key
        }
        let pageSize = try integer("PageSize", range: 1...100) ?? 100
        let page = try integer("Page", range: 1...Int(Int32.max)) ?? 1
        return Decoded(
            commands: [.readBalances(BalanceQuery(includeZero: false))],
            context: .locations(filter, pageSize: pageSize, page: page))
    }

    /// One `StockLocationModel` (rest.storefeeder.com Help, ResourceModel StockLocationModel).
    static func locationModel(_ location: Location, catalog: Catalog, holds: Bool) -> JSONValue {
        let warehouseName = location.storefeederWarehouse ?? "Default Warehouse"
        let warehouseID = (warehouses(catalog).firstIndex(of: warehouseName) ?? 0) + 1
        return [
            "StockLocationID": .integer(Int(location.storefeederID ?? "") ?? 0),
            "StockLocationReference": .optional(location.storefeederReference),
            "Warehouse": ["WarehouseName": .string(warehouseName), "WarehouseID": .integer(warehouseID)],
            "StockLocationType": "Pickbin", "KeepProduct": false, "LocationOrder": .integer(1),
            "IsEmpty": .bool(!holds), "HasProducts": .bool(holds), "IsSystem": false, "IsQuarantined": false,
        ]
    }

    /// JSON only (`application/json`, `text/json`): Web API's refusal of any other media type.
    func requireJSONMediaType(_ request: InboundRequest) throws(GatewayError) {
        guard let contentType = request.headers[.contentType] else { return }
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingSpaces().lowercased() } ?? ""
        guard mediaType == "application/json" || mediaType == "text/json" else {
            throw GatewayError(
                code: .unsupported,
                message: "The request entity's media type '\(mediaType)' is not supported for this resource.",
                field: "Content-Type")
        }
    }

    func decodeTransfers(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        try requireJSONMediaType(request)
        let root = try request.jsonBody()
        guard case .array(let items) = root else {
            throw GatewayError.malformed(
                "The body must be a JSON array of transfers, got \(root.typeName).", field: "transfers")
        }
        guard !items.isEmpty else {
            throw GatewayError.invalidValue("At least one transfer is required.", field: "transfers")
        }
        guard items.count <= Self.maxBatchItems else {
            throw GatewayError.invalidValue(
                "At most \(Self.maxBatchItems) transfers are allowed in one request, got \(items.count).",
                field: "transfers")
        }
        var movements: [Movement] = []
        var slots: [Result<Int, GatewayError>] = []
        for (index, item) in items.enumerated() {
            do throws(GatewayError) {
                movements.append(try transfer(item, index: index, catalog: catalog))
                slots.append(.success(movements.count - 1))
            } catch {
                slots.append(.failure(error))
            }
        }
        let commands: [Command] = movements.isEmpty ? [] : [.move(MoveBatch(items: movements, atomicity: .perItem))]
        return Decoded(commands: commands, context: .transfers(Transfers(items: items, slots: slots)))
    }

    func transfer(_ value: JSONValue, index: Int, catalog: Catalog) throws(GatewayError) -> Movement {
        // Property names and enum values as ASP.NET's binder reads them: case-insensitively.
        let reader = try FieldReader(value, path: "[\(index)]", caseInsensitiveKeys: true)
        let product = try productKey(reader.requiredObject("ProductIDType"), catalog: catalog)
        let from = try locationKey(reader.requiredObject("StockLocationFrom"), catalog: catalog)
        let to = try locationKey(reader.requiredObject("StockLocationTo"), catalog: catalog)
        guard let amountValue = reader.value("TransferAmount") else {
            throw GatewayError.missing(reader.name("TransferAmount"))
        }
        guard case .number(let amountText) = amountValue else {
            throw GatewayError.invalidValue(
                "\(reader.name("TransferAmount")) must be an integer, got \(amountValue.typeName).",
                field: reader.name("TransferAmount"))
        }
        guard let amount = try? Quantity(parsing: amountText), amount.isInteger, amount.intValue != nil else {
            throw GatewayError.invalidValue(
                "\(reader.name("TransferAmount")) must be a whole number, got \(amountText).",
                field: reader.name("TransferAmount"))
        }
        guard amount.isPositive else {
            throw GatewayError.invalidValue(
                "\(reader.name("TransferAmount")) must be greater than zero, got \(amountText).",
                field: reader.name("TransferAmount"))
        }
        let immediate = try reader.requiredBool("ImmediateTransfer")
        var user: String?
        if let assigned = try reader.object("AssignedUserID") {
            let type = Self.enumName(try assigned.requiredString("IDType", maxLength: 16), ["Email", "ID"])
            guard type == "Email" || type == "ID" else {
                throw GatewayError.invalidValue(
                    "IDType must be Email or ID, got '\(type)'.", field: assigned.name("IDType"))
            }
            user = try assigned.requiredString("Value", maxLength: Self.maxText)
        }
        var extras = MovementExtras()
        extras.batchReference = try reader.string("StockLocationFromBatchReference", maxLength: Self.maxText)
        extras.expiryDate = try date(reader, "StockLocationFromExpiryDate")
        extras.deliveredDate = try date(reader, "StockLocationFromDeliveredDate")
        extras.dissociateIfEmpty = try reader.bool("DissociateProductIfEmpty")
        extras.isSystem = try reader.bool("IsSystem")
        return Movement(
            product: product, quantity: amount, from: from, to: to,
            reason: try reader.string("TransferReason", maxLength: Self.maxText), user: user,
            state: immediate ? .applied : .pending, extras: extras)
    }

    /// A date as sent (`2024-05-01` or `2024-05-01T00:00:00`); only its shape is checked.
    func date(_ reader: FieldReader, _ key: String) throws(GatewayError) -> String? {
        guard let text = try reader.string(key, maxLength: 40) else { return nil }
        let bytes = Array(text.utf8)
        let shaped =
            bytes.count >= 10 && bytes[4] == UInt8(ascii: "-") && bytes[7] == UInt8(ascii: "-")
            && bytes[0..<4].allSatisfy { (0x30...0x39).contains($0) }
        guard shaped else {
            throw GatewayError.invalidValue(
                "\(reader.name(key)) must be a date (YYYY-MM-DD), got '\(text)'.", field: reader.name(key))
        }
        return text
    }

    func productKey(_ reader: FieldReader, catalog: Catalog) throws(GatewayError) -> String {
        let type = Self.enumName(try reader.requiredString("IDType", maxLength: 32), ["SKU", "ID"])
        let value = try reader.requiredString("Value", maxLength: Self.maxText)
        let product: Product?
        switch type {
        case "SKU": product = catalog.product(sku: value)
        case "ID": product = catalog.product(storefeederID: value)
        default:
            throw GatewayError.invalidValue("IDType must be SKU or ID, got '\(type)'.", field: reader.name("IDType"))
        }
        guard let product else {
            throw GatewayError.notFound(Self.unknownProduct, field: reader.path)
        }
        return product.key
    }

    func locationKey(_ reader: FieldReader, catalog: Catalog) throws(GatewayError) -> String {
        let type = Self.enumName(try reader.requiredString("IDType", maxLength: 32), ["ID", "StockLocationReference"])
        let value = try reader.requiredString("Value", maxLength: Self.maxText)
        var warehouse: String?
        if let warehouseReader = try reader.object("Warehouse") {
            let warehouseType = Self.enumName(
                try warehouseReader.requiredString("IDType", maxLength: 16), ["Name", "ID"])
            guard warehouseType == "Name" || warehouseType == "ID" else {
                throw GatewayError.invalidValue(
                    "IDType must be Name or ID, got '\(warehouseType)'.", field: warehouseReader.name("IDType"))
            }
            warehouse = try warehouseReader.requiredString("Value", maxLength: Self.maxText)
        }
        switch type {
        case "ID":
            if let location = catalog.location(storefeederID: value) { return location.key }
        case "StockLocationReference":
            let matches = catalog.locations(storefeederReference: value, warehouse: warehouse)
            if matches.count == 1 { return matches[0].key }
            if matches.count > 1 {
                throw GatewayError.invalidValue(
                    "Stock Location reference '\(value)' exists in more than one warehouse: name the Warehouse.",
                    field: reader.name("Warehouse"))
            }
            if value.lowercased() == "unspecified", let outside = catalog.firstLocation(kind: .outside) {
                return outside.key
            }
        default:
            throw GatewayError.invalidValue(
                "IDType must be ID or StockLocationReference, got '\(type)'.", field: reader.name("IDType"))
        }
        throw GatewayError.notFound(Self.unknownLocation, field: reader.path)
    }

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        var held: [String: Set<String>] = [:]  // location → products with stock
        for case .balances(let balances) in outcomes {
            for balance in balances where !balance.quantity.isZero {
                held[balance.location, default: []].insert(balance.product)
            }
        }
        switch context {
        case .transfers(let transfers):
            return encode(outcomes, transfers: transfers)
        case .inventory(let updates):
            return encode(outcomes, inventory: updates, catalog: catalog)
        case .location(let key):
            guard let location = catalog.location(key: key) else {
                return .json(.notFound, ["Message": .string(Self.unknownLocation)])
            }
            return .json(.ok, Self.locationModel(location, catalog: catalog, holds: !(held[key]?.isEmpty ?? true)))
        case .locations(let filter, let pageSize, let page):
            let names = Self.warehouses(catalog)
            let matching = catalog.locations.filter { location in
                guard location.storefeederID != nil else { return false }
                let holds = !(held[location.key]?.isEmpty ?? true)
                if let id = filter.warehouseID,
                    names.firstIndex(of: location.storefeederWarehouse ?? "Default Warehouse") != id - 1
                {
                    return false
                }
                if let wanted = filter.hasProducts, wanted != holds { return false }
                if let wanted = filter.isEmpty, wanted == holds { return false }
                if let sku = filter.sku, !(held[location.key]?.contains(sku) ?? false) { return false }
                return true
            }
            let start = (page - 1) * pageSize
            let slice = start < matching.count ? Array(matching[start..<min(matching.count, start + pageSize)]) : []
            let data = slice.map { Self.locationModel($0, catalog: catalog, holds: !(held[$0.key]?.isEmpty ?? true)) }
            return .json(
                .ok,
                [
                    "TotalItems": .integer(matching.count),
                    "PagingInfo": ["PageSize": .integer(pageSize), "Page": .integer(page)],
                    "TotalPages": .integer((matching.count + pageSize - 1) / pageSize), "Data": .array(data),
                ])
        }
    }

    func encode(_ outcomes: [Outcome], transfers context: Transfers) -> CodecResponse {
        var batchItems: [BatchOutcome.Item] = []
        if case .moved(let batch) = outcomes.first { batchItems = batch.items }
        var responses: [JSONValue] = []
        var pending = 0
        var immediate = 0
        var failed = 0
        for (index, slot) in context.slots.enumerated() {
            var error: GatewayError?
            switch slot {
            case .failure(let decodeError): error = decodeError
            case .success(let batchIndex):
                switch batchIndex < batchItems.count ? batchItems[batchIndex] : .notApplied {
                case .applied(let movement):
                    if movement.state == .pending { pending += 1 } else { immediate += 1 }
                case .failed(let ledgerError):
                    error = ledgerError.renamingField([
                        "product": "[\(index)].ProductIDType", "quantity": "[\(index)].TransferAmount",
                        "from": "[\(index)].StockLocationFrom", "to": "[\(index)].StockLocationTo",
                    ])
                case .notApplied, .undone:
                    error = GatewayError.conflict("Not applied: another transfer of the request failed.")
                }
            }
            var response = JSONObject([.init("Transfer", context.items[index])])
            response["Success"] = .bool(error == nil)
            if let error {
                failed += 1
                // The vendor's own words in `Error` (clients match on them); what StockGate knows
                // beyond them (the code, the field) in a member of its own.
                response["Error"] = .string(Self.message(error))
                response["StockGateError"] = [
                    "code": .string(error.code.description), "field": .optional(error.field),
                ]
            }
            responses.append(.object(response))
        }
        return .json(
            .ok,
            [
                "PendingTransfers": .integer(pending), "ImmediateTransfers": .integer(immediate),
                "TotalItemsProcessed": .integer(context.slots.count), "Successful": .integer(pending + immediate),
                "Failed": .integer(failed), "Responses": .array(responses),
            ])
    }

    /// What the ModelState calls a body refused whole.
    static func bodyName(_ endpoint: Endpoint) -> String {
        switch endpoint {
        case .inventoryUpdate: "updates"
        case .productInventoryUpdate: "update"
        default: "transfers"
        }
    }

    /// An item's error text: the message, with the field in front when the message does not name it.
    /// An enum value as ASP.NET binds it: matched case-insensitively to its declared name.
    static func enumName(_ text: String, _ names: [String]) -> String {
        let lowered = text.lowercased()
        return names.first { $0.lowercased() == lowered } ?? text
    }

    /// The vendor's own text where StoreFeeder has one (unknown product or stock location: its
    /// create-transfers sample words it so), else StockGate's message led by the field it names.
    static func message(_ error: GatewayError) -> String {
        if error.message == unknownLocation || error.message == unknownProduct { return error.message }
        guard let field = error.field, !error.message.contains(field) else { return error.message }
        return "\(field): \(error.message)"
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        if error.code == .unauthorized || error.code == .forbidden {
            // ASP.NET Web API's own answer to a request its [Authorize] filter refuses.
            return .json(error.code.httpStatus, ["Message": "Authorization has been denied for this request."])
        }
        if route.endpoint == .locationsList || route.endpoint == .locationGet {
            // The reads answer a refusal as Web API does outside model binding: `{"Message": …}`.
            return .json(error.code.httpStatus, ["Message": .string(Self.message(error))])
        }
        // The one unsupported thing here is the media type.
        let status: HTTPResponse.Status = error.code == .unsupported ? .unsupportedMediaType : error.code.httpStatus
        return .json(
            status,
            [
                "Message": "The request is invalid.",
                "ModelState": .object(
                    JSONObject([.init(error.field ?? Self.bodyName(route.endpoint), .array([.string(error.message)]))])),
            ])
    }
}

extension Substring {
    /// The text without leading or trailing spaces.
    func trimmingSpaces() -> String {
        var slice = self
        while slice.first == " " { slice.removeFirst() }
        while slice.last == " " { slice.removeLast() }
        return String(slice)
    }
}
