import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import NIOHTTP1
import ServiceLifecycle
import StockCore
import Synchronization
import TestSupport
import Testing

@testable import Gateway

/// Issue 30: an optional admin listener (`server.admin_listen`, as Envoy and Kong keep theirs)
/// serves health, metrics and the operations routes; the traffic port then no longer does.
@Suite("The admin listener")
struct AdminListenerTests {
    /// `gateway` served in a service group of its own: the group, its running task, and the
    /// traffic and admin ports once both listen.
    static func serve(
        _ gateway: Gateway
    ) async throws -> (group: ServiceGroup, running: Task<Void, any Error>, traffic: Int, admin: Int) {
        let (ports, continuation) = AsyncStream<(String, Int)>.makeStream()
        let server = GatewayServer.makeServer(
            gateway: gateway, logger: quietLogger, onServerRunning: { continuation.yield(("traffic", $0)) },
            onAdminRunning: { continuation.yield(("admin", $0)) })
        let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
        let running = Task { try await group.run() }
        var bound: [String: Int] = [:]
        for await (name, port) in ports {
            bound[name] = port
            if bound.count == 2 { break }
        }
        return (group, running, try #require(bound["traffic"]), try #require(bound["admin"]))
    }

    @Test("with admin_listen, operations answer only there and the dialects only on the traffic port")
    func split() async throws {
        try await withTemporaryLedger { directory, ledger in
            var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
            configuration.adminListen = "127.0.0.1:0"
            let gateway = Gateway(
                configuration: configuration, catalog: demoCatalog, backend: ledger, logger: quietLogger,
                idempotencyStore: ledger)
            let (group, running, trafficPort, adminPort) = try await Self.serve(gateway)
            let traffic = "http://127.0.0.1:\(trafficPort)"
            let admin = "http://127.0.0.1:\(adminPort)"
            func status(_ method: HTTPMethod, _ url: String, _ body: String? = nil) async throws -> Int {
                try await HTTPClient.shared.send(method, url, body: body).status
            }
            let move =
                #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
            // The traffic port: dialects and health; no operations.
            #expect(try await status(.GET, traffic + "/healthz") == 200)
            #expect(try await status(.POST, traffic + "/stockgate/v1/movements", move) == 200)
            #expect(try await status(.GET, traffic + "/organizations/self/locations") == 200)
            #expect(try await status(.GET, traffic + "/metrics") == 404)
            #expect(try await status(.GET, traffic + "/stockgate/console") == 404)
            let notServed = try await HTTPClient.shared.send(
                .POST, traffic + "/stockgate/v1/journal/1/settle", body: #"{"state": "applied"}"#)
            #expect(notServed.status == 404 && notServed.text.isEmpty, "\(notServed.text)")
            // The admin port: health, operations, the journal's reads; no dialect, no write.
            #expect(try await status(.GET, admin + "/healthz") == 200)
            #expect(try await status(.GET, admin + "/metrics") == 200)
            #expect(try await status(.GET, admin + "/stockgate/console") == 200)
            #expect(try await status(.GET, admin + "/stockgate/v1/movements") == 200)
            // Settling reaches the journal there (row 1 is no forwarded row: the API's own refusal,
            // not the empty 404 of a route that is not served).
            let settle = try await HTTPClient.shared.send(
                .POST, admin + "/stockgate/v1/journal/1/settle", body: #"{"state": "applied"}"#)
            #expect(settle.json?["error"] != nil, "\(settle.status) \(settle.text)")
            #expect(try await status(.POST, admin + "/stockgate/v1/movements", move) == 404)
            #expect(try await status(.GET, admin + "/organizations/self/locations") == 404)
            #expect(try await ledger.count(MovementQuery()) == 1)
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    @Test(
        "at shutdown the admin listener serves until the traffic drain ends, then closes too, its kept-alive connections (a scraper's) with it"
    )
    func adminClosesAfterTraffic() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
        configuration.adminListen = "127.0.0.1:0"
        let backend = HeldBackend()
        let gateway = Gateway(configuration: configuration, catalog: demoCatalog, backend: backend, logger: quietLogger)
        let (group, running, traffic, admin) = try await Self.serve(gateway)
        let scraper = try RawClient(port: admin, timeoutSeconds: 10)
        scraper.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        let head = await offPool { scraper.readHead() }
        #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
        let inFlight = Task {
            try await HTTPClient.shared.send(
                .GET, "http://127.0.0.1:\(traffic)/stockgate/v1/balances?location=shop-floor")
        }
        try await waitUntil("the request reached the backend") { backend.entered.load(ordering: .relaxed) == 1 }
        await group.triggerGracefulShutdown()
        try await waitUntil("the traffic listener closed") { (try? RawClient(port: traffic)) == nil }
        // While the request in hand finishes, the admin listener still answers.
        let during = try await HTTPClient.shared.send(.GET, "http://127.0.0.1:\(admin)/healthz")
        #expect(during.status == 200, "\(during.text)")
        backend.release()
        #expect(try await inFlight.value.status == 200)
        // Then it closes, its kept-alive connection at once, not at the 60 s idle timeout.
        let started = ContinuousClock.now
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(10))
        let (_, closed) = await offPool { scraper.readUntilClosed() }
        #expect(closed, "the admin connection is still open after shutdown")
        #expect((try? RawClient(port: admin)) == nil, "the admin listener still accepts after shutdown")
    }

    @Test("admin_listen must be host:port")
    func hostAndPort() {
        #expect(GatewayConfiguration.hostAndPort("127.0.0.1:9901")! == ("127.0.0.1", 9901))
        #expect(GatewayConfiguration.hostAndPort("[::1]:9901")! == ("::1", 9901))
        #expect(GatewayConfiguration.hostAndPort("9901") == nil)
        #expect(GatewayConfiguration.hostAndPort("host:99999") == nil)
    }
}
