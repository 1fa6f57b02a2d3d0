import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// Issue 34: the proxy variables are read once, when the process starts, not by libcurl on
/// every transfer. Proxy support must hold: with `http_proxy` set at start, a forwarded write
/// goes through the proxy (absolute-form request line); with none set, straight to the backend.
@Suite(
    "Backends behind a proxy from the environment", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct ProxyEnvironmentTests {
    @Test("http_proxy set at start: the write goes through the proxy; none set: straight to the backend")
    func proxyFromEnvironment() async throws {
        let proxy = FakeUpstream { _ in FakeUpstream.Answer(204, "") }
        let backend = FakeUpstream { _ in FakeUpstream.Answer(204, "") }
        try await proxy.run { proxyURL in
            try await backend.run { backendURL in
                for viaProxy in [true, false] {
                    let directory = temporaryDirectory()
                    defer { try? FileManager.default.removeItem(atPath: directory) }
                    var environment = ProcessInfo.processInfo.environment
                    for name in [
                        "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
                    ] {
                        environment[name] = nil
                    }
                    if viaProxy { environment["http_proxy"] = proxyURL }
                    let (process, port) = try await StockGateProcess.startRouted(
                        to: "zettle-v3", at: backendURL, directory: directory, environment: environment)
                    defer { process.terminate() }
                    let (proxied, direct) = (proxy.requests.count, backend.requests.count)
                    let moved = try await HTTPClient.shared.send(
                        .POST, "http://127.0.0.1:\(port)/stockgate/v1/movements",
                        body:
                            #"{"movements": [{"product": "tshirt-blue-m", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#
                    )
                    #expect(moved.status == 200, "\(moved.text)")
                    if viaProxy {
                        #expect(proxy.requests.count == proxied + 1 && backend.requests.count == direct)
                        // Sent as to a proxy: libcurl adds Proxy-Connection only there.
                        let sent = try #require(proxy.requests.last)
                        #expect(sent.path.hasSuffix("/v3/movements"), "\(sent.path)")
                        #expect(sent.headers["proxy-connection"] != nil, "\(sent.headers)")
                    } else {
                        #expect(backend.requests.count == direct + 1 && proxy.requests.count == proxied)
                        #expect(backend.requests.last?.path == "/v3/movements")
                        #expect(backend.requests.last?.headers["proxy-connection"] == nil)
                    }
                }
            }
        }
    }
}
