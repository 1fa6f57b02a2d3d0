import Foundation
import HTTPTypes
import StockCore

/// Zettle's Inventory API.
///
/// - `PUT /organizations/{org}/inventory`: move positive `change`s between location UUIDs,
///   all-or-nothing; answers the balances after the change at the STORE location (or at
///   `returnBalanceForLocationUuid`). `externalUuid` is a correlation id
///   kept on the movements (the vendor passes it through to its webhooks); every update applies.
/// - `POST /organizations/{org}/v2/inventory/bulk`: the same per product, with
///   `trackingStatusChange`.
/// - `GET /organizations/{org}/locations`: the catalog's Zettle locations with their types.
/// - `GET /organizations/{org}/inventory/locations/{locationUuid}`: non-zero balances.
///
/// `{org}` is `self` or the configured organization UUID. Zettle lets balances go below
/// zero (a POS sells what the books do not show), so its moves allow overage.
/// Errors are a 4xx with `{developerMessage, errorType, violations: [{propertyName,
/// developerMessage, constraintType}]}`.
public struct ZettleCodec: InboundCodec {
    public static let dialect: DialectID = "zettle"
    public var dialect: DialectID { Self.dialect }
    public static let maxChanges = 1000

    public enum Context: Sendable {
        case update(location: String, variants: [VariantRef], bulk: Bool)
        /// The location list, only the locations of this type when one is asked (`?type=STORE`).
        case locations(type: String?)
        /// A location's balances: of these Zettle products only when given; `summary` adds
        /// `trackedProducts` and `latest` (every read but the one-product read).
        case balances(location: String, products: [String]?, summary: Bool)
        /// Tracking started (`POST …/inventory`): the product's balances at the STORE.
        case tracked(location: String, product: String)
        /// Tracking stopped (`DELETE …/inventory/products/{uuid}`): 204.
        case untracked
    }

    public struct VariantRef: Sendable, Equatable {
        var product: String
        var productUUID: String
        var variantUUID: String
    }

    /// The organization UUID this gateway answers for besides `self` (lowercase), if any.
    public let organizationUUID: String?

