import StockCore

/// A Zettle backend: all-or-nothing `PUT …/inventory`, balances per location. Zettle does not
/// deduplicate: `externalUuid` is only a correlation id it passes through to its webhooks, so
/// the movements' own `externalUuid` travels there and a write already sent is never repeated.
public struct ZettleOutbound: OutboundCodec {
    public var dialect: DialectID { ZettleCodec.dialect }
    public let capabilities = BackendCapabilities(
        maxBatchItems: ZettleCodec.maxChanges, atomicRequests: true, integerQuantities: false,
        maxFractionDigits: nil, pendingTransfers: false, balanceReads: true, idempotencyKeys: false)
    public let parameters: BackendParameters

    /// The organization as a path segment, encoded once.
    let organization: String

    public init(parameters: BackendParameters = BackendParameters()) {
        self.parameters = parameters
        self.organization = percentEncoded(parameters.zettleOrganization)
    }

    func uuid(_ key: String, asSource: Bool, catalog: Catalog, field: String) throws(GatewayError) -> String {
        guard let location = catalog.location(key: key) else {
            throw GatewayError.notFound("unknown location '\(key)'", field: field)
        }
        if let uuid = location.zettleUUID { return uuid }
        if let substitute = catalog.untrackedSubstitute(
            for: location, asSource: asSource, where: { $0.zettleUUID != nil }),
            let uuid = substitute.zettleUUID
        {
            return uuid
        }
        throw GatewayError.unsupported("location '\(key)' has no Zettle UUID in the catalog", field: field)
    }

    /// The UUIDs a change names, or why the backend cannot be told about the item.
    func identifiers(
        _ item: Movement, catalog: Catalog
    ) throws(GatewayError)
        -> (product: String, variant: String, from: String, to: String)
    {
        guard let product = catalog.product(key: item.product), let productUUID = product.zettleProductUUID,
            let variantUUID = product.zettleVariantUUID
        else {
            throw GatewayError.unsupported(
                "product '\(item.product)' has no Zettle UUIDs in the catalog", field: "product")
        }
        return (
            productUUID, variantUUID, try uuid(item.from, asSource: true, catalog: catalog, field: "from"),
            try uuid(item.to, asSource: false, catalog: catalog, field: "to")
        )
    }

    func change(_ item: Movement, catalog: Catalog) throws(GatewayError) -> JSONValue {
        let ids = try identifiers(item, catalog: catalog)
        return [
            "productUuid": .string(ids.product), "variantUuid": .string(ids.variant),
            "fromLocationUuid": .string(ids.from), "toLocationUuid": .string(ids.to),
            "change": .number(item.quantity.description),
        ]
    }

    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try identifiers(item, catalog: catalog)
    }

    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest
    {
        var changes: [JSONValue] = []
        for item in items { changes.append(try change(item, catalog: catalog)) }
        var body = JSONObject([.init("changes", .array(changes))])
        // The caller's correlation id, when every change of the request carries the same one.
        if let correlation = items.first?.externalID, items.allSatisfy({ $0.externalID == correlation }),
            UUIDText.isValid(correlation)
        {
            body["externalUuid"] = .string(correlation)
        }
        return .json(.put, "/organizations/\(organization)/inventory", .object(body))
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        guard response.status == 200 else {
            let error = Self.refusal(response)
            return items.map { _ in .failed(error) }
        }
        return items.map { .applied($0) }
    }

    /// A Zettle answer that is not a success, with the vendor's `developerMessage` when it
    /// sent one (the same envelope in the earlier API and in V3).
    static func refusal(_ response: OutboundResponse) -> GatewayError {
        let message =
            response.json?["developerMessage"]?.stringValue ?? "Zettle answered \(response.status): \(response.text)"
        return backendError(status: response.status, message: message)
    }

    /// The bulk call with only tracking changes (iZettle/api-documentation,
    /// inventory-api/user-guides/manage-inventory-tracking/enable-tracking.md).
    public func trackingRequest(
        products: [String], tracked: Bool, catalog: Catalog
    ) throws(GatewayError)
        -> OutboundRequest?
    {
        let changes = try catalog.zettleProductUUIDs(products).map { uuid -> JSONValue in
            ["productUuid": .string(uuid), "trackingStatusChange": tracked ? "START_TRACKING" : "STOP_TRACKING"]
        }
        return .json(.post, "/organizations/\(organization)/v2/inventory/bulk", ["productChanges": .array(changes)])
    }

    public func balanceRequest(_ query: BalanceQuery, catalog: Catalog) throws(GatewayError) -> OutboundRequest {
        guard let key = query.location else {
            throw GatewayError.unsupported("a Zettle backend reads balances one location at a time", field: "location")
        }
        let uuid = try self.uuid(key, asSource: true, catalog: catalog, field: "location")
        // Built in one buffer: an interpolation grows its string once per part.
        var path = "/organizations/"
        path.reserveCapacity(40 + organization.utf8.count + uuid.utf8.count)
        path += organization
        path += "/inventory/locations/"
        path += uuid
        return OutboundRequest(.get, path)
    }

    /// What a location's balances answer is read for: each variant's id and balance. The rest
    /// (product and location ids, other fields Zettle adds) is checked as JSON, not built.
    static let balancesRead = JSONShape.members([
        ("variants", .items(.members([("variantUuid", .whole), ("balance", .whole)])))
    ])

    public func balanceResult(
        _ response: OutboundResponse, query: BalanceQuery, catalog: Catalog
    )
        throws(GatewayError) -> [Balance]
    {
        guard response.status == 200,
            let variants = (try? JSONParser.parse(response.body, keeping: Self.balancesRead))?["variants"]?.arrayValue,
            let location = query.location
        else { throw Self.refusal(response) }
        var balances: [Balance] = []
        balances.reserveCapacity(variants.count)
        for variant in variants {
            guard let uuid = variant["variantUuid"]?.stringValue, let product = catalog.product(zettleVariant: uuid),
                // Zettle answers balances as decimal strings; a number is read the same.
                let text = variant["balance"]?.stringValue ?? variant["balance"]?.numberText,
                let quantity = try? Quantity(parsing: text)
            else { continue }
            if let products = query.products, !products.contains(product.key) { continue }
            balances.append(Balance(product: product.key, location: location, quantity: quantity))
        }
        if query.includeZero, let products = query.products {
            for product in products where !balances.contains(where: { $0.product == product }) {
                balances.append(Balance(product: product, location: location, quantity: .zero))
            }
        }
        return balances
    }
}
