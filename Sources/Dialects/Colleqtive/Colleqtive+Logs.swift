import Foundation
import StockCore

/// `GET /api/v2/public/products/stock/storeproductlogs`: the store product log
/// (developer.colleqtive.com, Store Product Logs), read as a stream by Optiply's tap
/// (`tap_colleqtive/streams.py`, `OrdersStream`: `Page_Start`/`Page_Size`, rows under `list`,
/// `last_modified_date` as its replication key, `to_modified_date` and `reason_code` with an
/// end date; the row fields of `schemas.py` `STOCK_LOG_FIELDS`).
///
/// One row per movement and side at a Colleqtive store location: a movement out of a store
/// location is a row with a negative `quantity` there, into one a positive row. Row `id`s are
/// `2 × movement id − 1` (the source side) and `2 × movement id` (the destination side), so they
/// increase with the journal and `from_id` / `to_id` page through it. Movements still pending,
/// forwarded with an unknown outcome or refused by a backend are not in the log; a deleted
/// movement and its reversal both are. A page reads the matching part of the journal; readers
/// narrow it by `last_modified_date` or `from_id`, as the tap does.
extension ColleqtiveCodec {
    /// The log's filters, as the vendor names them (names match case-insensitively).
    public struct LogFilter: Sendable, Equatable {
        var store: String?
        var product: String?
        var fromID: Int64?
        var toID: Int64?
        var reasonCode: Int64?
        var reference: String?
        var customerOrderNumber: String?
    }

    func decodeLogs(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        var filter = LogFilter()
        var query = MovementQuery()
        filter.store = try storeFilter(request, catalog: catalog)
        filter.product = try productFilter(request, name: "article_number", catalog: catalog)
        query.product = filter.product
        func integer(_ name: String) throws(GatewayError) -> Int64? {
            guard let text = request.queryValue(caseInsensitive: name) else { return nil }
            guard let value = Int64(text), value >= 0 else {
                throw GatewayError.invalidValue("\(name) must be a whole number, got '\(text)'", field: name)
            }
            return value
        }
        func dateTime(_ name: String) throws(GatewayError) -> Date? {
            guard let text = request.queryValue(caseInsensitive: name) else { return nil }
            guard let date = Self.parseDateTime(text) else {
                throw GatewayError.invalidValue(
                    "\(name) must be a date-time such as 2026-11-23T08:30:00Z, got '\(text)'", field: name)
            }
            return date
        }
        filter.fromID = try integer("from_id")
        filter.toID = try integer("to_id")
        filter.reasonCode = try integer("reason_code")
        _ = try integer("reference_id")
        _ = try integer("review_status")
        filter.reference = request.queryValue(caseInsensitive: "reference")
        filter.customerOrderNumber = request.queryValue(caseInsensitive: "customer_order_number")
        query.createdFrom = try dateTime("last_modified_date")
        query.createdTo = try dateTime("to_modified_date")
        if let from = filter.fromID, from > 1 { query.afterID = (from - 1) / 2 }
        return Decoded(commands: [.findMovements(query)], context: .logs(filter, try page(request)))
    }

    /// The log rows of `movements`, in journal order, filtered.
    func logRows(_ movements: [Movement], filter: LogFilter, catalog: Catalog) -> [JSONValue] {
        var rows: [JSONValue] = []
        for movement in movements where movement.state == .applied || movement.state == .reversed {
            guard let id = movement.id, !movement.quantity.isZero else { continue }
            if let reference = filter.reference, movement.reference != reference { continue }
            if let code = filter.reasonCode, movement.reason != String(code) { continue }
            let sides: [(String, Bool, CustomerOrderRef?)] = [
                (movement.from, false, movement.extras.fromOrder), (movement.to, true, movement.extras.toOrder),
            ]
            for (key, incoming, order) in sides {
                guard let location = catalog.location(key: key), let store = location.colleqtiveStore,
                    let code = location.colleqtiveLocationCode
                else { continue }
                let rowID = incoming ? id * 2 : id * 2 - 1
                if let wanted = filter.store, wanted != store { continue }
                if let from = filter.fromID, rowID < from { continue }
                if let to = filter.toID, rowID > to { continue }
                if let number = filter.customerOrderNumber, order?.orderNumber != number { continue }
                rows.append(
                    logRow(
                        movement, id: rowID, store: store, code: code, location: location,
                        incoming: incoming, order: order, catalog: catalog))
            }
        }
        return rows
    }

    func logRow(
        _ movement: Movement, id: Int64, store: String, code: String, location: Location, incoming: Bool,
        order: CustomerOrderRef?, catalog: Catalog
    ) -> JSONValue {
        let product = catalog.product(key: movement.product)
        let at = (movement.appliedAt ?? movement.createdAt).map(Timestamp.iso8601)
        let reasonCode = movement.reason.flatMap { Int($0) }
        var object = JSONObject()
        object["id"] = .integer(id)
        object["store_number"] = .string(store)
        object["product_number"] = .string(product?.effectiveColleqtiveNumber ?? movement.product)
        object["barcode"] = .null
        object["quantity"] = jsonNumber(incoming ? movement.quantity : -movement.quantity)
        object["location"] = .null
        object["location_code"] = .string(code)
        object["stock_pool"] = .optional(location.colleqtiveStockPool.map(String.init))
        object["source"] = .optional(movement.sourceSystem ?? movement.dialect?.rawValue)
        object["reference"] = .optional(movement.reference)
        object["reason_code"] = reasonCode.map(JSONValue.integer) ?? .null
        object["reason_code_description"] = reasonCode == nil ? .optional(movement.reason) : .null
        object["app_user_name"] = .optional(movement.user)
        object["remarks"] = .optional(movement.description)
        object["customer_order_number"] = .optional(order?.orderNumber)
        object["customer_order_line_number"] = order?.lineNumber.map(JSONValue.integer) ?? .null
        object["customer_order_shipment_number"] = .optional(order?.shipmentNumber)
        object["customer_order_shipment_number_line_number"] = order?.shipmentLineNumber.map(JSONValue.integer) ?? .null
        object["created_on"] = .optional(movement.createdAt.map(Timestamp.iso8601))
        object["updated_on"] = .optional(at)
        object["last_modified_date"] = .optional(at)
        object["moved_on"] = .optional(at)
        // Required members StockGate has no value for: no price is kept, one unit per line.
        object["price"] = .integer(0)
        object["purchase_unit_quantity"] = .integer(1)
        // Applied to the store's most likely stock (what `storeproducts/stock` reports).
        object["purged_to_most_likely"] = .bool(true)
        return .object(object)
    }
}