    public init(organizationUUID: String? = nil) {
        self.organizationUUID = organizationUUID?.lowercased()
    }

    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case productBalances = "product.balances"
        case inventoryUpdate = "inventory.update"
        case inventoryBulk = "inventory.bulk"
        case locationsList = "locations.list"
        case locationBalances = "location.balances"
        case storeBalances = "store.balances"
        case typeBalances = "type.balances"
        case productsBalances = "products.balances"
        case trackingStart = "tracking.start"
        case trackingStop = "tracking.stop"
    }

    public let routes: [Route<Endpoint>] = [
        Route(.inventoryUpdate, .put, "/organizations/{org}/inventory"),
        Route(.inventoryBulk, .post, "/organizations/{org}/v2/inventory/bulk"),
        Route(.locationsList, .get, "/organizations/{org}/locations"),
        Route(.locationBalances, .get, "/organizations/{org}/inventory/locations/{locationUuid}"),
        Route(.storeBalances, .get, "/organizations/{org}/inventory"),
        Route(.typeBalances, .get, "/organizations/{org}/inventory/locations"),
        Route(
            .productBalances, .get, "/organizations/{org}/inventory/locations/{locationUuid}/products/{productUuid}"),
        Route(.productsBalances, .post, "/organizations/{org}/inventory/products"),
        Route(.trackingStart, .post, "/organizations/{org}/inventory"),
        Route(.trackingStop, .delete, "/organizations/{org}/inventory/products/{productUuid}"),
    ]

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        let org = request.pathParameters["org"] ?? ""
        guard org == "self" || (organizationUUID != nil && org.lowercased() == organizationUUID) else {
            throw GatewayError.notFound("Organization '\(org)' not found", field: "organizationUuid")
        }
        switch route.endpoint {
        case .locationsList:
            let type = request.queryValue("type")?.uppercased()
            if let type, !["STORE", "SUPPLIER", "SOLD", "BIN"].contains(type) {
                throw GatewayError.invalidValue(
                    "type must be STORE, SUPPLIER, SOLD or BIN, got '\(type)'", field: "type")
            }
            return Decoded(commands: [], context: .locations(type: type))
        case .locationBalances:
            let uuid = request.pathParameters["locationUuid"] ?? ""
            let location = try knownLocation(uuid, field: "locationUuid", catalog: catalog)
            return balances(at: location, products: nil, summary: true, catalog: catalog)
        case .storeBalances:
            return balances(at: try store(catalog), products: nil, summary: true, catalog: catalog)
        case .typeBalances:
            guard let type = request.queryValue("type")?.uppercased() else {
                throw GatewayError.missing("type")
            }
            guard let location = catalog.locations.first(where: { $0.zettleUUID != nil && Self.type($0) == type })
            else {
                throw GatewayError.notFound("No location of type '\(type)'", field: "type")
            }
            return balances(at: location, products: nil, summary: true, catalog: catalog)
        case .productBalances:
            let location = try knownLocation(
                request.pathParameters["locationUuid"] ?? "", field: "locationUuid", catalog: catalog)
            let product = try knownProduct(
                request.pathParameters["productUuid"] ?? "", field: "productUuid", catalog: catalog)
            return balances(at: location, products: [product], summary: false, catalog: catalog)
        case .productsBalances:
            let root = try FieldReader(request.jsonBody(), path: "")
            let type = try root.requiredString("locationType", maxLength: 16).uppercased()
            guard let location = catalog.locations.first(where: { $0.zettleUUID != nil && Self.type($0) == type })
            else {
                throw GatewayError.notFound("No location of type '\(type)'", field: "locationType")
            }
            var products: [String] = []
            for (index, value) in (try root.requiredArray("productUuids")).enumerated() {
                guard case .string(let text) = value else {
                    throw GatewayError.invalidValue(
                        "productUuids[\(index)] must be a UUID", field: "productUuids[\(index)]")
                }
                products.append(try knownProduct(text, field: "productUuids[\(index)]", catalog: catalog))
            }
            return balances(at: location, products: products, summary: true, catalog: catalog)
        case .trackingStart:
            let root = try FieldReader(request.jsonBody(), path: "")
            let product = try knownProduct(uuid(root, "productUuid"), field: "productUuid", catalog: catalog)
            let location = try store(catalog)
            return Decoded(
                commands: [
                    .setTracking(products: Self.catalogProducts(product, catalog), tracked: true),
                    .readBalances(
                        BalanceQuery(
                            products: Self.catalogProducts(product, catalog), location: location.key, includeZero: false
                        )),
                ],
                context: .tracked(location: location.key, product: product))
        case .trackingStop:
            let product = try knownProduct(
                request.pathParameters["productUuid"] ?? "", field: "productUuid", catalog: catalog)
            return Decoded(
                commands: [.setTracking(products: Self.catalogProducts(product, catalog), tracked: false)],
                context: .untracked)
        case .inventoryUpdate:
            return try decodeUpdate(request, catalog: catalog)
        case .inventoryBulk:
            return try decodeBulk(request, catalog: catalog)
        }
    }

    func decodeUpdate(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        let root = try FieldReader(request.jsonBody(), path: "")
        let changes = try root.requiredArray("changes")
        guard !changes.isEmpty else {
            throw GatewayError.invalidValue("changes must hold at least one change", field: "changes")
        }
        guard changes.count <= Self.maxChanges else {
            throw GatewayError.invalidValue("changes holds more than \(Self.maxChanges) items", field: "changes")
        }
        var movements: [Movement] = []
        var variants: [VariantRef] = []
        for (index, change) in changes.enumerated() {
            let reader = try FieldReader(change, path: "changes[\(index)]")
            let productUUID = try uuid(reader, "productUuid")
            let (movement, variant) = try self.change(reader, productUUID: productUUID, tracking: nil, catalog: catalog)
            movements.append(movement)
            if !variants.contains(variant) { variants.append(variant) }
        }
        return try finish(root, movements: movements, variants: variants, bulk: false, catalog: catalog)
    }

    func decodeBulk(_ request: InboundRequest, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        let root = try FieldReader(request.jsonBody(), path: "")
        let products = try root.requiredArray("productChanges")
        guard !products.isEmpty else {
            throw GatewayError.invalidValue("productChanges must hold at least one product", field: "productChanges")
        }
        var movements: [Movement] = []
        var variants: [VariantRef] = []
        var trackingChanges: [Command] = []
        for (productIndex, productChange) in products.enumerated() {
            let productReader = try FieldReader(productChange, path: "productChanges[\(productIndex)]")
            let productUUID = try uuid(productReader, "productUuid")
            let tracking = try productReader.string("trackingStatusChange", maxLength: 32)
            if let tracking, tracking != "START_TRACKING" && tracking != "STOP_TRACKING" && tracking != "NO_CHANGE" {
                throw GatewayError.invalidValue(
                    "trackingStatusChange must be START_TRACKING, STOP_TRACKING or NO_CHANGE, got '\(tracking)'",
                    field: productReader.name("trackingStatusChange"))
            }
            if tracking == "START_TRACKING" || tracking == "STOP_TRACKING" {
                _ = try knownProduct(productUUID, field: productReader.name("productUuid"), catalog: catalog)
                trackingChanges.append(
                    .setTracking(
                        products: Self.catalogProducts(productUUID, catalog), tracked: tracking == "START_TRACKING"))
            }
            for (index, change) in (try productReader.array("variantChanges") ?? []).enumerated() {
                let reader = try FieldReader(change, path: productReader.name("variantChanges[\(index)]"))
                let (movement, variant) = try self.change(
                    reader, productUUID: productUUID, tracking: tracking, catalog: catalog)
                movements.append(movement)
                if !variants.contains(variant) { variants.append(variant) }
            }
        }
        guard movements.count <= Self.maxChanges else {
            throw GatewayError.invalidValue("more than \(Self.maxChanges) variant changes", field: "productChanges")
        }
        return try finish(
            root, movements: movements, variants: variants, bulk: true, tracking: trackingChanges, catalog: catalog)
    }

    func finish(
        _ root: FieldReader, movements: [Movement], variants: [VariantRef], bulk: Bool, tracking: [Command] = [],
        catalog: Catalog
    ) throws(GatewayError) -> Decoded<Context> {
        let reportLocation: Location
        // `has` reads JSON null as absent: clients that serialize every property send null for one
        // they leave unset (SwagPayPal's PosStruct::jsonSerialize).
        if root.has("returnBalanceForLocationUuid") {
            reportLocation = try knownLocation(
                uuid(root, "returnBalanceForLocationUuid"), field: "returnBalanceForLocationUuid", catalog: catalog)
        } else if let store = catalog.firstLocation(kind: .stock, where: { $0.zettleUUID != nil }) {
            reportLocation = store
        } else {
            throw GatewayError.unsupported(
                "the catalog has no Zettle STORE location", field: "returnBalanceForLocationUuid")
        }
        var externalID: String?
        if root.has("externalUuid") { externalID = try uuid(root, "externalUuid") }
        var items = movements
        for index in items.indices { items[index].externalID = externalID }
        // Tracking changes first (a product whose tracking starts in the same call is then moved).
        var commands: [Command] = tracking
        if !items.isEmpty { commands.append(.move(MoveBatch(items: items, atomicity: .allOrNothing))) }
        commands.append(.readBalances(BalanceQuery(products: variants.map(\.product), location: reportLocation.key)))
        // `externalUuid` is the caller's correlation id, kept on every movement it names; it is
        // not an idempotency key: Zettle applies every update, and real clients (PayPal's own
        // integration) send one fixed UUID with all of them. A repeat is made safe by the
        // `Idempotency-Key` header, as in every dialect.
        return Decoded(
            commands: commands, context: .update(location: reportLocation.key, variants: variants, bulk: bulk))
    }

    func change(
        _ reader: FieldReader, productUUID: String, tracking: String?, catalog: Catalog
    ) throws(GatewayError)
        -> (Movement, VariantRef)
    {
        let variantUUID = try uuid(reader, "variantUuid")
        guard let product = catalog.product(zettleVariant: variantUUID), product.zettleProductUUID == productUUID else {
            throw GatewayError.notFound(
                "Variant \(variantUUID) of product \(productUUID) not found", field: reader.name("variantUuid"))
        }
        let from = try knownLocation(
            uuid(reader, "fromLocationUuid"), field: reader.name("fromLocationUuid"), catalog: catalog)
        let to = try knownLocation(
            uuid(reader, "toLocationUuid"), field: reader.name("toLocationUuid"), catalog: catalog)
        // A number or a decimal string: the vendor's own purchase example sends `"change": "1"`
        // (iZettle/api-documentation, inventory-api/concepts/how-inventories-work.md).
        let quantity = try reader.requiredQuantity("change", allowString: true)
        var extras = MovementExtras()
        extras.trackingStatusChange = tracking
        let movement = Movement(
            product: product.key, quantity: quantity, from: from.key, to: to.key, allowOverage: true, extras: extras)
        return (movement, VariantRef(product: product.key, productUUID: productUUID, variantUUID: variantUUID))
    }

    func uuid(_ reader: FieldReader, _ key: String) throws(GatewayError) -> String {
        try Self.uuid(reader, key)
    }

    /// A UUID member, lowercased; refused naming the member when it is not one (also in V3).
    static func uuid(_ reader: FieldReader, _ key: String) throws(GatewayError) -> String {
        let text = try reader.requiredString(key, maxLength: 64)
        guard UUIDText.isValid(text) else {
            throw GatewayError.invalidValue(
                "\(reader.name(key)) must be a UUID, got '\(text)'", field: reader.name(key))
        }
        return text.caseFolded
    }

    /// The catalog location of a UUID; `field` is spelled out only for a refusal.
    func knownLocation(
        _ uuid: String, field: @autoclosure () -> String, catalog: Catalog
    ) throws(GatewayError)
        -> Location
    {
        guard let location = catalog.location(zettleUUID: uuid) else {
            throw GatewayError.notFound("Location \(uuid) not found", field: field())
        }
        return location
    }

    /// A Zettle product UUID the catalog knows, lowercased; `field` is spelled out only for a refusal.
    func knownProduct(_ uuid: String, field: @autoclosure () -> String, catalog: Catalog) throws(GatewayError) -> String
    {
        let folded = uuid.caseFolded
        guard UUIDText.isValid(folded), catalog.products.contains(where: { $0.zettleProductUUID == folded }) else {
            throw GatewayError.notFound("Product \(uuid) not found", field: field())
        }
        return folded
    }

    /// The catalog products (one per variant) of a Zettle product.
    static func catalogProducts(_ productUUID: String, _ catalog: Catalog) -> [String] {
        catalog.products.filter { $0.zettleProductUUID == productUUID && $0.zettleVariantUUID != nil }.map(\.key)
    }

    /// The STORE: the first stock location with a Zettle UUID.
    func store(_ catalog: Catalog) throws(GatewayError) -> Location {
        guard let store = catalog.firstLocation(kind: .stock, where: { $0.zettleUUID != nil }) else {
            throw GatewayError.unsupported("the catalog has no Zettle STORE location", field: "locationUuid")
        }
        return store
    }

    /// A balance read: which products are tracked first, then the location's balances.
    func balances(at location: Location, products: [String]?, summary: Bool, catalog: Catalog) -> Decoded<Context> {
        let keys = products.map { $0.flatMap { Self.catalogProducts($0, catalog) } }
        return Decoded(
            commands: [
                .readTracking, .readBalances(BalanceQuery(products: keys, location: location.key, includeZero: false)),
            ],
            context: .balances(location: location.key, products: products, summary: summary))
    }

    static func type(_ location: Location) -> String {
        switch location.kind {
        case .stock: return "STORE"
        case .supplier: return "SUPPLIER"
        case .sold: return "SOLD"
        case .bin: return "BIN"
        case .outside: return "OUTSIDE"
        }
    }

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        switch context {
        case .locations(let type):
            let rows = catalog.locations.compactMap { location -> JSONValue? in
                guard let uuid = location.zettleUUID else { return nil }
                if let type, Self.type(location) != type { return nil }
                return [
                    "uuid": .string(uuid), "type": .string(Self.type(location)), "name": .string(location.key),
                    "description": .string(location.key), "default": .bool(location.kind == .stock),
                ]
            }
            return .json(.ok, .array(rows))
        case .balances(let locationKey, _, let summary):
            return encodeBalances(outcomes, at: locationKey, summary: summary, catalog: catalog)
        case .tracked(let locationKey, _):
            let location = catalog.location(key: locationKey)
            var rows: [JSONValue] = []
            for case .balances(let balances) in outcomes {
                rows += balances.compactMap { Self.balanceRow($0, at: location, catalog: catalog) }
            }
            return .json(.ok, ["locationUuid": .string(location?.zettleUUID ?? ""), "variants": .array(rows)])
        case .untracked:
            return CodecResponse(status: .noContent)
        case .update(let locationKey, let variants, _):
            return encodeUpdate(
                outcomes, at: locationKey, variants: variants, context: context, route: route, catalog: catalog)
        }
    }

    /// A location's balances: the variants' rows, and for the summary read the tracked products
    /// and when the newest balance last changed.
    func encodeBalances(_ outcomes: [Outcome], at locationKey: String, summary: Bool, catalog: Catalog) -> CodecResponse
    {
        let location = catalog.location(key: locationKey)
        let uuid = location?.zettleUUID ?? ""
        let untracked = Self.untracked(outcomes)
        var rows: [JSONValue] = []
        var latest: Date?
        for case .balances(let balances) in outcomes {
            for balance in balances where !untracked.contains(balance.product) {
                guard let row = Self.balanceRow(balance, at: location, catalog: catalog) else { continue }
                rows.append(row)
                if let updated = balance.updatedAt { latest = max(latest ?? updated, updated) }
            }
        }
        guard summary else { return .json(.ok, ["locationUuid": .string(uuid), "variants": .array(rows)]) }
        // Real clients read `trackedProducts` (Shopware's Status, nopCommerce's
        // LocationInventoryBalance): every product the catalog maps to Zettle whose
        // tracking was not stopped. `latest`: when the newest balance answered last changed,
        // as an ISO 8601 date, null when unknown — nopCommerce reads it into a `DateTime?`
        // (Nop.Plugin.Misc.Zettle Domain/Api/Inventory/LocationInventoryBalance.cs), which
        // a number (the vendor's example shows `0`) would break.
        var tracked: [JSONValue] = []
        for product in catalog.products where !untracked.contains(product.key) {
            guard let productUUID = product.zettleProductUUID, !tracked.contains(.string(productUUID)) else {
                continue
            }
            tracked.append(.string(productUUID))
        }
        return .json(
            .ok,
            [
                "locationUuid": .string(uuid), "trackedProducts": .array(tracked), "variants": .array(rows),
                "latest": latest.map { .string(Timestamp.iso8601($0)) } ?? .null,
            ])
    }

    /// A movement's answer: the moved variants' balances at the location, or the refusal.
    func encodeUpdate(
        _ outcomes: [Outcome], at locationKey: String, variants: [VariantRef], context: Context, route: Route<Endpoint>,
        catalog: Catalog
    ) -> CodecResponse {
        if case .moved(let batch) = outcomes.first,
            let failure = batch.combinedFailure(naming: { _, error in error })
        {
            return encode(failure, route: route, context: context)
        }
        let location = catalog.location(key: locationKey)
        let uuid = location?.zettleUUID ?? ""
        var held: [String: Quantity] = [:]
        guard
            let balances = outcomes.lazy.compactMap({ outcome -> [Balance]? in
                if case .balances(let balances) = outcome { return balances }
                return nil
            }).last
        else {
            // The backend cannot read balances: the move stands, no balances to report.
            return .json(.ok, ["locationUuid": .string(uuid), "variants": []])
        }
        for balance in balances { held[balance.product] = balance.quantity }
        let rows = variants.map { variant -> JSONValue in
            Self.balanceRow(
                location: location, productUUID: variant.productUUID, variantUUID: variant.variantUUID,
                balance: held[variant.product] ?? .zero)
        }
        return .json(.ok, ["locationUuid": .string(uuid), "variants": .array(rows)])
    }

    /// A balance's row, for a product the catalog maps to a Zettle variant (nil otherwise).
    static func balanceRow(_ balance: Balance, at location: Location?, catalog: Catalog) -> JSONValue? {
        guard let product = catalog.product(key: balance.product), let productUUID = product.zettleProductUUID,
            let variantUUID = product.zettleVariantUUID
        else { return nil }
        return balanceRow(
            location: location, productUUID: productUUID, variantUUID: variantUUID, balance: balance.quantity)
    }

    /// The products whose tracking is stopped, from a `.readTracking` outcome among `outcomes`.
    static func untracked(_ outcomes: [Outcome]) -> Set<String> {
        for case .tracking(let untracked) in outcomes { return untracked }
        return []
    }

    /// One variant's balance as Zettle answers it, in every read and after every change: with
    /// its location and the location's type, and the balance as a decimal **string** — the
    /// vendor's type: Shopware's client (SwagPayPal `Pos/Api/Inventory/Status/Variant.php`)
    /// takes it through `setBalance(string)` under strict types, so a JSON number breaks it;
    /// nopCommerce's `int?` reads the string as well.
    static func balanceRow(
        location: Location?, productUUID: String, variantUUID: String, balance: Quantity
    )
        -> JSONValue
    {
        [
            "locationUuid": .string(location?.zettleUUID ?? ""), "locationType": .string(location.map(type) ?? "STORE"),
            "productUuid": .string(productUUID), "variantUuid": .string(variantUUID),
            "balance": .string(balance.description),
        ]
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        Self.vendorError(error)
    }

    /// Zettle's error answer, the same in the earlier API and in Inventory V3 (PayPal's V3 client
    /// reads `errorType`, `developerMessage` and `violations`: inpsyde/paypal-point-of-sale,
    /// `modules.local/paypal-pos-php-sdk/src/Exception/ZettleRestException.php`).
    static func vendorError(_ error: GatewayError) -> CodecResponse {
        if error.code == .unauthorized {
            // Token failures use the OAuth shape.
            return .json(.unauthorized, ["error": "invalid_token", "error_description": .string(error.message)])
        }
        let errorType: JSONValue = error.code == .notFound ? "ENTITY_NOT_FOUND" : .null
        var violations: [JSONValue] = []
        if let field = error.field {
            violations.append([
                "propertyName": .string(field), "developerMessage": .string(error.message),
                "constraintType": .string(Self.constraint(error.code)),
            ])
        }
        return .json(
            error.code.httpStatus,
            ["developerMessage": .string(error.message), "errorType": errorType, "violations": .array(violations)])
    }

    static func constraint(_ code: GatewayError.Code) -> String {
        switch code {
        case .missing: return "NOT_NULL"
        case .notFound: return "EXISTS"
        case .unknownField: return "UNKNOWN_PROPERTY"
        default: return "INVALID"
        }
    }
}
