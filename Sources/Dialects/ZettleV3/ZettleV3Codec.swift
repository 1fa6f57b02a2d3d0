import HTTPTypes
import StockCore

/// Zettle's Inventory API V3 (developer.zettle.com/docs/api/inventory), the API PayPal's own
/// POS integration speaks (inpsyde/paypal-point-of-sale, `modules.local/paypal-pos-php-sdk/src/API/Inventory`):
///
/// - `GET /v3/inventories`, `GET /v3/inventories/{inventoryUuid}`: the catalog's Zettle
///   locations as inventories (`inventoryUuid`, `inventoryType` STORE / SUPPLIER / SOLD / BIN,
///   `name`, `description`, `defaultInventory`).
/// - `POST /v3/movements` `{"movements": [{productUuid, variantUuid, from, to, change}],
///   "identifier"}` → `204 No Content`, all-or-nothing. `identifier` (PayPal sends its
///   integration's UUID with every call) is a correlation id kept on the movements.
/// - `GET /v3/stock`, `GET /v3/stock/{inventoryUuid}`: balance rows (`organizationUuid`,
///   `inventoryUuid`, `productUuid`, `variantUuid`, `balance` as a number, `updated`), paged
///   with `limit` and `cursor`; a further page is announced in a `Link: <…>; rel="next"` header.
/// - `GET /v3/stock/{inventoryUuid}/products/{productUuid}`: that product's variant rows.
/// - `POST /v3/products` `[{"productUuid", "tracking": "enable" | "disable"}]` → 204.
/// - `POST /v3/products/status` `["productUuid", …]` → `[{"productUuid", "enabled"}]`: whether each
///   product's stock is tracked. Its shape is a production client's: BjornTech's WooCommerce Zettle
///   Integration (`WC_iZettle_Integration`, class `IZ_Integration_API_Transaction_V2`,
///   `get_location_content`) posts an array of product UUIDs and keeps the `productUuid` of every
///   row whose `enabled` is true. The vendor's pages do not show it.
///
/// Errors are Zettle's `{developerMessage, errorType, violations}` (`ZettleCodec.vendorError`).
public struct ZettleV3Codec: InboundCodec {
    public static let dialect: DialectID = "zettle-v3"
    public var dialect: DialectID { Self.dialect }
    /// Most movements one request may carry; the vendor documents none for V3, so the earlier API's.
    public static let maxMovements = ZettleCodec.maxChanges
    /// Rows per page when the caller names no `limit`, and the most it may name.
    public static let defaultLimit = 100
    public static let maxLimit = 1000
    /// The organization the rows name when none is configured (`dialects.zettle-v3.organization_uuid`).
    public static let nilOrganization = "00000000-0000-0000-0000-000000000000"

    public enum Context: Sendable {
        case inventories(single: String?)
        case moved
        case tracking
        /// Tracking status of these product UUIDs, in the request's order.
        case status(products: [String])
        /// Balance rows of these locations (catalog keys, one read each, in order), one page.
        case stock(locations: [String], product: String?, page: Page)
    }

    /// One page of a stock read: where it starts and how long it is, and the URL it was asked at.
    public struct Page: Sendable {
        var cursor: String?
        var limit: Int
        var base: String
    }

    public let organizationUUID: String

