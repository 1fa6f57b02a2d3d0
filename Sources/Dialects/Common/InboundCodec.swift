import HTTPTypes
import StockCore

/// What a codec made of a request: the commands to run in order, and whatever the encoder
/// needs to shape the answer (the items to echo, the location to report balances for…).
public struct Decoded<Context: Sendable>: Sendable {
    public var commands: [Command]
    public var context: Context
    /// A key the dialect itself carries that makes a repeated write apply once (Zettle's
    /// `externalUuid`); the gateway records it as the request's idempotency key.
    public var idempotencyKey: String?

    public init(commands: [Command], context: Context, idempotencyKey: String? = nil) {
        self.commands = commands
        self.context = context
        self.idempotencyKey = idempotencyKey
    }
}

/// A dialect as a server: pure functions between HTTP messages and canonical commands and
/// outcomes. No socket, clock or database is touched here.
public protocol InboundCodec: Sendable {
    associatedtype Context: Sendable
    /// The endpoints this dialect serves, one case each (raw value: the metrics label).
    associatedtype Endpoint: RawRepresentable & Sendable & Hashable & CaseIterable where Endpoint.RawValue == String

    /// The dialect id (`stockgate`, `colleqtive`, …), used in config, metrics and the journal.
    var dialect: DialectID { get }
    /// The endpoints this dialect serves.
    var routes: [Route<Endpoint>] { get }

    /// Turns a request into commands, or refuses it.
    func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError) -> Decoded<Context>

    /// Turns the outcomes of the commands (one per command, in order) into the response.
    func encode(_ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog) -> CodecResponse

    /// Turns a failure into the dialect's error envelope. `context` is nil when decoding failed.
    func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse

    /// Whether a request to `path` only reads (changes nothing): what a recording and a contract
    /// case take as free of side effects. GET and HEAD unless the dialect says more (an RPC
    /// dialect reads by POST).
    func onlyReads(method: HTTPRequest.Method, path: String) -> Bool

    /// What the route reached at `path` takes, declared as strictly as `decode` checks it
    /// (`RequestSchema`); nil where nothing is declared (the documents then infer a schema from
    /// the contract cases' examples).
    func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema?
}

extension InboundCodec {
    public func onlyReads(method: HTTPRequest.Method, path: String) -> Bool { method == .get || method == .head }

    public func requestSchema(_ route: Route<Endpoint>, path: String) -> RequestSchema? { nil }
}

extension InboundCodec {
    /// The route serving one endpoint.
    public func route(_ endpoint: Endpoint) -> Route<Endpoint>? { routes.first { $0.endpoint == endpoint } }
}

/// A route with its codec's endpoint type left out: what generated documents need.
public struct RouteDescription: Sendable {
    public var name: String
    /// nil: any method (the codec answers a wrong one itself).
    public var method: String?
    public var path: String
    let matcher: @Sendable (String) -> [String: String]?
    let schema: @Sendable (String) -> RequestSchema?

    /// The values of the path's `{name}` segments when `path` fits this route, else nil.
    public func match(_ path: String) -> [String: String]? { matcher(path) }

    /// What the route takes at `path`, as its codec declares it (`InboundCodec.requestSchema`).
    public func requestSchema(path: String) -> RequestSchema? { schema(path) }
}

extension InboundCodec {
    /// The description of the route `method` and `path` reach (`RouteMatcher`'s rule).
    public func routeDescription(method: String, path: String) -> RouteDescription? {
        guard let found = route(method: HTTPRequest.Method(method) ?? .get, path: path) else { return nil }
        return routeDescriptions.first { $0.name == found.route.name }
    }
}

extension InboundCodec {
    /// The routes, described without their endpoint type.
    public var routeDescriptions: [RouteDescription] {
        routes.map { route in
            RouteDescription(
                name: route.name, method: route.method?.rawValue, path: route.path, matcher: { route.match($0) },
                schema: { requestSchema(route, path: $0) })
        }
    }
}
