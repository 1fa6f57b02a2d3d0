import Dialects
import Logging

/// One `request` line per answer at info: request id, dialect, route, method, status,
/// duration, the client, and what the pipeline noted (backend, its time, items applied and
/// failed). Never a body or a credential.
struct RequestLog: AnswerObserver {
    let logger: Logger

    func answered(_ exchange: Exchange, response: CodecResponse, elapsed: Duration) {
        guard logger.logLevel <= .info else { return }
        // `.string` of the values as they are: an interpolation would copy each one.
        var metadata: Logger.Metadata = [
            "request_id": .string(exchange.requestID), "dialect": .string(exchange.route.dialect),
            "route": .string(exchange.route.name), "method": .string(exchange.head.method.rawValue),
            "status": .string(String(response.status.code)), "duration_ms": .string(Self.millis(elapsed)),
        ]
        if let client = exchange.client { metadata["client"] = .string(client) }
        let facts = response.logFacts
        if let backend = facts.backend { metadata["backend"] = .string(backend) }
        if let upstream = facts.upstream { metadata["upstream_ms"] = .string(Self.millis(upstream)) }
        if facts.itemsApplied + facts.itemsFailed > 0 {
            metadata["items_applied"] = .string(String(facts.itemsApplied))
            metadata["items_failed"] = .string(String(facts.itemsFailed))
        }
        logger.info("request", metadata: metadata)
    }

    static func millis(_ duration: Duration) -> String {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        let whole = String(micros / 1000)
        let fraction = micros % 1000
        return whole + (fraction < 10 ? ".00" : fraction < 100 ? ".0" : ".") + String(fraction)
    }
}
