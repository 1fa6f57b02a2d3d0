import Dialects
import HTTPServer
import HTTPTypes
import Simulator
import StockCore

/// What a test suite drives, each only where `serve` enabled it: the test reset
/// (`--enable-test-reset`) and the fault API (`--enable-faults`), both for the `test` role;
/// Zettle's Pusher API (`--enable-webhooks`), for a client with Zettle's stock right.
struct SimulatorRoutes: RouteCollection {
    func routes(for gateway: Gateway) -> [ServedRoute] {
        var routes: [ServedRoute] = []
        if gateway.testReset != nil {
            routes.append(
                ServedRoute(
                    [.post], "/stockgate/v1/test/reset", requirement: .role(.test), name: "test.reset",
                    envelope: .gateway("the test reset needs")
                ) { _ in
                    .later {
                        do {
                            try await gateway.resetForTest()  // the ledger, faults, subscriptions, replay
                            return Answer(.json(.ok, ["reset": true]))
                        } catch {
                            return Answer(.json(.internalServerError, ["error": .string("reset failed: \(error)")]))
                        }
                    }
                })
        }
        if let schedule = gateway.faults {
            let envelope = Envelope.gateway("the fault API needs")
            let handle: @Sendable (RouteRequest) -> Reply = { request in
                .answer(
                    FaultsEndpoint.answer(
                        method: request.head.method, path: request.head.path ?? "", body: request.body,
                        schedule: schedule))
            }
            routes += [
                ServedRoute(
                    [.get, .post, .delete], "/stockgate/v1/test/faults", requirement: .role(.test),
                    name: "test.faults", readsBody: true, envelope: envelope, handle: handle),
                ServedRoute(
                    [.delete], "/stockgate/v1/test/faults/{id}", requirement: .role(.test), name: "test.faults",
                    envelope: envelope, handle: handle),
            ]
        }
        if let hub = gateway.pusher {
            let envelope = Envelope.dialect { PusherEndpoint.refusal($0.code.httpStatus, $0.message, field: $0.field) }
            let handle: @Sendable (RouteRequest) -> Reply = { request in
                .later {
                    Answer(
                        await PusherEndpoint.answer(
                            method: request.head.method, path: request.head.path ?? "", body: request.body, hub: hub,
                            client: request.client))
                }
            }
            for (methods, path) in [
                ([.get, .post], "/organizations/{org}/subscriptions"),
                ([.put, .delete], "/organizations/{org}/subscriptions/{uuid}"),
                ([.delete], "/organizations/{org}/subscriptions/uuid/{uuid}"),
            ] as [([HTTPRequest.Method], String)] {
                routes.append(
                    ServedRoute(
                        methods, path, requirement: .dialect(ZettleCodec.dialect), dialect: ZettleCodec.dialect,
                        name: "subscriptions", readsBody: true, envelope: envelope, handle: handle))
            }
        }
        return routes
    }
}
