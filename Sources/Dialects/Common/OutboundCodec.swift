import HTTPTypes
import StockCore

/// A request an outbound codec wants sent: an HTTPTypes request head with its method and header
/// fields, its path relative to the backend's base URL, and the body. The same head travels on
/// to the HTTP client, which is given the URL (the base's and this path) beside it.
///
/// The path is kept as text, not as the head's `:path` pseudo-field, which HTTPTypes would
/// check and copy byte by byte (~1,300 instructions a forward, callgrind) only for libcurl to
/// parse it again in the URL. The codecs percent-encode what they put in it, and the HTTP client
/// refuses a URL with a control character, a space or a NUL before anything is sent
/// (`CurlURLTests`).
public struct OutboundRequest: Sendable, Equatable {
    public var head: HTTPRequest
    /// Path and query, starting with `/`.
    public var path: String
    public var body: [UInt8]?

    /// - Parameter path: path and query, starting with `/`.
    public init(_ method: HTTPRequest.Method, _ path: String, headerFields: HTTPFields = [:], body: [UInt8]? = nil) {
        self.head = HTTPRequest(method: method, scheme: nil, authority: nil, path: nil, headerFields: headerFields)
        self.path = path
        self.body = body
    }

    public var method: HTTPRequest.Method { head.method }

    static func json(_ method: HTTPRequest.Method, _ path: String, _ value: JSONValue) -> OutboundRequest {
        OutboundRequest(method, path, headerFields: [.contentType: "application/json"], body: JSONWriter.bytes(value))
    }
}

/// What came back from the backend.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var body: [UInt8]
    /// The `Retry-After` header of a 429 or 503, if any.
    public var retryAfter: String?
    /// The `Link` header (paging), if any; read only for a dialect that pages
    /// (`BackendCapabilities.maxBalancePages` above 1).
    public var link: String?

    public init(status: Int, body: [UInt8], retryAfter: String? = nil, link: String? = nil) {
        self.status = status
        self.body = body
        self.retryAfter = retryAfter
        self.link = link
    }

    var json: JSONValue? { try? JSONParser.parse(body) }
    /// The start of the body for a message; long enough that a secret in the part a caller may see
    /// is whole when the gateway redacts it (it relays at most `SecretRedactor.maxMessageLength`).
    var text: String { String(decoding: body.prefix(4096), as: UTF8.self) }
}

/// What a backend dialect can do; the gateway fills the gaps in one general place.
public struct BackendCapabilities: Sendable, Equatable {
    /// Most movements one request may carry (Open2b: one per call).
    public var maxBatchItems: Int
    /// The items of one request stand or fall together.
    public var atomicRequests: Bool
    /// Quantities must be whole numbers (StoreFeeder).
    public var integerQuantities: Bool
    /// Most fraction digits a quantity may have (Open2b: 2).
    public var maxFractionDigits: Int?
    /// Can record a pending transfer.
    public var pendingTransfers: Bool
    /// Can read balances.
    public var balanceReads: Bool
    /// Deduplicates a repeated request by a key (so a retry is safe).
    public var idempotencyKeys: Bool
    /// Most pages of one balance read followed (`nextBalanceRequest`): a backend that keeps
    /// announcing pages is cut off there. 1 for a dialect that does not page.
    public var maxBalancePages = 1
    /// Takes level movements as they are (a level call): the backend reads and changes each
    /// level itself, atomically. Without it the gateway reads the balance and sends the difference.
    public var nativeLevels = false
    /// Most level items one request may carry, when fewer than `maxBatchItems` (StoreFeeder: 50).
    public var maxLevelItems: Int? = nil
}

/// The dialect's own parameters of a backend, from the configuration: the keys its
/// `Dialect.backendKeys` declares, read by typed accessors in the vendor's folder.
public struct BackendParameters: Sendable, Equatable {
    public var values: [String: String]

    public init(_ values: [String: String] = [:]) {
        self.values = values
    }

    public subscript(key: String) -> String? { values[key] }
}

/// A dialect as a client: canonical commands to the vendor's requests, the vendor's answers
/// back to canonical outcomes. Pure, like the inbound codecs.
public protocol OutboundCodec: Sendable {
    var dialect: DialectID { get }
    var capabilities: BackendCapabilities { get }

    /// Translates one movement into the backend's terms, or refuses it before anything is
    /// sent: no identifier in the catalog, a quantity the backend cannot carry, a move the
    /// backend cannot express.
    func check(_ item: Movement, catalog: Catalog) throws(GatewayError)

