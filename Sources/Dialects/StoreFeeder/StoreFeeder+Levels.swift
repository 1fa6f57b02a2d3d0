import HTTPTypes
import StockCore

/// StoreFeeder's stock sync (rest.storefeeder.com/Help, "PUT products/stocklocationinventory"
/// and "PUT products/{productid}/stocklocationinventory"): inventory updates by SKU or product
/// ID, each an `AbsoluteAdjustment` (the level the location holds now) or a
/// `RelativeAdjustment` (a signed change) of a whole `AdjustmentAmount` at a `StockLocationID`
/// (null: the Unspecified location), with an optional `Reason`. At most 50 products per call.
///
/// Each update becomes a level movement (`StockLevel`) and stands or fails on its own. The bulk
/// answer carries the counts clients read (`TotalItemsProcessed`, `Successful`, `Failed`) and
/// one response per update, in request order; the single-product answer is the vendor's
/// `Adjustment` (the update echoed) with `NewStockLocationInventory`. The help pages name
/// `NewStockLocationInventory` without showing its members: StockGate answers
/// `StockLocationID`, `StockLocationReference`, `ProductID`, `SKU` and `Inventory` (the new
/// level), and states that choice in docs/dialects.md.
extension StoreFeederCodec {
    /// Most updates one bulk call takes (the help page: "a maximum of 50 products at once").
    public static let maxInventoryUpdates = 50

    /// The updates of a stock sync call, as sent, and where each went.
    public struct InventoryUpdates: Sendable {
        var items: [JSONValue]
        var slots: [Result<Int, GatewayError>]
        /// `PUT products/{productid}/stocklocationinventory`: one update, answered alone.
        var single: Bool
    }

    func decodeInventoryUpdates(
        _ request: InboundRequest, single: Bool, catalog: Catalog
    ) throws(GatewayError) -> Decoded<Context> {
        try requireJSONMediaType(request)
        let root = try request.jsonBody()
        let items: [JSONValue]
        var product: String?
        if single {
            let id = request.pathParameters["productid"] ?? ""
            guard Int(id).map({ $0 > 0 }) == true else {
                throw GatewayError.invalidValue("The value '\(id)' is not valid for productid.", field: "productid")
            }
            guard let found = catalog.product(storefeederID: id) else {
                throw GatewayError.notFound(Self.unknownProduct, field: "productid")
            }
            guard case .object = root else {
                throw GatewayError.malformed(
                    "The body must be a JSON object (an inventory update), got \(root.typeName).", field: "update")
            }
            product = found.key
            items = [root]
        } else {
            guard case .array(let list) = root else {
                throw GatewayError.malformed(
                    "The body must be a JSON array of inventory updates, got \(root.typeName).", field: "updates")
            }
            guard !list.isEmpty else {
                throw GatewayError.invalidValue("At least one inventory update is required.", field: "updates")
            }
            guard list.count <= Self.maxInventoryUpdates else {
                throw GatewayError.invalidValue(
                    "You can only update a maximum of \(Self.maxInventoryUpdates) products at once, got \(list.count).",
                    field: "updates")
            }
            items = list
        }
        var movements: [Movement] = []
        var slots: [Result<Int, GatewayError>] = []
        for (index, item) in items.enumerated() {
            do throws(GatewayError) {
                movements.append(
                    try inventoryUpdate(item, path: single ? "" : "[\(index)]", product: product, catalog: catalog))
                slots.append(.success(movements.count - 1))
            } catch {
                if single { throw error }
                slots.append(.failure(error))
            }
        }
        let commands: [Command] = movements.isEmpty ? [] : [.move(MoveBatch(items: movements, atomicity: .perItem))]
        return Decoded(
            commands: commands, context: .inventory(InventoryUpdates(items: items, slots: slots, single: single)))
    }

