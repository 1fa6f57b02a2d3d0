import Dialects
import HTTPServer
import StockCore

/// How a scheduled fault changes a dialect request's reply: refused at once (429 or 503 in the
/// dialect's envelope, with `Retry-After`), never answered (`hang`), reset, or the pipeline's
/// answer delayed (`latency`), written slowly (`dribble`), cut short (`truncate`) or replaced by a reset or hang after the
/// movement was applied (`afterApply`). `error` and `partial` are played by the pipeline itself.
public enum FaultPlay {
    public static func reply(
        _ fault: Fault, refuse: @escaping @Sendable (GatewayError) -> CodecResponse,
        serve: @escaping @Sendable (Fault?) async -> CodecResponse
    ) -> Reply {
        switch fault.kind {
        case .rateLimit, .unavailable:
            var refusal = refuse(
                fault.kind == .rateLimit
                    ? GatewayError(code: .tooManyRequests, message: "too many requests (a scheduled fault)")
                    : GatewayError(code: .unavailable, message: "service unavailable (a scheduled fault)"))
            refusal.headers[.retryAfter] = String(fault.retryAfter)
            return .answer(refusal)
        case .hang where !fault.afterApply:
            return .now(Answer(CodecResponse(status: .ok), .hang(fault.delay.map(FaultSchedule.sample))))
        case .reset where !fault.afterApply:
            return .now(Answer(CodecResponse(status: .ok), .reset))
        default:
            let delivery: Answer.Delivery =
                switch fault.kind {
                case .hang: .hang(fault.delay.map(FaultSchedule.sample))
                case .reset: .reset
                case .truncate: .truncate
                case .dribble: .dribble(chunkBytes: fault.chunkBytes, every: .milliseconds(fault.dribbleInterval))
                default: .write
                }
            let latency = fault.kind == .latency ? fault.delay.map(FaultSchedule.sample) : nil
            return .later {
                if let latency { try? await Task.sleep(for: latency) }
                return Answer(await serve(fault), delivery)
            }
        }
    }
}