    /// The request for items that passed `check` and fit `capabilities.maxBatchItems`.
    /// `atomic` asks for all-or-nothing where the backend lets the caller choose.
    func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    ) throws(GatewayError)
        -> OutboundRequest

    /// The outcome of each item from the backend's answer, with the vendor's message kept.
    func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item]

    /// A request reading balances (only when `capabilities.balanceReads`).
    func balanceRequest(_ query: BalanceQuery, catalog: Catalog) throws(GatewayError) -> OutboundRequest

    func balanceResult(
        _ response: OutboundResponse, query: BalanceQuery, catalog: Catalog
    ) throws(GatewayError)
        -> [Balance]

    /// The request for the next page of a balance read, when the answer announces one.
    func nextBalanceRequest(after response: OutboundResponse) -> OutboundRequest?

    /// The request that starts or stops tracking products at the backend, for backends that
    /// know tracking (Zettle); nil for the others, whose tracking StockGate keeps itself.
    func trackingRequest(products: [String], tracked: Bool, catalog: Catalog) throws(GatewayError) -> OutboundRequest?
}

extension OutboundCodec {
    public func nextBalanceRequest(after response: OutboundResponse) -> OutboundRequest? { nil }

    public func trackingRequest(
        products: [String], tracked: Bool, catalog: Catalog
    ) throws(GatewayError)
        -> OutboundRequest?
    { nil }

    /// Whether the backend took a tracking change: any 2xx; otherwise its message, kept.
    public func trackingResult(_ response: OutboundResponse) throws(GatewayError) {
        guard !(200..<300).contains(response.status) else { return }
        let message = response.json?["developerMessage"]?.stringValue ?? response.text
        if response.status == 429 || response.status == 503 {
            throw GatewayError(
                code: .unavailable, message: "\(dialect) backend answered \(response.status): \(message)")
        }
        throw backendError(
            status: response.status, message: "\(dialect) backend refused the tracking change: \(message)")
    }

    public func balanceRequest(_ query: BalanceQuery, catalog: Catalog) throws(GatewayError) -> OutboundRequest {
        throw GatewayError.unsupported("a \(dialect) backend cannot read balances")
    }

    public func balanceResult(
        _ response: OutboundResponse, query: BalanceQuery, catalog: Catalog
    )
        throws(GatewayError) -> [Balance]
    {
        throw GatewayError.unsupported("a \(dialect) backend cannot read balances")
    }
}

extension Catalog {
    /// The distinct Zettle product UUIDs of catalog products, in order; refused for one without.
    func zettleProductUUIDs(_ products: [String]) throws(GatewayError) -> [String] {
        var uuids: [String] = []
        for key in products {
            guard let uuid = product(key: key)?.zettleProductUUID else {
                throw GatewayError.unsupported("product '\(key)' has no Zettle UUIDs in the catalog", field: "product")
            }
            if !uuids.contains(uuid) { uuids.append(uuid) }
        }
        return uuids
    }

    /// The untracked location a backend can name in place of one it has no name for: stock
    /// entering from (or leaving to) an unlimited source or sink has the same effect whichever
    /// one the backend is told. Sources prefer a supplier, sinks sold, then bin; outside last.
    public func untrackedSubstitute(
        for location: Location, asSource: Bool, where named: (Location) -> Bool
    ) -> Location? {
        guard !location.kind.isTracked else { return nil }
        if named(location) { return location }
        let preference: [LocationKind] =
            asSource ? [.supplier, .outside, .bin, .sold] : [.sold, .bin, .outside, .supplier]
        for kind in preference {
            if let candidate = locations.first(where: { $0.kind == kind && named($0) }) { return candidate }
        }
        return nil
    }
}

/// A success status whose body does not say what became of a write (not JSON, not the shape
/// the vendor answers): the backend may have applied it. The gateway answers such an item as
/// an unknown outcome and leaves its journal row `sent`; it is never taken for a refusal.
func unreadableAnswer(_ vendor: String, _ response: OutboundResponse) -> GatewayError {
    GatewayError(
        code: .unknownOutcome, message: "\(vendor) answered \(response.status) with a body StockGate cannot read")
}

/// The canonical failure for a vendor's refusal, by HTTP status, with its message kept.
func backendError(status: Int, message: String, field: String? = nil) -> GatewayError {
    let code: GatewayError.Code
    switch status {
    case 400, 422: code = .invalidValue
    case 404: code = .notFound
    case 409: code = .insufficientStock
    case 401, 403: code = .backendFailure
    default: code = .backendFailure
    }
    return GatewayError(code: code, message: message, field: field)
}

