import Hummingbird
import Synchronization

/// The request context of the gateway's router: the request id, and a slot where the
/// dialect handler leaves its dialect and route names for the logging middleware.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Taken from `X-Request-Id` or generated; returned in the response.
    public var requestID: String
    let routeLabel: RouteLabel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.requestID = ""
        self.routeLabel = RouteLabel()
    }
}

/// Dialect and route names of a request, set by the handler and read by the middleware
/// after it. A reference so both see the same slot although the context is a value type.
final class RouteLabel: Sendable {
    private let names = Mutex<(dialect: String, route: String)>(("-", "unmatched"))

    func set(dialect: String, route: String) {
        names.withLock { $0 = (dialect, route) }
    }

    var current: (dialect: String, route: String) {
        names.withLock { $0 }
    }
}
