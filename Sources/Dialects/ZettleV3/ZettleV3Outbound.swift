import StockCore

/// A Zettle Inventory V3 backend: `POST /v3/movements` (all-or-nothing, answered `204`),
/// balances from `GET /v3/stock/{inventoryUuid}` (or, for one product,
/// `…/products/{productUuid}`), following the `Link: <…>; rel="next"` pages. Like the earlier
/// API it does not deduplicate: a write already sent is never repeated, and the movements'
/// correlation id travels as `identifier`.
public struct ZettleV3Outbound: OutboundCodec {
    public var dialect: DialectID { ZettleV3Codec.dialect }
    public let capabilities = BackendCapabilities(
        maxBatchItems: ZettleV3Codec.maxMovements, atomicRequests: true, integerQuantities: false,
        maxFractionDigits: nil, pendingTransfers: false, balanceReads: true, idempotencyKeys: false,
        maxBalancePages: 100)

    /// The earlier API's codec: the catalog lookups are the same (the same UUIDs).
    let identities = ZettleOutbound()

    public init(parameters: BackendParameters = BackendParameters()) {}

    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {
        _ = try identities.identifiers(item, catalog: catalog)
        _ = try Self.parts(item.quantity)
    }

    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest
    {
        // Every part is a movement of the one request, which holds at most `maxMovements`.
        let split = try items.map { item throws(GatewayError) in try Self.parts(item.quantity) }
        let count = split.reduce(0) { $0 + $1.count }
        guard count <= ZettleV3Codec.maxMovements else {
            throw GatewayError.unsupported(
                "a Zettle V3 backend takes at most \(ZettleV3Codec.maxMovements) movements of at most \(Self.maxChange) in one request; these need \(count)",
                field: "quantity")
        }
        var movements: [JSONValue] = []
        movements.reserveCapacity(count)
        for (item, parts) in zip(items, split) {
            let ids = try identities.identifiers(item, catalog: catalog)
            // The API refuses a movement over 100,000 (PayPal's own integration caps each one:
            // inpsyde/paypal-point-of-sale `modules.local/paypal-pos-sync/src/Job/SyncStockJob.php`,
            // "The API does not allow transactions larger than 100.000"). A larger one goes as
            // several movements of the same request, which V3 applies all or nothing.
            for part in parts {
                movements.append([
                    "productUuid": .string(ids.product), "variantUuid": .string(ids.variant),
                    "from": .string(ids.from), "to": .string(ids.to), "change": .number(part.description),
                ])
            }
        }
        var body = JSONObject([.init("movements", .array(movements))])
        if let correlation = items.first?.externalID, items.allSatisfy({ $0.externalID == correlation }),
            UUIDText.isValid(correlation)
        {
            body["identifier"] = .string(correlation)
        }
        return .json(.post, "/v3/movements", .object(body))
    }

    /// The largest movement the V3 API takes.
    public static let maxChange = Quantity(100_000)

    /// A quantity as movements of at most `maxChange` each, the remainder last; refused past
    /// what one request may hold before any part is made (the split was a loop of
    /// quantity ÷ 100,000 steps: 10¹³ for a quantity the decoders take).
    static func parts(_ quantity: Quantity) throws(GatewayError) -> [Quantity] {
        let most = Quantity(100_000 * ZettleV3Codec.maxMovements)  // maxChange × maxMovements
        guard quantity <= most else {
            throw GatewayError.unsupported(
                "a Zettle V3 backend takes at most \(ZettleV3Codec.maxMovements) movements of at most \(maxChange) in one request: \(quantity) is more than \(most)",
                field: "quantity")
        }
        var parts: [Quantity] = []
        var left = quantity
        while left > maxChange {
            parts.append(maxChange)
            left = left - maxChange
        }
        parts.append(left)
        return parts
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        guard (200..<300).contains(response.status) else {
            let error = ZettleOutbound.refusal(response)
            return items.map { _ in .failed(error) }
        }
        // 204 No Content is the documented answer; any 2xx says the movements were taken.
        return items.map { .applied($0) }
    }

