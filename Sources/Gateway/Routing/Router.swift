import Dialects
import HTTPServer
import HTTPTypes
import NIOCore
import StockCore

/// A request from its head to its answer, as the routing layer keeps it: the connection
/// layer holds it (one reference) and hands it back. Touched on its connection's event loop
/// only (a task gets a `RouteRequest` of its fields), hence `@unchecked Sendable`.
final class Exchange: @unchecked Sendable {
    var head: HTTPRequest
    /// The gateway current when the head arrived: the request keeps it to its answer.
    let gateway: Gateway
    var route: ServedRoute
    var parameters: [String: String]
    let requestID: String
    let started: ContinuousClock.Instant
    let connection: ConnectionFacts
    /// The configured client that sent it (set by `Authentication`).
    var client: String? = nil
    /// A valid W3C trace context, carried on to the backend (set by `TraceContext`).
    var trace: (parent: String, state: String?)? = nil

    init(
        head: HTTPRequest, gateway: Gateway, route: ServedRoute, parameters: [String: String], requestID: String,
        started: ContinuousClock.Instant, connection: ConnectionFacts
    ) {
        self.head = head
        self.gateway = gateway
        self.route = route
        self.parameters = parameters
        self.requestID = requestID
        self.started = started
        self.connection = connection
    }

    /// The exchange the connection layer hands back (it only ever holds this class's).
    static func of(_ held: any HTTPServer.Exchange) -> Exchange { unsafeDowncast(held, to: Exchange.self) }
}

/// The gateway's responder: finds the route, runs the middleware composed at start, calls the
/// route's handler. The connection layer below knows nothing of this; the pipeline the
/// dialects' routes call (`Gateway.handle`) knows nothing of connections.
struct Router: RequestResponder {
    /// The gateway and route table, replaced by a reload.
    let live: ServedGateway
    let maxBodyBytes: Int
    /// An admin listener is configured: each route is served on its own listener only.
    let adminSeparate: Bool
    let throttle: AuthThrottle
    /// Run in order on each head; the first refusal answers.
    let middleware: [any Middleware]
    /// Told of each answer once it is written.
    let observers: [any AnswerObserver]

    func begin(_ head: HTTPRequest, connection: ConnectionFacts) -> (any HTTPServer.Exchange, HeadDecision) {
        let (gateway, routes) = live.current
        var (route, parameters) = routes.route(
            method: head.method, path: head.path.map { RouteMatcher.withoutQuery($0) } ?? "/")
        if adminSeparate, !route.placement.serves(connection.listener) {
            (route, parameters) = (.notFound, [:])  // the other listener's route: not found here
        }
        var exchange = Exchange(
            head: head, gateway: gateway, route: route, parameters: parameters,
            requestID: RequestIDs.requestID(from: head.headerFields[.requestID]), started: .now,
            connection: connection)
        for step in middleware {
            if let refusal = step.admit(&exchange) { return (exchange, .refuse(refusal)) }
        }
        return (exchange, exchange.route.readsBody ? .read(limit: maxBodyBytes) : .ignoreBody)
    }

    func refusal(_ error: GatewayError, for held: any HTTPServer.Exchange) -> CodecResponse {
        Exchange.of(held).route.envelope.refuse(error)
    }

    func respond(to held: any HTTPServer.Exchange, body: ByteBuffer?) -> Reply {
        let exchange = Exchange.of(held)
        let reply = exchange.route.handle(
            RouteRequest(
                head: exchange.head, body: body.map { Array($0.readableBytesView) }, parameters: exchange.parameters,
                requestID: exchange.requestID,
                client: exchange.client, trace: exchange.trace, connection: exchange.connection,
                gateway: exchange.gateway, throttle: throttle))
        guard case .later(let work) = reply else { return reply }
        let metrics = exchange.gateway.metrics
        return .later {
            metrics.recordInFlight(1)
            let answer = await work()
            metrics.recordInFlight(-1)
            return answer
        }
    }

    func complete(_ response: inout CodecResponse, for held: any HTTPServer.Exchange) {
        let exchange = Exchange.of(held)
        response.headers.replaceOrAppend(HTTPField(name: .requestID, value: exchange.requestID))
        // Draining: a kept-alive client is told to reconnect, so its next request reaches an
        // instance that stays (HTTP1ServerCodec closes after this answer).
        if exchange.gateway.isDraining { response.headers[.connection] = "close" }
    }

    func answered(_ held: any HTTPServer.Exchange, response: CodecResponse) {
        let exchange = Exchange.of(held)
        let elapsed = ContinuousClock.now - exchange.started
        for observer in observers { observer.answered(exchange, response: response, elapsed: elapsed) }
    }
}
