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
                .later {
                    if name == "readyz" && gateway.isDraining {
                        return Answer(.json(.serviceUnavailable, ["status": "draining"]))
                    }
                    if let problem = await gateway.checkHealth() {
                        return Answer(
                            .json(.serviceUnavailable, ["status": "unavailable", "reason": .string(problem)]))
                    }
                    return Answer(.json(.ok, ["status": "ok"]))
                }
            }
        }
    }
}
