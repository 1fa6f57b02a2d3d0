import Dialects
import HTTPServer
import HTTPTypes
import Operations
import StockCore
import Synchronization

/// One route the server answers: its method(s) and path template, the role it needs, where it
/// is served, how it refuses, and its handler. Every feature declares its routes in its own
/// route collection (`RouteCollection`); the server, `translate`, the OpenAPI generator and
/// the role-matrix test read them from one `RouteTable`.
final class ServedRoute: Sendable {
    /// nil: any method (a dialect answers a wrong one in its own way).
    let methods: [HTTPRequest.Method]?
    let template: RouteTemplate
    /// What the caller must be when clients are configured.
    let requirement: Requirement
    /// Where it is served when an admin listener is configured.
    let placement: Placement
    /// The metric and log labels: the dialect (`-` for the gateway's own) and the route's name.
    let dialect: DialectID
    let name: String
    /// Whether it reads a body (a body sent to a route that does not is dropped).
    let readsBody: Bool
    /// A dialect's API, served by its codec (`DialectRoutes`): refuses encoded bodies.
    let isDialectAPI: Bool
    /// The route's error envelope.
    let envelope: Envelope
    let handle: @Sendable (RouteRequest) -> Reply
    /// Its request metrics, made at its first answer for the gateway's metrics then.
    private let series = Mutex<(metrics: GatewayMetrics, series: GatewayMetrics.RequestSeries)?>(nil)

    init(
        _ methods: [HTTPRequest.Method]?, _ path: String, requirement: Requirement, placement: Placement = .traffic,
        dialect: DialectID = "-", name: String, readsBody: Bool = false, isDialectAPI: Bool = false,
        envelope: Envelope,
        handle: @escaping @Sendable (RouteRequest) -> Reply
    ) {
        self.methods = methods
        self.template = RouteTemplate(path)
        self.requirement = requirement
        self.placement = placement
        self.dialect = dialect
        self.name = name
        self.readsBody = readsBody
        self.isDialectAPI = isDialectAPI
        self.envelope = envelope
        self.handle = handle
    }

    /// What an answer to this route records in `metrics`, made once.
    func requestSeries(in metrics: GatewayMetrics) -> GatewayMetrics.RequestSeries {
        series.withLock { cached in
            if let cached, cached.metrics === metrics { return cached.series }
            let made = metrics.requests(dialect: dialect, route: name)
            cached = (metrics, made)
            return made
        }
    }

    /// `/healthz` and `/readyz`: answered to anyone, always, never throttled.
    var isHealth: Bool { dialect == "-" && (name == "healthz" || name == "readyz") }

    /// Where a route is served when an admin listener is configured.
    enum Placement: Sendable {
        /// The admin listener only: metrics, the operator page, settling the journal.
        case operations
        /// Both: health, and the canonical API's reads (`stockgate journal` and `reconcile`
        /// pointed at the admin address read the journal there).
        case both
        /// The traffic port only: every dialect's API, `/Token`, the simulator, OpenAPI.
        case traffic

        func serves(_ listener: Listener) -> Bool {
            switch (listener, self) {
            case (_, .both), (.traffic, .traffic), (.admin, .operations): true
            default: false
            }
        }
    }

    /// No route has the path: 404 with an empty body.
    static let notFound = ServedRoute(
        nil, "/", requirement: .anyone, name: "unmatched", envelope: .gateway("this needs")
    ) { _ in .answer(CodecResponse(status: .notFound)) }

    /// The path exists with other methods: 405 with `Allow`, in the envelope of the route that
    /// has the path.
    static func methodNotAllowed(_ allowed: [HTTPRequest.Method], like route: ServedRoute) -> ServedRoute {
        let methods = allowed.map(\.rawValue).joined(separator: ", ")
        return ServedRoute(
            nil, "/", requirement: .anyone, dialect: route.dialect, name: "method_not_allowed",
            envelope: route.envelope
        ) { request in
            var refusal = route.envelope.refuse(
                GatewayError(
                    code: .methodNotAllowed,
                    message: "\(request.head.method.rawValue) is not allowed here; allowed: \(methods)"))
            refusal.headers[.allow] = methods
            return .answer(refusal)
        }
    }
}

