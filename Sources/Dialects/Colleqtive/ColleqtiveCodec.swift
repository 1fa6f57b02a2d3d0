import Foundation
import HTTPTypes
import StockCore

/// Colleqtive's store product location movement API, and the read endpoints the catalog and
/// the ledger can answer.
///
/// - `POST /api/v2/public/stores/{store_number}/storeproductlocation/movement?AppUserName=…`
///   with a JSON array of snake_case movements, applied all-or-nothing.
/// - `GET /api/v2/public/stores`
/// - `GET /api/v2/public/stores/{store_number}/locations`
/// - `GET /api/v2/public/stores/{store_number}/locations/{location_code}/products`
/// - `GET /api/v2/public/storeproducts/stock`: the stock of every store product, paged, as the
///   production tap reads it (Optiply/tap-colleqtive `tap_colleqtive/streams.py`, `StocksStream`:
///   `Page_Size`/`Page_Start`, rows under `list`, `last_stock_modified_datetime` for increments,
///   `most_likely_datetime` as its replication key; the fields of `schemas.py` `STOCK_FIELDS`).
/// - `GET /api/v2/public/products/stock/storeproductlogs`: the store product log, paged
///   (`Colleqtive+Logs.swift`).
///
/// Every answer is the `{data, message, success}` envelope; a failure has `success: false`
/// and a 4xx status (the vendor's SDK raises on any non-2xx).
public struct ColleqtiveCodec: InboundCodec {
    public static let dialect: DialectID = "colleqtive"
    public var dialect: DialectID { Self.dialect }
    public static let maxBatchItems = 1000
    static let maxText = 255
    static let int32 = Int64(Int32.min)...Int64(Int32.max)

    public enum Context: Sendable {
        case movement(count: Int)
        case stores(Page)
        case locations(store: String, Page)
        case products(store: String, locations: [String], Page)
        case stock(StockFilter, Page)
        case logs(LogFilter, Page)
    }

    /// The filters of the store-product stock list.
    public struct StockFilter: Sendable, Equatable {
        var store: String?
        var product: String?
        /// Only rows whose stock changed at or after this time (`last_stock_modified_datetime`).
        var changedSince: Date?
    }

    /// `page_start` (1-based) and `page_size`; names match case-insensitively (`Page_Start`).
    public struct Page: Sendable, Equatable {
        public var start: Int
        public var size: Int
    }

