import Dialects
import HTTPTypes
import StockCore

/// One rule for every route: the caller must be what the route requires (`Requirement`: a
/// dialect's stock right, a role, any client, or anyone). 401 without credentials it knows,
/// 403 for a known client without the right — both in the route's envelope. Basic credentials
/// open only reads of the gateway's own pages (a browser keeps them and would send them with a
/// cross-site request that changes something). Presented credentials that fail count against
/// the caller's address (`AuthThrottle`).
struct Authentication: Middleware {
    let throttle: AuthThrottle

    func admit(_ exchange: inout Exchange) -> CodecResponse? {
        let route = exchange.route
        let head = exchange.head
        let pageRead = (head.method == .get || head.method == .head) && !route.requirement.isDialect
        switch exchange.gateway.clients.decide(route.requirement, headers: head.headerFields, basicAllowed: pageRead) {
        case .allowed(let name):
            exchange.client = name
            return nil
        case .unauthenticated:
            // A guess presents credentials; a request with none is only refused, not counted.
            if head.headerFields[.authorization] != nil || head.headerFields.contains(.apiKey) {
                throttle.failed(exchange.connection.peer)
            }
            var refusal = route.envelope.unauthenticated()
            refusal.logFacts.error = GatewayError.Code.unauthorized.description
            refusal.logFacts.reason = "missing or unknown credentials"
            return refusal
        case .forbidden(let name):
            exchange.client = name
            return route.envelope.forbidden(route.requirement)
        }
    }
}
