import Dialects
import HTTPTypes
import StockCore

/// What a request leads to: one of the gateway's own endpoints, a dialect's route, or nothing.
enum Destination: Sendable {
    /// `/healthz` or `/readyz` (GET, HEAD).
    case health(String)
    case metrics
    /// The operator page, `GET /stockgate/console`.
    case console
    /// StoreFeeder's OAuth2 password grant, `POST /Token`.
    case token
    /// `POST /stockgate/v1/test/reset`, only with `--enable-test-reset`.
    case testReset
    /// `/stockgate/v1/test/faults[/{id}]`, only with `--enable-faults`.
    case faults
    /// `GET /stockgate/openapi/{dialect}.json`.
    case openAPI
    /// Zettle's Pusher API, `/organizations/{org}/subscriptions[/{uuid}]`, with `--enable-webhooks`.
    case pusher
    case codec(CodecEndpoint, parameters: [String: String])
    /// The path exists with other methods: 405 with `Allow`, in the dialect's envelope when a
    /// dialect's route has the path.
    case methodNotAllowed(allowed: [HTTPRequest.Method], endpoint: CodecEndpoint?)
    case notFound

    /// What the caller must be (with clients configured): every destination says it here, and
    /// the role-matrix test (`RoleMatrixTests`) checks each against every role.
    var requirement: Requirement {
        switch self {
        case .health, .token, .notFound, .methodNotAllowed: .anyone
        case .metrics: .role(.metrics)
        case .console: .role(.operator)
        case .testReset, .faults: .role(.test)
        case .openAPI: .anyClient
        case .pusher: .dialect(ZettleCodec.dialect)
        case .codec(let endpoint, _): endpoint.requirement
        }
    }

    /// Where it is served when an admin listener is configured.
    enum Placement {
        /// The admin listener only: metrics, the operator page, settling the journal.
        case operations
        /// Both: health, and the canonical API's reads (`stockgate journal` and `reconcile`
        /// pointed at the admin address list the journal there).
        case both
        /// The traffic port only: every dialect's API, `/Token`, the simulator, OpenAPI.
        case traffic
    }

    var placement: Placement {
        switch self {
        case .metrics, .console: .operations
        case .health: .both
        case .codec(let endpoint, _):
            if endpoint.requirement == .role(.operator) {
                .operations
            } else if endpoint.dialect == CanonicalCodec.dialect && endpoint.method == .get {
                .both
            } else {
                .traffic
            }
        default: .traffic
        }
    }

    /// Whether a connection on `listener` is served this when an admin listener is configured;
    /// otherwise it is not found there.
    func isServed(on listener: Listener) -> Bool {
        switch (listener, placement) {
        case (_, .both), (.traffic, .traffic), (.admin, .operations): return true
        default: return false
        }
    }

    /// `/healthz` and `/readyz`: answered to anyone, always.
    var isHealth: Bool {
        if case .health = self { return true }
        return false
    }

    var labels: (dialect: String, route: String) {
        switch self {
        case .health(let name): ("-", name)
        case .metrics: ("-", "metrics")
        case .console: ("-", "console")
        case .token: ("storefeeder", "token")
        case .testReset: ("-", "test.reset")
        case .faults: ("-", "test.faults")
        case .openAPI: ("-", "openapi")
        case .pusher: ("zettle", "subscriptions")
        case .codec(let endpoint, _): (endpoint.dialect, endpoint.routeName)
        case .methodNotAllowed(_, let endpoint): (endpoint?.dialect ?? "-", "method_not_allowed")
        case .notFound: ("-", "unmatched")
        }
    }
}

/// One route of one inbound codec, with the codec's type erased: how to refuse a request in
/// the dialect's envelope before the pipeline runs, and how to run the pipeline.
struct CodecEndpoint: Sendable {
    let dialect: String
    let routeName: String
    let method: HTTPRequest.Method?
    let template: RouteTemplate
    /// The dialect's answer to a request refused before it was decoded (credentials, size, time).
    let refuse: @Sendable (GatewayError) -> CodecResponse
    /// The dialect's stock right, or a role for the routes that operate rather than trade.
    let requirement: Requirement

