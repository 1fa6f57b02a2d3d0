import Dialects
import StockCore

/// An address with too many failed credential checks (`AuthThrottle`) is answered 429 with
/// `Retry-After`, in the route's envelope, until its failures age out; health stays open.
struct ThrottleGate: Middleware {
    let throttle: AuthThrottle

    func admit(_ exchange: inout Exchange) -> CodecResponse? {
        guard !throttle.isQuiet, !exchange.route.isHealth, let wait = throttle.blocked(exchange.connection.peer)
        else { return nil }
        let seconds = max(1, wait.nanoseconds / 1_000_000_000)
        var refusal = exchange.route.envelope.refuse(
            GatewayError(
                code: .tooManyRequests,
                message: "too many failed credential checks from this address: try again in \(seconds) s"))
        refusal.headers[.retryAfter] = String(seconds)
        return refusal
    }
}
