import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import Logging
import NIOHTTP1
import StockCore
import Synchronization
import TestSupport
import Testing

/// Collects every log line of a run, at trace level, with its metadata.
final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in CapturingHandler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    struct CapturingHandler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
        }
    }
}

@Suite("Secrets stay secret")
struct SecretLeakTests {
    @Test("no configured secret appears in a log line, an error body, a metric or the journal")
    func noLeaks() async throws {
        let backendToken = "backend-bearer-7f3a9c"
        let clientSecret = "client-secret-51d2e8"
        let oauthSecret = "oauth-client-secret-88b1"
        let logs = CapturedLogs()
        let tokenUpstream = FakeUpstream { request in
            request.path == "/token" ? (401, #"{"error": "invalid_client"}"#) : (404, "{}")
        }
        try await tokenUpstream.run { tokenBase in
            try await LiveGateway.run(logger: logs.logger("second")) { second in
                let directory = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let logger = logs.logger("gateway")
                let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: logger)
                defer { try? ledger.close() }
                let client = CurlHTTPClient()
                let zettle = RemoteBackend(
                    name: "pos", baseURL: second.baseURL, codec: ZettleOutbound(), client: client,
                    auth: .bearer(token: Secret(backendToken)), catalog: demoCatalog, journal: ledger, logger: logger)
                let colleqtive = RemoteBackend(
                    name: "stores", baseURL: second.baseURL, codec: ColleqtiveOutbound(), client: client,
                    auth: .clientCredentials(
                        tokenURL: tokenBase + "/token", clientID: "gw", clientSecret: Secret(oauthSecret), scope: nil),
                    catalog: demoCatalog, journal: ledger, logger: logger)
                let gateway = Gateway(
                    configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                    backend: zettle, logger: logger, routes: ["colleqtive": colleqtive],
                    clients: ClientAuthenticator(clients: [
                        .init(
                            name: "all", secret: Secret(clientSecret), dialects: ["stockgate", "colleqtive", "zettle"],
                            roles: [.metrics])
                    ]),
                    idempotencyStore: ledger)
                let bodies = try await GatewayServer.withRunning(gateway, logger: logger) { port -> [String] in
                    let base = "http://127.0.0.1:\(port)"
                    let auth = [("Authorization", "Bearer \(clientSecret)")]
                    let moved = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/movements",
                        body:
                            #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#,
                        headers: auth + [("Idempotency-Key", "leak-check")])
                    #expect(moved.json?["applied"] == 1)
                    let refused = try await HTTPClient.shared.send(
                        .POST, base + "/api/v2/public/stores/1001/storeproductlocation/movement",
                        body:
                            #"[{"product_number": "sku5", "quantity": 1, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#,
                        headers: auth)
                    #expect(refused.json?["success"] == false)
                    let wrong = try await HTTPClient.shared.send(
                        .GET, base + "/stockgate/v1/balances", headers: [("Authorization", "Bearer \(clientSecret)x")])
                    #expect(wrong.status == 401)
                    let metrics = try await HTTPClient.shared.send(.GET, base + "/metrics", headers: auth)
                    #expect(metrics.status == 200)
                    // With clients configured, metrics need a client's credentials too.
                    let anonymous = try await HTTPClient.shared.send(.GET, base + "/metrics")
                    #expect(anonymous.status == 401 && anonymous.headers.first(name: "WWW-Authenticate") == "Bearer")
                    let journal = try await HTTPClient.shared.send(
                        .GET, base + "/stockgate/v1/movements", headers: auth)
                    return [moved.text, refused.text, wrong.text, metrics.text, journal.text]
                }
                await client.shutdown()
                let everything = logs.text + "\n" + bodies.joined(separator: "\n")
                #expect(logs.text.contains("request"), "the run should have logged")
                // The backend did receive the bearer token: it was used, just never shown.
                for secret in [backendToken, clientSecret, oauthSecret] {
                    #expect(!everything.contains(secret), "\(secret) leaked")
                }
            }
        }
    }
}
