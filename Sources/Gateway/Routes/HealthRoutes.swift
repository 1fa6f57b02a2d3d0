import Dialects
import HTTPServer

/// `/healthz` (alive) and `/readyz` (ready for traffic; 503 while draining or while the
/// backend or stock store cannot be reached): anyone may ask, on either listener.
struct HealthRoutes: RouteCollection {
    func routes(for gateway: Gateway) -> [ServedRoute] {
        ["healthz", "readyz"].map { name in
            ServedRoute(
                [.get, .head], "/" + name, requirement: .anyone, placement: .both, name: name,
                envelope: .gateway("this needs")
            ) { _ in
                if name == "readyz" && gateway.isDraining {
                    return .answer(.json(.serviceUnavailable, ["status": "draining"]))
                }
                // Without a store to ask over the network the answer is known now: no task.
                guard gateway.healthNeedsAsking else { return .answer(Self.health(gateway.healthProblem)) }
                return .later { Answer(Self.health(await gateway.checkHealth())) }
            }
        }
    }

    /// The healthy answer, the same bytes every time: made once, not per request (~2,700
    /// instructions, a fifth of the route's own cost).
    static let healthy = CodecResponse.json(.ok, ["status": "ok"])

    static func health(_ problem: String?) -> CodecResponse {
        guard let problem else { return healthy }
        return .json(.serviceUnavailable, ["status": "unavailable", "reason": .string(problem)])
    }
}