    /// Routes of the canonical API that settle the journal: the operator's, not a stock client's.
    static let operatorRoutes: Set<String> = ["journal.settle"]
    /// Decodes, executes and encodes (`Gateway.handle`), playing an `error` or `partial` fault.
    let handle: @Sendable (InboundRequest, RequestFacts, Fault?) async -> CodecResponse

    init<Codec: InboundCodec>(_ codec: Codec, route: Route<Codec.Endpoint>, gateway: Gateway) {
        dialect = codec.dialect
        routeName = route.name
        method = route.method
        template = RouteTemplate(route.path)
        requirement =
            codec.dialect == CanonicalCodec.dialect && Self.operatorRoutes.contains(route.name)
            ? .role(.operator) : .dialect(codec.dialect)
        refuse = { error in codec.encode(error, route: route, context: nil) }
        handle = { request, facts, fault in
            await gateway.handle(codec, route: route, request: request, facts: facts, fault: fault)
        }
    }
}

/// A route's path: literal segments and `{name}` parameters. A trailing slash and empty
/// segments are ignored when matching (real clients send `organizations/self/locations/`,
/// SwagPayPal PosRequestUri.php).
struct RouteTemplate: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let segments: [Segment]
    /// Literal segments: where two templates fit a path, the one with more literals wins
    /// (`/stocklocations/create-transfers` over `/stocklocations/{stockLocationID}`).
    let literals: Int

    init(_ path: String) {
        segments = path.split(separator: "/").map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}")
                ? .parameter(String(segment.dropFirst().dropLast())) : .literal(String(segment))
        }
        literals = segments.count { if case .literal = $0 { true } else { false } }
    }

    /// The parameters when `path` (split into its non-empty segments) fits.
    func match(_ path: [Substring]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        // Literals first: most templates of the right length fail on one, before any
        // parameter is copied.
        for (segment, actual) in zip(segments, path) {
            if case .literal(let text) = segment, actual != text { return nil }
        }
        guard literals < segments.count else { return [:] }
        var parameters: [String: String] = [:]
        for (segment, actual) in zip(segments, path) {
            if case .parameter(let name) = segment { parameters[name] = String(actual) }
        }
        return parameters
    }
}

/// Every route the server answers, looked up by method and path.
struct RouteTable: Sendable {
    /// The gateway's own endpoints; their methods a short list (compared, not hashed).
    private let builtins: [(template: RouteTemplate, methods: [HTTPRequest.Method], destination: Destination)]
    /// Codec routes by segment count, so a lookup compares only templates of the right length;
    /// each with its index in `endpoints`, so only the one that wins is copied out.
    private let bySegments: [Int: [(template: RouteTemplate, method: HTTPRequest.Method?, index: Int)]]
    private let endpoints: [CodecEndpoint]

    init(gateway: Gateway) {
        var builtins: [(RouteTemplate, [HTTPRequest.Method], Destination)] = [
            (RouteTemplate("/healthz"), [.get, .head], .health("healthz")),
            (RouteTemplate("/readyz"), [.get, .head], .health("readyz")),
            (RouteTemplate("/metrics"), [.get], .metrics),
            (RouteTemplate("/stockgate/console"), [.get, .head], .console),
            (RouteTemplate("/Token"), [.post], .token),
        ]
        if gateway.testReset != nil {
            builtins.append((RouteTemplate("/stockgate/v1/test/reset"), [.post], .testReset))
        }
        if gateway.pusher != nil {
            builtins.append((RouteTemplate("/organizations/{org}/subscriptions"), [.get, .post], .pusher))
            builtins.append((RouteTemplate("/organizations/{org}/subscriptions/{uuid}"), [.put, .delete], .pusher))
            builtins.append((RouteTemplate("/organizations/{org}/subscriptions/uuid/{uuid}"), [.delete], .pusher))
        }
        if gateway.openAPI != nil {
            builtins.append((RouteTemplate("/stockgate/openapi/{document}"), [.get, .head], .openAPI))
        }
        if gateway.faults != nil {
            builtins.append((RouteTemplate("/stockgate/v1/test/faults"), [.get, .post, .delete], .faults))
            builtins.append((RouteTemplate("/stockgate/v1/test/faults/{id}"), [.delete], .faults))
        }
        self.builtins = builtins
        let endpoints = gateway.codecs.flatMap { Self.endpoints($0, gateway: gateway) }
        var bySegments: [Int: [(template: RouteTemplate, method: HTTPRequest.Method?, index: Int)]] = [:]
        for (index, endpoint) in endpoints.enumerated() {
            bySegments[endpoint.template.segments.count, default: []].append(
                (endpoint.template, endpoint.method, index))
        }
        self.endpoints = endpoints
        self.bySegments = bySegments
    }

