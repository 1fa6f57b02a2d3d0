import Dialects

/// A dialect's API takes bodies as sent: a `Content-Encoding` or a transfer coding other than
/// chunked is refused 415 in the dialect's envelope, naming the header.
struct ContentCoding: Middleware {
    func admit(_ exchange: inout Exchange) -> CodecResponse? {
        guard exchange.route.isDialectAPI, let problem = GatewayServer.unsupportedCoding(exchange.head.headerFields)
        else { return nil }
        return exchange.route.envelope.refuse(problem)
    }
}
