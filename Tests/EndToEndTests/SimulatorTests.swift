import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import StockCore
import TestSupport
import Testing

/// The executable as a vendor simulator (issue 16): `serve --enable-faults`.
@Suite("Simulator, the executable", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct SimulatorTests {
    @Test("--enable-faults serves the fault API and plays its faults; a SIGHUP reload keeps them; off by default")
    func enableFaults() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--enable-faults"], output: .both, logLevel: "notice")
        defer { process.terminate() }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        let scheduled = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/test/faults",
            body: #"{"kind": "unavailable", "retry_after": 9, "times": 2, "match": {"dialect": "zettle"}}"#)
        #expect(scheduled.status == 201, "\(scheduled.text)")
        let zettle = "/organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002"
        let first = try await HTTPClient.shared.send(.GET, base + zettle)
        #expect(first.status == 503 && first.headers.first(name: "Retry-After") == "9", "\(first.text)")
        // Another dialect is not matched.
        #expect(try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/balances").status == 200)
        process.send(SIGHUP)
        // The reload has happened once the process says so (the new gateway is serving).
        let pipe = try #require(process.output)
        let reloaded = await offPool { () -> Bool in
            var text = ""
            while !text.contains(" reloaded") {
                let data = pipe.availableData
                if data.isEmpty { return false }
                text += String(decoding: data, as: UTF8.self)
            }
            return true
        }
        #expect(reloaded, "no 'reloaded' line after SIGHUP")
        // The second of its two hits, after the reload.
        let second = try await HTTPClient.shared.send(.GET, base + zettle)
        #expect(second.status == 503, "\(second.text)")
        #expect(try await HTTPClient.shared.send(.GET, base + zettle).status == 200)
        let listed = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/test/faults")
        #expect(listed.json?["faults"]?.arrayValue?.first?["fired"]?.numberText == "2", "\(listed.text)")

        // Without the flag there is no fault API.
        let other = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: other) }
        let (plain, plainPort) = try await StockGateProcess.start(dataDirectory: other)
        defer { plain.terminate() }
        try await StockGateProcess.waitUntilHealthy("http://127.0.0.1:\(plainPort)")
        let absent = try await HTTPClient.shared.send(
            .POST, "http://127.0.0.1:\(plainPort)/stockgate/v1/test/faults", body: #"{"kind": "reset"}"#)
        #expect(absent.status == 404)
    }

    @Test("--enable-webhooks serves Zettle's Pusher API in the executable")
    func enableWebhooks() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--enable-webhooks"])
        defer { process.terminate() }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        let created = try await HTTPClient.shared.send(
            .POST, base + "/organizations/self/subscriptions",
            body:
                #"{"uuid": "f02f80f8-8f35-11eb-8dcd-0242ac130003", "transportName": "WEBHOOK", "eventNames": [], "destination": "https://example.com/hook", "contactEmail": "ops@example.com"}"#
        )
        #expect(created.status == 200 && created.json?["signingKey"]?.stringValue?.count == 64, "\(created.text)")
    }
}
