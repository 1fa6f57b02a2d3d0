import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

/// Stopping behind a load balancer (issue 17): on SIGTERM readiness fails first, new
/// connections are still served through the configured drain delay, then the listener closes
/// and the process exits with nothing acknowledged lost.
@Suite("Drain on SIGTERM", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct DrainTests {
    @Test("readiness fails at once, new connections are served through the delay, every acknowledged movement stays")
    func drain() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "server:\n  drain_delay_seconds: 5\n".write(
            toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--config", directory + "/config.yaml"])
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        #expect(try await HTTPClient.shared.send(.GET, base + "/readyz").status == 200)

        process.send(SIGTERM)
        let signalled = ContinuousClock.now
        try await waitUntil(timeout: .seconds(2), "/readyz fails") {
            (try? await HTTPClient.shared.send(.GET, base + "/readyz", headers: [("Connection", "close")]))?.status
                == 503
        }
        #expect(try await HTTPClient.shared.send(.GET, base + "/healthz").status == 200, "liveness holds")
        // A client that has not noticed keeps sending, each time on a new connection.
        var acknowledged = 0
        while ContinuousClock.now - signalled < .milliseconds(2500) {
            let answer = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "mug-black", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#,
                headers: [("Connection", "close")])
            #expect(answer.status == 200, "\(answer.status) during the drain")
            if answer.json?["applied"] == 1 { acknowledged += 1 }
        }
        // However slow a loaded machine is, the drain served new connections (not timed: counted).
        #expect(acknowledged >= 2, "\(acknowledged) writes during the drain")
        let status = await process.exit()
        #expect(status == 0)
        let ledger = try Ledger.open(directory: directory + "/data", catalog: demoCatalog, logger: quietLogger)
        defer { try? ledger.close() }
        #expect(try await ledger.count(MovementQuery()) == acknowledged)
    }
}
