import Operations
import Synchronization

/// The gateway a server answers with, replaceable while it serves (SIGHUP's reload). Each
/// request takes the gateway and routes current when its head arrives and keeps them to its
/// answer, so a reload never changes a request half-way; requests arriving after `replace`
/// see the new one.
public final class ServedGateway: Sendable {
    private let state: Mutex<(gateway: Gateway, routes: RouteTable)>

    public init(_ gateway: Gateway) {
        state = Mutex((gateway, RouteTable(gateway: gateway)))
    }

    /// The gateway now, with its route table.
    var current: (gateway: Gateway, routes: RouteTable) { state.withLock { $0 } }

    public var gateway: Gateway { state.withLock { $0.gateway } }

    /// Serves `gateway` from the next request on. A draining server stays draining. The new
    /// gateway should record into the same `GatewayMetrics`, so counters carry on.
    public func replace(with gateway: Gateway) {
        let routes = RouteTable(gateway: gateway)  // built before the lock: it is the slow part
        state.withLock { state in
            if state.gateway.isDraining { gateway.beginDraining() }
            state = (gateway, routes)
        }
    }

    /// Readiness fails from now on, whatever gateway is served.
    public func beginDraining() {
        state.withLock { $0.gateway.beginDraining() }
    }
}
