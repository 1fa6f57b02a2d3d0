import Dialects
import HTTPTypes
import Logging

/// One `request` line per answer: request id, dialect, route, method, status, duration, the
/// client, the peer's address, the user agent, bytes in (as declared) and out, the trace id,
/// what the pipeline noted (backend, its time, items applied and failed) and, for a refusal,
/// its error code and reason. Numbers are numbers in JSON lines (`LogNumber`). Health and
/// `/metrics` — polled every few seconds — are logged at debug, the rest at info. Never a
/// body or a credential.
struct RequestLog: AnswerObserver {
    let logger: Logger

    func answered(_ exchange: Exchange, response: CodecResponse, elapsed: Duration) {
        let level: Logger.Level = exchange.route.isHealth || exchange.route.name == "metrics" ? .debug : .info
        guard logger.logLevel <= level else { return }
        let head = exchange.head
        // `.string` of the values as they are: an interpolation would copy each one.
        var metadata: Logger.Metadata = [
            "request_id": .string(exchange.requestID), "dialect": .string(exchange.route.dialect.rawValue),
            "route": .string(exchange.route.name), "method": .string(head.method.rawValue),
            "status": .number(Int(response.status.code)),
            "duration_ms": .stringConvertible(LogNumber(text: Self.millis(elapsed))),
            "peer": .string(exchange.connection.address), "bytes_out": .number(response.body.count),
        ]
        if let declared = head.headerFields[.contentLength].flatMap(Int.init) {
            metadata["bytes_in"] = .number(declared)
        }
        if let agent = head.headerFields[.userAgent] { metadata["user_agent"] = .string(String(agent.prefix(200))) }
        if let client = exchange.client { metadata["client"] = .string(client) }
        if let trace = exchange.trace?.parent, trace.utf8.count >= 35 {
            metadata["trace_id"] = .string(String(trace.dropFirst(3).prefix(32)))
        }
        let facts = response.logFacts
        if let backend = facts.backend { metadata["backend"] = .string(backend) }
        if let upstream = facts.upstream {
            metadata["upstream_ms"] = .stringConvertible(LogNumber(text: Self.millis(upstream)))
        }
        if facts.itemsApplied + facts.itemsFailed > 0 {
            metadata["items_applied"] = .number(facts.itemsApplied)
            metadata["items_failed"] = .number(facts.itemsFailed)
        }
        if let error = facts.error { metadata["error"] = .string(error) }
        if let reason = facts.reason { metadata["reason"] = .string(String(reason.prefix(300))) }
        logger.log(level: level, "request", metadata: metadata)
    }

    static func millis(_ duration: Duration) -> String {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        let whole = String(micros / 1000)
        let fraction = micros % 1000
        return whole + (fraction < 10 ? ".00" : fraction < 100 ? ".0" : ".") + String(fraction)
    }
}