/// How a batch goes to a backend: which items are refused before sending, and which items
/// travel together in each request. Pure, so `stockgate translate` shows exactly what
/// `RemoteBackend` would send.
public struct MovePlan: Sendable, Equatable {
    /// Items the backend cannot carry, by index, with why.
    public var refusals: [Int: GatewayError]
    /// Indices of the items each request carries, in sending order.
    public var chunks: [[Int]]

    /// An all-or-nothing batch with a refused item sends nothing.
    /// - Parameter strict: on a strict route, the caller's field names: an item whose data the
    ///   backend would drop or cut short is refused, naming the first such field. Only facts
    ///   the caller's dialect has a field for count: one it cannot say (a dialect's implied
    ///   `allowOverage`) is never the caller's loss.
    public static func make(
        _ batch: MoveBatch, codec: any OutboundCodec, catalog: Catalog, strict: [MovementFact: String]? = nil
    ) -> MovePlan {
        var refusals: [Int: GatewayError] = [:]
        for (index, item) in batch.items.enumerated() {
            do throws(GatewayError) {
                try refuseBeyond(codec.capabilities, item, dialect: codec.dialect)
                try codec.check(item, catalog: catalog)
                if let names = strict,
                    let loss = CarriageProbe.losses(item, codec: codec, catalog: catalog).first(where: {
                        names[$0.fact] != nil
                    })
                {
                    throw strictRefusal(loss, dialect: codec.dialect, field: names[loss.fact] ?? loss.fact.rawValue)
                }
            } catch {
                refusals[index] = error
            }
        }
        if batch.atomicity == .allOrNothing && !refusals.isEmpty { return MovePlan(refusals: refusals, chunks: []) }
        let sendable = batch.items.indices.filter { refusals[$0] == nil }
        let capabilities = codec.capabilities
        // A backend that takes levels natively takes them by a call of their own: level items
        // and movements never share a request.
        var runs: [[Int]] = []
        for index in sendable {
            let kind = capabilities.nativeLevels && batch.items[index].level != nil
            if let last = runs.last?.last, (capabilities.nativeLevels && batch.items[last].level != nil) == kind {
                runs[runs.count - 1].append(index)
            } else {
                runs.append([index])
            }
        }
        let chunks = runs.flatMap { run -> [[Int]] in
            let levels = capabilities.nativeLevels && batch.items[run[0]].level != nil
            let size = max(
                1, levels ? capabilities.maxLevelItems ?? capabilities.maxBatchItems : capabilities.maxBatchItems)
            return stride(from: 0, to: run.count, by: size).map { Array(run[$0..<min(run.count, $0 + size)]) }
        }
        return MovePlan(refusals: refusals, chunks: chunks)
    }

    /// The refusal of a strict route for data the backend would not receive whole.
    static func strictRefusal(_ loss: DataLoss, dialect: DialectID, field: String) -> GatewayError {
        let what =
            switch loss.kind {
            case .dropped: "would drop '\(field)'"
            case .truncated(let limit): "would cut '\(field)' to \(limit) characters"
            }
        return GatewayError.unsupported(
            "a \(dialect) backend \(what): this route is strict, so the movement is not sent", field: field)
    }

    /// What the backend's declared capabilities exclude, refused in one place and one wording
    /// (each codec's `check` resolves identities only): a pending transfer, a fraction where
    /// quantities are whole, more decimals than the backend carries.
    public static func refuseBeyond(
        _ capabilities: BackendCapabilities, _ item: Movement, dialect: DialectID
    )
        throws(GatewayError)
    {
        if item.state == .pending && !capabilities.pendingTransfers {
            throw GatewayError.unsupported("a \(dialect) backend has no pending transfers", field: "pending")
        }
        if capabilities.integerQuantities && !(item.quantity.isInteger && item.quantity.intValue != nil) {
            throw GatewayError.unsupported(
                "a \(dialect) backend carries whole quantities only, got \(item.quantity)", field: "quantity")
        }
        if let digits = capabilities.maxFractionDigits, !capabilities.integerQuantities,
            item.quantity.fixed(fractionDigits: digits) == nil
        {
            throw GatewayError.unsupported(
                "a \(dialect) backend carries at most \(digits) decimals, got \(item.quantity)", field: "quantity")
        }
    }
}