/// How a route refuses: its error envelope, and its answer to a caller without credentials.
/// Every refusal carries its code and reason for the request log (`LogFacts`).
struct Envelope: Sendable {
    private let envelope: @Sendable (GatewayError) -> CodecResponse
    let unauthenticated: @Sendable () -> CodecResponse

    init(
        refuse: @escaping @Sendable (GatewayError) -> CodecResponse,
        unauthenticated: @escaping @Sendable () -> CodecResponse
    ) {
        envelope = refuse
        self.unauthenticated = unauthenticated
    }

    func refuse(_ error: GatewayError) -> CodecResponse {
        var response = envelope(error)
        response.logFacts.error = error.code.description
        response.logFacts.reason = error.message
        return response
    }

    /// A dialect's own envelope, for every refusal.
    static func dialect(_ refuse: @escaping @Sendable (GatewayError) -> CodecResponse) -> Envelope {
        Envelope(refuse: refuse) {
            refuse(GatewayError(code: .unauthorized, message: "missing or unknown credentials"))
        }
    }

    /// The gateway's own JSON (`{"error": …}`); without credentials, "`what` the credentials of
    /// a configured client".
    static func gateway(_ what: String) -> Envelope {
        Envelope(refuse: { .json($0.code.httpStatus, ["error": .string($0.message)]) }) {
            var refusal = CodecResponse.json(
                .unauthorized, ["error": .string("\(what) the credentials of a configured client")])
            refusal.headers[.wwwAuthenticate] = "Bearer"
            return refusal
        }
    }

    /// 403 for a known client without what `requirement` asks.
    func forbidden(_ requirement: Requirement) -> CodecResponse {
        let message =
            switch requirement {
            case .dialect(let dialect): "this client may not use the \(dialect) API"
            case .role(let role): "this client does not hold the '\(role.rawValue)' role this needs"
            case .anyone, .anyClient: "this client may not do this"
            }
        return refuse(GatewayError(code: .forbidden, message: message))
    }
}

/// What a route's handler is given: the request, whole, and who sent it.
struct RouteRequest: Sendable {
    var head: HTTPRequest
    /// The body as it arrived (nil when there was none).
    var body: [UInt8]?
    var parameters: [String: String]
    var requestID: String
    /// The configured client that sent it (nil when no client is configured).
    var client: String?
    /// A valid W3C trace context the caller sent (`TraceContext`).
    var trace: (parent: String, state: String?)?
    var connection: ConnectionFacts
    var gateway: Gateway
    /// Failed credential checks (`/Token` counts its own).
    var throttle: AuthThrottle

    /// The request target's query.
    var query: [(name: String, value: String)] {
        QueryString.parse(QueryString.split(target: head.path ?? "").query)
    }
}

/// A feature's routes, for one gateway (built again on reload).
protocol RouteCollection: Sendable {
    func routes(for gateway: Gateway) -> [ServedRoute]
}

/// Every route the server answers, from every route collection, looked up by `RouteMatcher`'s
/// one rule.
struct RouteTable: Sendable {
    /// The collections, in precedence order for equal matches: adding a feature adds its
    /// collection here.
    static let collections: [any RouteCollection] = [
        HealthRoutes(), OperationsRoutes(), TokenRoutes(), SimulatorRoutes(), DialectRoutes(),
    ]

    let all: [ServedRoute]
    private let matcher: RouteMatcher

    init(gateway: Gateway) {
        all = Self.collections.flatMap { $0.routes(for: gateway) }
        matcher = RouteMatcher(all.map { .init($0.template, methods: $0.methods) })
    }

    /// Where `method` and `path` (without its query) lead; a path that exists only with other
    /// methods leads to 405, one that does not exist to 404.
    func route(method: HTTPRequest.Method, path: Substring) -> (ServedRoute, parameters: [String: String]) {
        switch matcher.match(method: method, path: path) {
        case .route(let index, let parameters): (all[index], parameters)
        case .otherMethods(let allowed, let first): (.methodNotAllowed(allowed, like: all[first]), [:])
        case .none: (.notFound, [:])
        }
    }
}