    /// One `ProductStockLocationInventoryUpdateModel` (or, with `product` given by the path,
    /// one `StockLocationInventoryUpdateModel`) as a level movement.
    func inventoryUpdate(
        _ value: JSONValue, path: String, product given: String?, catalog: Catalog
    ) throws(GatewayError) -> Movement {
        let reader = try FieldReader(value, path: path, caseInsensitiveKeys: true)
        let product: String
        if let given {
            product = given
        } else {
            product = try productKey(reader.requiredObject("ProductIDType"), catalog: catalog)
        }
        let kind = Self.enumName(
            try reader.requiredString("AdjustmentType", maxLength: 32), ["AbsoluteAdjustment", "RelativeAdjustment"])
        guard kind == "AbsoluteAdjustment" || kind == "RelativeAdjustment" else {
            throw GatewayError.invalidValue(
                "AdjustmentType must be AbsoluteAdjustment or RelativeAdjustment, got '\(kind)'.",
                field: reader.name("AdjustmentType"))
        }
        let amountField = reader.name("AdjustmentAmount")
        guard let amountValue = reader.value("AdjustmentAmount") else { throw GatewayError.missing(amountField) }
        guard case .number(let text) = amountValue, let amount = try? Quantity(parsing: text), amount.isInteger,
            let whole = amount.intValue, Int32.min < whole && whole <= Int32.max
        else {
            throw GatewayError.invalidValue("\(amountField) must be a whole number.", field: amountField)
        }
        let absolute = kind == "AbsoluteAdjustment"
        if absolute && amount.isNegative {
            throw GatewayError.invalidValue(
                "\(amountField) must be zero or more for an AbsoluteAdjustment, got \(text).", field: amountField)
        }
        if !absolute && amount.isZero {
            throw GatewayError.invalidValue(
                "\(amountField) must not be zero for a RelativeAdjustment.", field: amountField)
        }
        let locationField = reader.name("StockLocationID")
        let location: String
        if let locationReader = try reader.object("StockLocationID") {
            location = try locationKey(locationReader, catalog: catalog)
        } else if let unspecified = catalog.firstLocation(kind: .outside) {
            location = unspecified.key
        } else {
            throw GatewayError.notFound(Self.unknownLocation, field: locationField)
        }
        // A well-formed update at a location StockGate keeps no stock at: a conflict with what
        // the location is (409), not a malformed request (Schemathesis sent one naming
        // `Unspecified` by its reference, which its schema rightly allows).
        guard catalog.location(key: location)?.kind.isTracked == true else {
            throw GatewayError.conflict(
                "\(locationField): the Unspecified location holds no stock StockGate keeps; name a stock location.",
                field: locationField)
        }
        guard
            var movement = Movement.level(
                product: product, location: location, target: absolute ? amount : nil,
                change: absolute ? .zero : amount, catalog: catalog)
        else {
            throw GatewayError.unsupported(
                "the catalog has no outside, supplier or bin location for an inventory update", field: locationField)
        }
        movement.reason = try reader.string("Reason", maxLength: Self.maxText)
        return movement
    }

    func encode(_ outcomes: [Outcome], inventory context: InventoryUpdates, catalog: Catalog) -> CodecResponse {
        var batchItems: [BatchOutcome.Item] = []
        if case .moved(let batch) = outcomes.first { batchItems = batch.items }
        var responses: [JSONValue] = []
        var successful = 0
        for (index, slot) in context.slots.enumerated() {
            var error: GatewayError?
            var applied: Movement?
            switch slot {
            case .failure(let decodeError): error = decodeError
            case .success(let batchIndex):
                switch batchIndex < batchItems.count ? batchItems[batchIndex] : .notApplied {
                case .applied(let movement): applied = movement
                case .failed(let ledgerError):
                    let prefix = context.single ? "" : "[\(index)]."
                    error = ledgerError.renamingField([
                        "product": "\(prefix)ProductIDType", "quantity": "\(prefix)AdjustmentAmount",
                        "level": "\(prefix)AdjustmentAmount", "location": "\(prefix)StockLocationID",
                    ])
                case .notApplied, .undone:
                    error = GatewayError.conflict("Not applied: another update of the request failed.")
                }
            }
            var response = JSONObject([.init("Adjustment", context.items[index])])
            response["Success"] = .bool(error == nil)
            if let applied {
                successful += 1
                response["NewStockLocationInventory"] = Self.newInventory(applied, catalog: catalog)
                if let summary = applied.levelSummary(verb: applied.backend == nil ? "applied" : "sent") {
                    response["StockGateLevel"] = .string(summary)
                }
            }
            if let error {
                response["Error"] = .string(Self.message(error))
                response["StockGateError"] = ["code": .string(error.code.description), "field": .optional(error.field)]
            }
            responses.append(.object(response))
        }
        if context.single, case .object(let only)? = responses.first {
            // One update, answered alone: the update and its new inventory, or the refusal as
            // Web API words one outside model binding.
            guard only["Success"] == .bool(false) else { return .json(.ok, .object(only)) }
            var status = HTTPResponse.Status.badRequest
            if case .failed(let error)? = batchItems.first { status = error.code.httpStatus }
            return .json(
                status, ["Message": only["Error"] ?? "The request is invalid.", "Adjustment": context.items[0]])
        }
        return .json(
            .ok,
            [
                "TotalItemsProcessed": .integer(context.slots.count), "Successful": .integer(successful),
                "Failed": .integer(context.slots.count - successful), "Responses": .array(responses),
            ])
    }

    /// The new inventory of the product at the location, when the level after is known (a
    /// remote backend that was sent a relative change without reading it leaves it unknown: null).
    static func newInventory(_ movement: Movement, catalog: Catalog) -> JSONValue {
        guard let after = movement.levelAfter, let level = movement.level,
            let location = catalog.location(key: level.location)
        else { return .null }
        let product = catalog.product(key: movement.product)
        return [
            "StockLocationID": .integer(Int(location.storefeederID ?? "") ?? 0),
            "StockLocationReference": .optional(location.storefeederReference),
            "ProductID": .integer(Int(product?.storefeederID ?? "") ?? 0), "SKU": .optional(product?["sku"]),
            "Inventory": .number(after.description),
        ]
    }
}