    /// `POST /v3/products [{"productUuid", "tracking": "enable" | "disable"}]` (PayPal's setTracking).
    public func trackingRequest(
        products: [String], tracked: Bool, catalog: Catalog
    ) throws(GatewayError)
        -> OutboundRequest?
    {
        let entries = try catalog.zettleProductUUIDs(products).map { uuid -> JSONValue in
            ["productUuid": .string(uuid), "tracking": tracked ? "enable" : "disable"]
        }
        return .json(.post, "/v3/products", .array(entries))
    }

    public func balanceRequest(_ query: BalanceQuery, catalog: Catalog) throws(GatewayError) -> OutboundRequest {
        guard let key = query.location else {
            throw GatewayError.unsupported("a Zettle backend reads balances one location at a time", field: "location")
        }
        let inventory = try identities.uuid(key, asSource: true, catalog: catalog, field: "location")
        if let products = query.products, products.count == 1, let product = catalog.product(key: products[0]),
            let productUUID = product.zettleProductUUID
        {
            return OutboundRequest(.get, "/v3/stock/\(inventory)/products/\(productUUID)")
        }
        return OutboundRequest(.get, "/v3/stock/\(inventory)?limit=\(ZettleV3Codec.maxLimit)")
    }

    public func balanceResult(
        _ response: OutboundResponse, query: BalanceQuery, catalog: Catalog
    )
        throws(GatewayError) -> [Balance]
    {
        guard response.status == 200, let rows = response.json?.arrayValue, let location = query.location else {
            if response.status == 200 { throw unreadableAnswer("Zettle", response) }
            throw ZettleOutbound.refusal(response)
        }
        var balances: [Balance] = []
        for row in rows {
            guard let uuid = row["variantUuid"]?.stringValue, let product = catalog.product(zettleVariant: uuid),
                let text = row["balance"]?.numberText ?? row["balance"]?.stringValue,
                let quantity = try? Quantity(parsing: text)
            else { continue }
            if let products = query.products, !products.contains(product.key) { continue }
            if !query.includeZero && quantity == .zero { continue }
            balances.append(Balance(product: product.key, location: location, quantity: quantity))
        }
        // Products with no row read as zero once the last page is in (`RemoteBackend` merges pages).
        if query.includeZero, let products = query.products, nextBalanceRequest(after: response) == nil {
            for product in products where !balances.contains(where: { $0.product == product }) {
                balances.append(Balance(product: product, location: location, quantity: .zero))
            }
        }
        return balances
    }

    /// The next page a `Link: <…>; rel="next"` header announces, as a path on this backend:
    /// only the path and query are taken, so an answer cannot send the gateway to another host.
    public func nextBalanceRequest(after response: OutboundResponse) -> OutboundRequest? {
        guard let link = response.link, let target = LinkHeader.next(link), let path = LinkHeader.pathAndQuery(target),
            path.hasPrefix("/v3/stock/"), !path.contains("/..")
        else { return nil }
        return OutboundRequest(.get, path)
    }
}

/// RFC 8288 `Link` headers, as far as paging needs them.
public enum LinkHeader {
    /// The target of the `rel="next"` link, if any.
    public static func next(_ header: String) -> String? {
        for part in header.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let target = pieces.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
            let isNext = pieces.dropFirst().contains { parameter in
                let lowered = parameter.lowercased().replacingOccurrences(of: " ", with: "")
                return lowered == "rel=\"next\"" || lowered == "rel=next"
            }
            if isNext { return String(target.dropFirst().dropLast()) }
        }
        return nil
    }

    /// `/path?query` of an absolute or relative URL; nil for anything with control characters.
    public static func pathAndQuery(_ url: String) -> String? {
        guard !url.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else { return nil }
        var rest = Substring(url)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            rest = rest[slash...]
        }
        guard rest.hasPrefix("/"), !rest.hasPrefix("//") else { return nil }
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        return String(rest)
    }
}
