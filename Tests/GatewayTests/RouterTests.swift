import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import StockCore
import Testing

/// The router without a socket, as Hummingbird's own tests do it.
@Suite("Router without a socket")
struct RouterTests {
    func withApp(_ body: @Sendable (any TestClientProtocol, Ledger) async throws -> Void) async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        defer { try? ledger.close() }
        let gateway = Gateway(
            configuration: GatewayConfiguration(port: 0, dataDirectory: directory, maxBodyBytes: 1024),
            catalog: demoCatalog, backend: ledger, logger: quietLogger)
        let app = GatewayServer.makeApplication(gateway: gateway, logger: quietLogger)
        try await app.test(.router) { client in try await body(client, ledger) }
    }

    @Test("health, metrics and an unknown path")
    func healthAndMetrics() async throws {
        try await withApp { client, _ in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-Request-Id")!]?.count == 32)
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                #expect(text.contains(#"stockgate_http_requests_total{dialect="-",route="healthz",status="200"} 1"#))
                #expect(text.contains(#"route="unmatched",status="404""#))
            }
        }
    }

    @Test("a caller's request id is kept; an unusable one is replaced")
    func requestID() async throws {
        try await withApp { client, _ in
            try await client.execute(
                uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-Id")!: "abc-123"]
            ) {
                #expect($0.headers[HTTPField.Name("X-Request-Id")!] == "abc-123")
            }
            let long = String(repeating: "x", count: 200)
            try await client.execute(uri: "/healthz", method: .get, headers: [HTTPField.Name("X-Request-Id")!: long]) {
                #expect($0.headers[HTTPField.Name("X-Request-Id")!] != long)
            }
            // Fresh ids: 32 hex digits, never the same twice.
            var fresh: [String] = []
            for _ in 0..<50 {
                try await client.execute(uri: "/healthz", method: .get) {
                    fresh.append($0.headers[HTTPField.Name("X-Request-Id")!] ?? "")
                }
            }
            #expect(Set(fresh).count == 50)
            #expect(
                fresh.allSatisfy {
                    $0.utf8.count == 32 && $0.utf8.allSatisfy { Character(UnicodeScalar($0)).isHexDigit }
                })
        }
    }

    @Test("a body over the limit is a 413 in the dialect's envelope and changes nothing")
    func bodyLimit() async throws {
        try await withApp { client, ledger in
            let padding = String(repeating: " ", count: 2048)
            let body =
                #"{"movements": [{"product": "socks", "quantity": 1, "from": "supplier", "to": "warehouse"}]}"#
                + padding
            try await client.execute(uri: "/stockgate/v1/movements", method: .post, body: ByteBuffer(string: body)) {
                response in
                #expect(response.status == .contentTooLarge)
                let json = try JSONParser.parse(Array(buffer: response.body))
                #expect(json["error"]?["code"] == "tooLarge")
            }
            #expect(try await ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("a body nested deeper than max_json_depth is refused in the dialect's envelope")
    func depthLimit() async throws {
        try await withApp { client, ledger in
            // 40 levels: under the parser's own ceiling of 64, over the configured 32.
            let nested = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            try await client.execute(
                uri: "/api/v6/commerce.movements.create", method: .post,
                body: ByteBuffer(string: #"{"movement": "# + nested + "}")
            ) { response in
                #expect(response.status == .ok)
                let json = try JSONParser.parse(Array(buffer: response.body))
                #expect(json["status"] == "error")
                #expect(json["error"]?["type"] == "Malformed")
                #expect(json["error"]?["description"]?.stringValue?.contains("deeper than 32") == true)
            }
            #expect(try await ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("the wrong method on a canonical route is not served")
    func wrongMethod() async throws {
        try await withApp { client, _ in
            try await client.execute(uri: "/stockgate/v1/balances", method: .delete) { response in
                #expect(response.status.code >= 400 && response.status.code < 500)
            }
        }
    }
}
