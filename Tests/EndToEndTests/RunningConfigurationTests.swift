import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// Issue 33: the running configuration could not be seen. `GET /stockgate/v1/config` shows it
/// to the `operator` role: settings, backends, routes and clients, with no secret in it.
@Suite("The running configuration", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct RunningConfigurationTests {
    @Test("an operator reads settings, backends, routes and clients; no secret is in the answer; others are refused")
    func readable() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secrets = ["ops-config-secret-1", "till-config-secret-2", "backend-token-3", "url-password-4"]
        try "\(secrets[0])\n".write(toFile: directory + "/ops.secret", atomically: true, encoding: .utf8)
        try "\(secrets[1])\n".write(toFile: directory + "/till.secret", atomically: true, encoding: .utf8)
        try "\(secrets[2])\n".write(toFile: directory + "/backend.secret", atomically: true, encoding: .utf8)
        try """
        server:
          max_connections: 500
        backends:
          - name: shop
            dialect: open2b-v6
            base_url: https://shop-user:\(secrets[3])@shop.example/api
            auth: {type: bearer, token_file: \(directory)/backend.secret}
        routes:
          colleqtive: shop
        clients:
          - name: ops
            secret_file: \(directory)/ops.secret
            dialects: []
            roles: [operator]
          - name: till
            secret_file: \(directory)/till.secret
            dialects: [zettle]
        """.write(toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--config", directory + "/config.yaml"])
        defer { process.terminate() }
        let url = "http://127.0.0.1:\(port)/stockgate/v1/config"
        let answer = try await HTTPClient.shared.send(.GET, url, headers: [("Authorization", "Bearer \(secrets[0])")])
        #expect(answer.status == 200, "\(answer.text)")
        let json = try #require(answer.json)
        #expect(json["settings"]?["max_connections"] == "500", "\(answer.text)")
        #expect(json["routes"]?["colleqtive"] == "shop")
        let backend = json["backends"]?.arrayValue?.first
        #expect(backend?["name"] == "shop" && backend?["dialect"] == "open2b-v6" && backend?["auth"] == "bearer")
        #expect(backend?["base_url"] == "https://shop.example/api", "user info left out: \(answer.text)")
        let clients = json["clients"]?.arrayValue ?? []
        #expect(clients.compactMap { $0["name"]?.stringValue } == ["ops", "till"])
        #expect(clients.first?["roles"] == ["operator"])
        #expect(json["version"]?.stringValue?.contains("commit ") == true)
        for secret in secrets { #expect(!answer.text.contains(secret), "\(secret) in \(answer.text)") }
        // A stock client may not read it, nor may anyone without credentials.
        let till = try await HTTPClient.shared.send(.GET, url, headers: [("Authorization", "Bearer \(secrets[1])")])
        #expect(till.status == 403)
        #expect(try await HTTPClient.shared.send(.GET, url).status == 401)
    }
}