    public init() {}

    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case movementCreate = "movement.create"
        case storesList = "stores.list"
        case locationsList = "locations.list"
        case locationProducts = "location.products"
        case storeproductsStock = "storeproducts.stock"
        case storeproductLogs = "storeproductlogs.list"
    }

    public let routes: [Route<Endpoint>] = [
        Route(.movementCreate, .post, "/api/v2/public/stores/{store_number}/storeproductlocation/movement"),
        Route(.storesList, .get, "/api/v2/public/stores"),
        Route(.locationsList, .get, "/api/v2/public/stores/{store_number}/locations"),
        Route(.locationProducts, .get, "/api/v2/public/stores/{store_number}/locations/{location_code}/products"),
        Route(.storeproductsStock, .get, "/api/v2/public/storeproducts/stock"),
        Route(.storeproductLogs, .get, "/api/v2/public/products/stock/storeproductlogs"),
    ]

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        switch route.endpoint {
        case .storesList:
            return Decoded(commands: [], context: .stores(try page(request)))
        case .locationsList:
            let store = try knownStore(request, catalog: catalog)
            return Decoded(commands: [], context: .locations(store: store, try page(request)))
        case .locationProducts:
            let store = try knownStore(request, catalog: catalog)
            let code = request.pathParameters["location_code"] ?? ""
            var candidates = catalog.locations(colleqtiveStore: store).filter { $0.colleqtiveLocationCode == code }
            if let poolText = request.queryValue(caseInsensitive: "stock_pool") {
                guard let pool = Int32(poolText) else {
                    throw GatewayError.invalidValue(
                        "stock_pool must be a 32-bit integer, got '\(poolText)'", field: "stock_pool")
                }
                candidates = candidates.filter { $0.colleqtiveStockPool == Int(pool) }
            }
            guard !candidates.isEmpty else {
                throw GatewayError.notFound(
                    "Location '\(code)' does not exist in store \(store)", field: "location_code")
            }
            let commands = candidates.map { Command.readBalances(BalanceQuery(location: $0.key, includeZero: false)) }
            return Decoded(
                commands: commands,
                context: .products(store: store, locations: candidates.map(\.key), try page(request)))
        case .storeproductsStock:
            var filter = StockFilter()
            filter.store = try storeFilter(request, catalog: catalog)
            filter.product = try productFilter(request, name: "product_number", catalog: catalog)
            if let text = request.queryValue(caseInsensitive: "last_stock_modified_datetime") {
                guard let date = Self.parseDateTime(text) else {
                    throw GatewayError.invalidValue(
                        "last_stock_modified_datetime must be a date-time such as 2026-11-23T08:30:00Z, got '\(text)'",
                        field: "last_stock_modified_datetime")
                }
                filter.changedSince = date
            }
            let query = BalanceQuery(products: filter.product.map { [$0] }, includeZero: true)
            return Decoded(commands: [.readBalances(query)], context: .stock(filter, try page(request)))
        case .movementCreate:
            return try decodeMovements(request, catalog: catalog)
        case .storeproductLogs:
            return try decodeLogs(request, catalog: catalog)
        }
    }

    /// `store_number` of a read's query, when given: a store of the catalog, else 404.
    func storeFilter(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> String? {
        guard let store = request.queryValue(caseInsensitive: "store_number") else { return nil }
        guard catalog.hasLocation("colleqtive_store", store) else {
            throw GatewayError.notFound("Store '\(store)' does not exist", field: "store_number")
        }
        return store
    }

    /// A product number of a read's query (`name`), when given: the catalog's key, else 404.
    func productFilter(_ request: InboundRequest, name: String, catalog: Catalog) throws(GatewayError) -> String? {
        guard let number = request.queryValue(caseInsensitive: name) else { return nil }
        guard let product = catalog.product(colleqtiveNumber: number) else {
            throw GatewayError.notFound("Product '\(number)' does not exist", field: name)
        }
        return product.key
    }

    func knownStore(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> String {
        let store = request.pathParameters["store_number"] ?? ""
        // An index lookup: `colleqtiveStores` lists every store anew (a walk of the catalog).
        guard catalog.hasLocation("colleqtive_store", store) else {
            throw GatewayError.notFound("Store '\(store)' does not exist", field: "store_number")
        }
        return store
    }

    func page(_ request: InboundRequest) throws(GatewayError) -> Page {
        func number(_ name: String, default value: Int, range: ClosedRange<Int>) throws(GatewayError) -> Int {
            guard let text = request.queryValue(caseInsensitive: name) else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw GatewayError.invalidValue(
                    "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(text)'",
                    field: name)
            }
            return number
        }
        return Page(
            start: try number("page_start", default: 1, range: 1...Int(Int32.max)),
            size: try number("page_size", default: 100, range: 1...1000))
    }

    func decodeMovements(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        let store = try knownStore(request, catalog: catalog)
        let user = request.queryValue(caseInsensitive: "AppUserName")
        if let user, user.count > Self.maxText {
            throw GatewayError.invalidValue(
                "AppUserName is longer than \(Self.maxText) characters", field: "AppUserName")
        }
        if let user, user.utf8.contains(0) {
            throw GatewayError.invalidValue("AppUserName must not contain U+0000", field: "AppUserName")
        }
        let root = try request.jsonBody()
        guard case .array(let items) = root else {
            throw GatewayError.malformed("the body must be a JSON array of movements, got \(root.typeName)")
        }
        guard !items.isEmpty else {
            throw GatewayError.invalidValue("the body must hold at least one movement", field: "body")
        }
        guard items.count <= Self.maxBatchItems else {
            throw GatewayError.invalidValue(
                "the body holds \(items.count) movements, at most \(Self.maxBatchItems) are allowed", field: "body")
        }
        var movements: [Movement] = []
        movements.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            movements.append(try movement(item, index: index, store: store, user: user, catalog: catalog))
        }
        return Decoded(
            commands: [.move(MoveBatch(items: movements, atomicity: .allOrNothing))],
            context: .movement(count: movements.count))
    }

    func movement(
        _ value: JSONValue, index: Int, store: String, user: String?, catalog: Catalog
    ) throws(GatewayError)
        -> Movement
    {
        let reader = try FieldReader(value, path: "[\(index)]")
        let number = try reader.requiredString("product_number", maxLength: 64)
        guard let product = catalog.product(colleqtiveNumber: number) else {
            throw GatewayError.notFound("Product '\(number)' does not exist", field: reader.name("product_number"))
        }
        // A JSON double in the vendor's API: its exact decimal text is taken, never a binary double.
        let quantity = try reader.requiredQuantity("quantity", allowString: false)
        let from = try location(reader.requiredObject("from_location"), store: store, catalog: catalog)
        let to = try location(reader.requiredObject("to_location"), store: store, catalog: catalog)
        var extras = MovementExtras()
        extras.fromOrder = from.order
        extras.toOrder = to.order
        return Movement(
            product: product.key, quantity: quantity, from: from.key, to: to.key,
            reason: try reader.string("reason_code", maxLength: Self.maxText),
            reference: try reader.string("reference", maxLength: Self.maxText), user: user,
            sourceSystem: try reader.string("source", maxLength: Self.maxText),
            allowOverage: try reader.bool("allow_overage") ?? false, extras: extras)
    }

    func location(
        _ reader: FieldReader, store: String, catalog: Catalog
    ) throws(GatewayError)
        -> (key: String, order: CustomerOrderRef?)
    {
        let code = try reader.requiredString("location_code", maxLength: 64)
        let pool = try reader.integer("stock_pool", range: Self.int32).map { Int($0) }
        guard let location = catalog.location(colleqtiveStore: store, code: code, stockPool: pool) else {
            let poolText = pool.map { " stock pool \($0)" } ?? ""
            throw GatewayError.notFound(
                "Location '\(code)'\(poolText) does not exist in store \(store)", field: reader.name("location_code"))
        }
        let order = CustomerOrderRef(
            orderNumber: try reader.string("customer_order_number", maxLength: Self.maxText),
            lineNumber: try reader.integer("customer_order_line_number", range: Self.int32).map { Int($0) },
            shipmentNumber: try reader.string("customer_order_shipment_number", maxLength: Self.maxText),
            shipmentLineNumber: try reader.integer("customer_order_shipment_line_number", range: Self.int32).map {
                Int($0)
            })
        return (location.key, order.isEmpty ? nil : order)
    }

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        switch context {
        case .movement:
            guard case .moved(let batch) = outcomes.first else { return envelope(nil, "No movement recorded.", true) }
            if let failure = batch.combinedFailure(naming: { index, error in
                error.renamingField([
                    "product": "[\(index)].product_number", "quantity": "[\(index)].quantity",
                    "from": "[\(index)].from_location.location_code", "to": "[\(index)].to_location.location_code",
                ])
            }) {
                return encode(failure, route: route, context: context)
            }
            let ids = batch.succeeded.compactMap(\.id).map(String.init).joined(separator: ",")
            let message = batch.replayed ? "Record already created." : "Record created successfully."
            return envelope(.string(ids), message, true)
        case .stores(let page):
            let rows = catalog.colleqtiveStores.map { store -> JSONValue in
                ["storeNo": .string(store), "storeName": .string("Store \(store)")]
            }
            return list(rows, page)
        case .locations(let store, let page):
            let rows = catalog.locations(colleqtiveStore: store).map { location -> JSONValue in
                var object = JSONObject()
                object["location_code"] = .string(location.colleqtiveLocationCode ?? "")
                object["default_stock_pool"] = location.colleqtiveStockPool.map { .string(String($0)) } ?? .null
                object["tags"] = .array([.string(location.kind.rawValue)])
                return .object(object)
            }
            return list(rows, page)
        case .products(_, _, let page):
            var rows: [JSONValue] = []
            for case .balances(let balances) in outcomes {
                for balance in balances {
                    guard let product = catalog.product(key: balance.product),
                        let location = catalog.location(key: balance.location)
                    else { continue }
                    var object = JSONObject()
                    object["product_number"] = .string(product.effectiveColleqtiveNumber)
                    object["product_description"] = .optional(product.name)
                    object["stock_pool"] = location.colleqtiveStockPool.map(JSONValue.integer) ?? .null
                    object["quantity"] = jsonNumber(balance.quantity)
                    rows.append(.object(object))
                }
            }
            return list(rows, page)
        case .stock(let filter, let page):
            guard case .balances(let balances) = outcomes.first else { return list([], page) }
            return list(stockRows(balances, filter: filter, catalog: catalog), page)
        case .logs(let filter, let page):
            guard case .movements(let movements) = outcomes.first else { return list([], page) }
            return list(logRows(movements, filter: filter, catalog: catalog), page)
        }
    }

    /// `2026-11-23T08:30:00Z` (with or without fraction or `Z`), `2026-11-23 08:30:00` or
    /// `2026-11-23`, read as UTC.
    static func parseDateTime(_ text: String) -> Date? {
        if let date = Timestamp.parseISO8601(text) ?? Timestamp.parseOpen2b(text) { return date }
        if !text.hasSuffix("Z"), let date = Timestamp.parseISO8601(text + "Z") { return date }
        if text.utf8.count == 10, let date = Timestamp.parseOpen2b(text + " 00:00:00") { return date }
        return nil
    }

    /// One row per store and product that has stock recorded at one of the store's locations:
    /// the store's total (`most_likely_quantity`), per stock pool (`most_likely_pool_<n>`), and
    /// when it last changed. `id` is the pair's position in the catalog (stores in order, then
    /// products), stable while the catalog is.
    func stockRows(_ balances: [Balance], filter: StockFilter, catalog: Catalog) -> [JSONValue] {
        var byPair: [String: (quantity: Quantity, pools: [Int: Quantity], changed: Date?)] = [:]
        for balance in balances {
            guard let location = catalog.location(key: balance.location), let store = location.colleqtiveStore else {
                continue
            }
            if let wanted = filter.store, wanted != store { continue }
            let key = store + "\u{0}" + balance.product
            var entry = byPair[key] ?? (.zero, [:], nil)
            entry.quantity = entry.quantity + balance.quantity
            if let pool = location.colleqtiveStockPool, (1...10).contains(pool) {
                entry.pools[pool] = (entry.pools[pool] ?? .zero) + balance.quantity
            }
            if let changed = balance.updatedAt, entry.changed.map({ changed > $0 }) ?? true { entry.changed = changed }
            byPair[key] = entry
        }
        var rows: [JSONValue] = []
        var id = 0
        for store in catalog.colleqtiveStores {
            for product in catalog.products {
                id += 1
                guard let entry = byPair[store + "\u{0}" + product.key] else { continue }
                if let since = filter.changedSince, (entry.changed ?? .distantPast) < since { continue }
                var object = JSONObject()
                object["id"] = .integer(id)
                object["product_number"] = .string(product.effectiveColleqtiveNumber)
                object["store_number"] = .string(store)
                object["product_description"] = .optional(product.name)
                object["barcode"] = .null
                object["most_likely_quantity"] = jsonNumber(entry.quantity)
                object["most_likely_datetime"] = .optional(entry.changed.map(Timestamp.iso8601))
                for pool in 1...10 {
                    object["most_likely_pool_\(pool)"] = entry.pools[pool].map(jsonNumber) ?? .null
                }
                object["is_stock"] = .bool(true)
                // A member every row carries, a boolean (developer.colleqtive.com, Store Products;
                // the tap's `STOCK_FIELDS`): StockGate replenishes nothing, so false.
                object["is_replenishment"] = .bool(false)
                rows.append(.object(object))
            }
        }
        return rows
    }

    /// The vendor's paged list: `{list, page_start, page_size, total_count, next_page, previous_page}`.
    func list(_ rows: [JSONValue], _ page: Page) -> CodecResponse {
        let start = (page.start - 1) * page.size
        let slice = start < rows.count ? Array(rows[start..<min(rows.count, start + page.size)]) : []
        let hasNext = start + page.size < rows.count
        return .json(
            .ok,
            [
                "list": .array(slice), "page_start": .integer(page.start), "page_size": .integer(page.size),
                "total_count": .integer(rows.count), "next_page": hasNext ? .integer(page.start + 1) : .null,
                "previous_page": page.start > 1 ? .integer(page.start - 1) : .null,
            ])
    }

    func envelope(
        _ data: JSONValue?, _ message: String, _ success: Bool, status: HTTPResponse.Status = .ok
    )
        -> CodecResponse
    {
        .json(status, ["data": data ?? .null, "message": .string(message), "success": .bool(success)])
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        let message =
            error.field.map { field in error.message.contains(field) ? error.message : "\(field): \(error.message)" }
            ?? error.message
        return envelope(nil, message, false, status: error.code.httpStatus)
    }
}
