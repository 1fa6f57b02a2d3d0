import Dialects

/// A valid W3C `traceparent` (with its `tracestate`, at most 512 bytes of it) is kept for the
/// backend call of a dialect's request, which sends a child of it; an invalid one is ignored.
struct TraceContext: Middleware {
    func admit(_ exchange: inout Exchange) -> CodecResponse? {
        guard exchange.route.isDialectAPI else { return nil }
        let fields = exchange.head.headerFields
        if let header = fields[.traceParentField], TraceParent(header) != nil {
            exchange.trace = (header, fields[.traceStateField].map { String($0.prefix(512)) })
        }
        return nil
    }
}
