import Dialects

/// One step every request's head passes before its route's handler runs: it may refuse the
/// request (the answer goes out at once, its body is dropped) or note what it found on the
/// exchange. The server composes its steps once at start (`GatewayHTTPServer.middleware`), in
/// this order: `HostCheck`, `ThrottleGate`, `Authentication`, `ContentCoding`, `TraceContext`.
protocol Middleware: Sendable {
    func admit(_ exchange: inout Exchange) -> CodecResponse?
}

/// Told of every answer once it is written: `RequestMetrics`, `RequestLog`.
protocol AnswerObserver: Sendable {
    func answered(_ exchange: Exchange, response: CodecResponse, elapsed: Duration)
}