    public init(organizationUUID: String? = nil) {
        self.organizationUUID = organizationUUID?.lowercased() ?? Self.nilOrganization
    }

    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case inventoriesList = "inventories.list"
        case inventoryGet = "inventory.get"
        case movementsCreate = "movements.create"
        case stockAll = "stock.all"
        case stockInventory = "stock.inventory"
        case stockProduct = "stock.product"
        case productsTracking = "products.tracking"
        case productsStatus = "products.status"
    }

    public let routes: [Route<Endpoint>] = [
        Route(.inventoriesList, .get, "/v3/inventories"),
        Route(.inventoryGet, .get, "/v3/inventories/{inventoryUuid}"),
        Route(.movementsCreate, .post, "/v3/movements"),
        Route(.stockAll, .get, "/v3/stock"),
        Route(.stockInventory, .get, "/v3/stock/{inventoryUuid}"),
        Route(.stockProduct, .get, "/v3/stock/{inventoryUuid}/products/{productUuid}"),
        Route(.productsTracking, .post, "/v3/products"),
        Route(.productsStatus, .post, "/v3/products/status"),
    ]

    /// Most product UUIDs one status request may name; the vendor documents none.
    public static let maxStatusProducts = 1000

    /// The status read is a read made by POST.
    public func onlyReads(method: HTTPRequest.Method, path: String) -> Bool {
        method == .get || method == .head
            || (method == .post && path.split(separator: "?").first.map { $0.hasSuffix("/v3/products/status") } == true)
    }

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        switch route.endpoint {
        case .inventoriesList:
            return Decoded(commands: [], context: .inventories(single: nil))
        case .inventoryGet:
            let location = try inventory(
                request.pathParameters["inventoryUuid"] ?? "", field: "inventoryUuid", catalog: catalog)
            return Decoded(commands: [], context: .inventories(single: location.key))
        case .movementsCreate:
            return try decodeMovements(request, catalog: catalog)
        case .productsTracking:
            return try decodeTracking(request, catalog: catalog)
        case .productsStatus:
            return try decodeStatus(request)
        case .stockAll:
            let stores = catalog.locations.filter { $0.kind == .stock && $0.zettleUUID != nil }
            return try stock(stores, product: nil, request: request, path: "/v3/stock", catalog: catalog)
        case .stockInventory:
            let uuid = request.pathParameters["inventoryUuid"] ?? ""
            let location = try inventory(uuid, field: "inventoryUuid", catalog: catalog)
            return try stock(
                [location], product: nil, request: request, path: "/v3/stock/\(uuid.caseFolded)", catalog: catalog)
        case .stockProduct:
            let uuid = request.pathParameters["inventoryUuid"] ?? ""
            let location = try inventory(uuid, field: "inventoryUuid", catalog: catalog)
            let productUUID = (request.pathParameters["productUuid"] ?? "").caseFolded
            guard UUIDText.isValid(productUUID),
                catalog.products.contains(where: { $0.zettleProductUUID == productUUID })
            else {
                throw GatewayError.notFound("Product \(productUUID) not found", field: "productUuid")
            }
            return try stock(
                [location], product: productUUID, request: request,
                path: "/v3/stock/\(uuid.caseFolded)/products/\(productUUID)", catalog: catalog)
        }
    }

    func decodeMovements(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        let root = try FieldReader(request.jsonBody(), path: "")
        let entries = try root.requiredArray("movements")
        guard !entries.isEmpty else {
            throw GatewayError.invalidValue("movements must hold at least one movement", field: "movements")
        }
        guard entries.count <= Self.maxMovements else {
            throw GatewayError.invalidValue("movements holds more than \(Self.maxMovements) items", field: "movements")
        }
        var identifier: String?
        if root.has("identifier") { identifier = try uuid(root, "identifier") }
        var items: [Movement] = []
        for (index, entry) in entries.enumerated() {
            let reader = try FieldReader(entry, path: "movements[\(index)]")
            let productUUID = try uuid(reader, "productUuid")
            let variantUUID = try uuid(reader, "variantUuid")
            guard let product = catalog.product(zettleVariant: variantUUID), product.zettleProductUUID == productUUID
            else {
                throw GatewayError.notFound(
                    "Variant \(variantUUID) of product \(productUUID) not found", field: reader.name("variantUuid"))
            }
            let from = try inventory(uuid(reader, "from"), field: reader.name("from"), catalog: catalog)
            let to = try inventory(uuid(reader, "to"), field: reader.name("to"), catalog: catalog)
            guard from.key != to.key else {
                throw GatewayError.invalidValue("from and to are the same inventory", field: reader.name("to"))
            }
            let quantity = try reader.requiredQuantity("change", allowString: true)
            var movement = Movement(
                product: product.key, quantity: quantity, from: from.key, to: to.key, allowOverage: true)
            movement.externalID = identifier
            items.append(movement)
        }
        return Decoded(commands: [.move(MoveBatch(items: items, atomicity: .allOrNothing))], context: .moved)
    }

    func decodeTracking(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        guard case .array(let entries) = try request.jsonBody(), !entries.isEmpty else {
            throw GatewayError.invalidValue("the body must be an array of products", field: "products")
        }
        var commands: [Command] = []
        for (index, entry) in entries.enumerated() {
            let reader = try FieldReader(entry, path: "[\(index)]")
            let productUUID = try uuid(reader, "productUuid")
            guard catalog.products.contains(where: { $0.zettleProductUUID == productUUID }) else {
                throw GatewayError.notFound("Product \(productUUID) not found", field: reader.name("productUuid"))
            }
            let tracking = try reader.requiredString("tracking", maxLength: 16)
            guard tracking == "enable" || tracking == "disable" else {
                throw GatewayError.invalidValue(
                    "tracking must be enable or disable, got '\(tracking)'", field: reader.name("tracking"))
            }
            commands.append(
                .setTracking(products: ZettleCodec.catalogProducts(productUUID, catalog), tracked: tracking == "enable")
            )
        }
        // Stored durably; stock reads leave out a product whose tracking is disabled.
        return Decoded(commands: commands, context: .tracking)
    }

    /// `["productUuid", …]`: at least one, each a UUID. A product the catalog does not hold is
    /// answered as not tracked, not refused: it is a question, not a change.
    func decodeStatus(_ request: InboundRequest) throws(GatewayError) -> Decoded<Context> {
        guard case .array(let entries) = try request.jsonBody(), !entries.isEmpty else {
            throw GatewayError.invalidValue("the body must be a non-empty array of product UUIDs", field: "products")
        }
        guard entries.count <= Self.maxStatusProducts else {
            throw GatewayError.invalidValue(
                "the body names \(entries.count) products, at most \(Self.maxStatusProducts) are allowed",
                field: "products")
        }
        var products: [String] = []
        products.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            guard case .string(let text) = entry else {
                throw GatewayError.invalidValue(
                    "[\(index)] must be a product UUID, got \(entry.typeName)", field: "[\(index)]")
            }
            guard UUIDText.isValid(text) else {
                throw GatewayError.invalidValue(
                    "[\(index)] must be a product UUID, got '\(text.prefix(64))'", field: "[\(index)]")
            }
            products.append(text.caseFolded)
        }
        return Decoded(commands: [.readTracking], context: .status(products: products))
    }

    func stock(
        _ locations: [Location], product: String?, request: InboundRequest, path: String, catalog: Catalog
    )
        throws(GatewayError)
        -> Decoded<Context>
    {
        var limit = Self.defaultLimit
        if let text = request.queryValue("limit") {
            guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                throw GatewayError.invalidValue("limit must be 1 to \(Self.maxLimit), got '\(text)'", field: "limit")
            }
            limit = value
        }
        let cursor = request.queryValue("cursor")
        if let cursor, cursor.isEmpty || cursor.utf8.count > 100 {
            throw GatewayError.invalidValue("cursor is not one this server gave", field: "cursor")
        }
        let host = request.authority ?? "localhost"
        let scheme = request.headers[HTTPField.Name("X-Forwarded-Proto")!] == "https" ? "https" : "http"
        // One product: every variant of it, at zero where it has no stock (PayPal reads them all).
        let variants = product.map { uuid in catalog.products.filter { $0.zettleProductUUID == uuid }.map(\.key) }
        let commands =
            [Command.readTracking]
            + locations.map {
                Command.readBalances(BalanceQuery(products: variants, location: $0.key, includeZero: product != nil))
            }
        return Decoded(
            commands: commands,
            context: .stock(
                locations: locations.map(\.key), product: product,
                page: Page(cursor: cursor, limit: limit, base: "\(scheme)://\(host)\(path)")))
    }

    func uuid(_ reader: FieldReader, _ key: String) throws(GatewayError) -> String {
        try ZettleCodec.uuid(reader, key)
    }

    func inventory(_ uuid: String, field: String, catalog: Catalog) throws(GatewayError) -> Location {
        guard UUIDText.isValid(uuid), let location = catalog.location(zettleUUID: uuid.caseFolded) else {
            throw GatewayError.notFound("Inventory \(uuid) not found", field: field)
        }
        return location
    }

    /// The vendor's four inventory types; a location of another kind (outside) reads as BIN.
    static func type(_ location: Location) -> String {
        switch location.kind {
        case .stock: "STORE"
        case .supplier: "SUPPLIER"
        case .sold: "SOLD"
        case .bin, .outside: "BIN"
        }
    }

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        switch context {
        case .inventories(let single):
            let rows = catalog.locations.compactMap { location -> JSONValue? in
                guard let uuid = location.zettleUUID, single == nil || single == location.key else { return nil }
                let defaultStore =
                    catalog.firstLocation(kind: .stock, where: { $0.zettleUUID != nil })?.key == location.key
                return [
                    "inventoryUuid": .string(uuid), "inventoryType": .string(Self.type(location)),
                    "name": .string(location.key), "description": .string(location.key),
                    "defaultInventory": .bool(defaultStore),
                ]
            }
            if single != nil, let row = rows.first { return .json(.ok, row) }
            return .json(.ok, .array(rows))
        case .moved:
            if case .moved(let batch) = outcomes.first,
                let failure = batch.combinedFailure(naming: { _, error in error })
            {
                return Self.vendorErrorResponse(failure)
            }
            return CodecResponse(status: .noContent)
        case .tracking:
            return CodecResponse(status: .noContent)
        case .status(let products):
            let untracked = ZettleCodec.untracked(outcomes)
            let rows = products.map { uuid -> JSONValue in
                let keys = ZettleCodec.catalogProducts(uuid, catalog)
                let enabled = !keys.isEmpty && !keys.contains { untracked.contains($0) }
                return ["productUuid": .string(uuid), "enabled": .bool(enabled)]
            }
            return .json(.ok, .array(rows))
        case .stock(let keys, let product, let page):
            return stockPage(outcomes, keys: keys, product: product, page: page, catalog: catalog)
        }
    }

    func stockPage(
        _ outcomes: [Outcome], keys: [String], product: String?, page: Page, catalog: Catalog
    ) -> CodecResponse {
        // Rows in a stable order (inventory, then variant); the cursor is the last row's pair.
        var rows: [(cursor: String, value: JSONValue)] = []
        let untracked = ZettleCodec.untracked(outcomes)
        let reads = outcomes.compactMap { outcome -> [Balance]? in
            if case .balances(let balances) = outcome { return balances }
            return nil
        }
        for (index, key) in keys.enumerated() {
            guard index < reads.count, let inventoryUUID = catalog.location(key: key)?.zettleUUID else { continue }
            let read = reads[index].filter { !untracked.contains($0.product) }
            var balances = read
            if let product {
                // Every variant of the product, at zero where the store holds no row for it.
                for item in catalog.products
                where item.zettleProductUUID == product && item.zettleVariantUUID != nil
                    && !untracked.contains(item.key)
                {
                    if !balances.contains(where: { $0.product == item.key }) {
                        balances.append(Balance(product: item.key, location: key, quantity: .zero))
                    }
                }
            }
            for balance in balances {
                guard let item = catalog.product(key: balance.product), let productUUID = item.zettleProductUUID,
                    let variantUUID = item.zettleVariantUUID, product == nil || product == productUUID
                else { continue }
                var row = JSONObject([
                    .init("organizationUuid", .string(organizationUUID)),
                    .init("inventoryUuid", .string(inventoryUUID)),
                    .init("productUuid", .string(productUUID)), .init("variantUuid", .string(variantUUID)),
                    .init("balance", .number(balance.quantity.description)),
                    // On every row of the vendor's fetch-balance guide (developer.zettle.com, Inventory,
                    // "Fetch inventory balance"). StockGate keeps no low stock settings: no level, no alert.
                    .init("lowStockLevel", .integer(0)), .init("lowStockAlert", .bool(false)),
                ])
                let updated = balance.updatedAt.map(Timestamp.iso8601)
                if let updated { row["updated"] = .string(updated) }
                // The guide's `checksum` is a string of decimal digits that changes with the row:
                // a CRC-32 of the row's inventory, variant, balance and time.
                row["checksum"] = .string(
                    String(
                        Self.crc32(
                            "\(inventoryUUID)|\(variantUUID)|\(balance.quantity)|\(updated ?? "")")))
                rows.append((inventoryUUID + "~" + variantUUID, .object(row)))
            }
        }
        rows.sort { $0.cursor < $1.cursor }
        let start = page.cursor.map { cursor in rows.firstIndex { $0.cursor > cursor } ?? rows.count } ?? 0
        let end = min(rows.count, start + page.limit)
        var response = CodecResponse.json(.ok, .array(rows[start..<end].map(\.value)))
        if end < rows.count, let last = rows[end - 1].cursor.addingQueryEscapes {
            response.headers[HTTPField.Name("Link")!] =
                "<\(page.base)?cursor=\(last)&limit=\(page.limit)>; rel=\"next\""
        }
        return response
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        Self.vendorErrorResponse(error)
    }

    static func vendorErrorResponse(_ error: GatewayError) -> CodecResponse {
        ZettleCodec.vendorError(error)
    }
}

extension String {
    /// The text with everything but unreserved URL characters percent-encoded (a cursor in a URL).
    var addingQueryEscapes: String? {
        var result = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return result
    }

    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension ZettleV3Codec {
    /// CRC-32 (IEEE 802.3, the zlib polynomial) of a text's UTF-8 bytes.
    static func crc32(_ text: String) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in text.utf8 {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}