    /// Every route: its template, the methods it answers (nil: any) and where it leads — what
    /// the role-matrix test walks, so no route escapes it.
    var all: [(template: RouteTemplate, methods: [HTTPRequest.Method]?, destination: Destination)] {
        builtins.map { ($0.template, $0.methods, $0.destination) }
            + endpoints.map { ($0.template, $0.method.map { [$0] }, Destination.codec($0, parameters: [:])) }
    }

    private static func endpoints<Codec: InboundCodec>(_ codec: Codec, gateway: Gateway) -> [CodecEndpoint] {
        codec.routes.map { CodecEndpoint(codec, route: $0, gateway: gateway) }
    }

    /// Where `method` and `path` (without its query) lead. A path that fits only with other
    /// methods is `methodNotAllowed`, with every method it fits with.
    func destination(method: HTTPRequest.Method, path: Substring) -> Destination {
        let segments = Self.segments(path)
        for index in builtins.indices
        where builtins[index].methods.contains(method) && builtins[index].template.match(segments) != nil {
            return builtins[index].destination
        }
        guard let candidates = bySegments[segments.count] else { return otherMethods(segments) }
        var best: (index: Int, literals: Int, parameters: [String: String])?
        for candidate in candidates.indices {
            let route = candidates[candidate]
            guard route.method == nil || route.method == method, let parameters = route.template.match(segments)
            else { continue }
            if let current = best, current.literals >= route.template.literals { continue }
            best = (route.index, route.template.literals, parameters)
        }
        guard let best else { return otherMethods(segments) }
        return .codec(endpoints[best.index], parameters: best.parameters)
    }

    /// The miss path only: the methods other routes serve this path with, if any.
    private func otherMethods(_ segments: [Substring]) -> Destination {
        var allowed: [HTTPRequest.Method] = []
        var endpoint: CodecEndpoint?
        for builtin in builtins where builtin.template.match(segments) != nil {
            allowed += builtin.methods.filter { !allowed.contains($0) }
        }
        for route in bySegments[segments.count] ?? [] where route.template.match(segments) != nil {
            guard let method = route.method else { continue }
            if !allowed.contains(method) { allowed.append(method) }
            if endpoint == nil { endpoint = endpoints[route.index] }
        }
        guard !allowed.isEmpty else { return .notFound }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return .methodNotAllowed(allowed: allowed, endpoint: endpoint)
    }

    /// `path`'s non-empty segments, split on the bytes (a `Character` walk cost more than the
    /// whole lookup).
    static func segments(_ path: Substring) -> [Substring] {
        var segments: [Substring] = []
        segments.reserveCapacity(8)
        let bytes = path.utf8
        var start = bytes.startIndex
        var index = start
        while index != bytes.endIndex {
            if bytes[index] == UInt8(ascii: "/") {
                if start != index { segments.append(path[start..<index]) }
                start = bytes.index(after: index)
            }
            index = bytes.index(after: index)
        }
        if start != bytes.endIndex { segments.append(path[start..<bytes.endIndex]) }
        return segments
    }

    /// The request target without its query.
    static func withoutQuery(_ target: String) -> Substring {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target[...] }
        return target[..<mark]
    }
}
