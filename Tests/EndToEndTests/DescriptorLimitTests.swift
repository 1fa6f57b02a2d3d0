import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Attack run finding 1 (issue 29): a forwarding gateway that ran out of descriptors died with
/// SIGILL (libdispatch traps when it cannot open /proc/<tid>/stat to watch its workers). Anyone
/// who can open TCP connections could do it. The server now budgets its descriptors: client
/// connections over the cap are answered 503 and closed, and the process keeps serving.
@Suite("At the descriptor limit", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct DescriptorLimitTests {
    static let movement =
        #"{"movements": [{"product": "tshirt-blue-m", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#

    static func request(_ port: Int) -> String {
        "POST /stockgate/v1/movements HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(movement.utf8.count)\r\n\r\n" + movement
    }

    @Test("300 idle connections and forwarded writes under ulimit -n 256: no crash, 503 over the cap, writes go on")
    func exhaustion() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ids = Mutex(1000)
        let vendor = FakeUpstream { _ in
            let id = ids.withLock { value in
                value += 1
                return value
            }
            return .init(200, #"{"status": "ok", "id": \#(id)}"#)
        }
        try await vendor.run { vendorBase in
            try """
            backends:
              - name: shop
                dialect: open2b-v6
                base_url: \(vendorBase)
            routes:
              stockgate: {backend: shop}
            """.write(toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
            let (process, port, earlier) = try await StockGateProcess.startReading(
                dataDirectory: directory + "/data", arguments: ["--config", directory + "/config.yaml"],
                output: .both, logLevel: "notice", descriptorLimit: 256)
            defer { process.terminate() }
            #expect(
                earlier.contains { $0.contains("max_connections lowered") && $0.contains("descriptor_limit=256") },
                "\(earlier)")
            let base = "http://127.0.0.1:\(port)"
            // Ten clients connect first; then a flood of idle connections, more than the limit.
            let writers = try (0..<10).map { _ in try RawClient(port: port, timeoutSeconds: 10) }
            var flood: [RawClient] = []
            for _ in 0..<300 {
                guard let client = try? RawClient(port: port, timeoutSeconds: 1) else { break }
                flood.append(client)
            }
            // The writers' forwarded writes are answered while the flood holds its connections.
            for writer in writers { writer.send(Self.request(port)) }
            for writer in writers {
                let answer = writer.readAll()
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(300))")
            }
            // Connections over the cap were told so (the newest first: they were refused at once;
            // past a burst of refusals still closing, the rest were closed without a word).
            var refusal: String?
            for client in flood.reversed() {
                let (text, closed) = client.readUntilClosed(limit: 4096)
                if !closed { break }  // a served connection: it waits for a request
                if text.hasPrefix("HTTP/1.1 503") {
                    refusal = text
                    break
                }
            }
            #expect(refusal?.contains("connection limit") == true, "\(refusal ?? "no 503")")
            try await Task.sleep(for: .seconds(2))  // libdispatch's monitor ticks while work is queued
            #expect(kill(process.processIdentifier, 0) == 0, "the gateway is alive")
            // Once the flood leaves, new connections are served again.
            flood.removeAll()
            try await StockGateProcess.waitUntilHealthy(base)
            let after = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/movements", body: Self.movement)
            #expect(after.status == 200, "\(after.text)")
            let metrics = try await HTTPClient.shared.send(.GET, base + "/metrics")
            #expect(metrics.text.contains("stockgate_http_connections_refused_total"), "\(metrics.text.prefix(200))")
            #expect(vendor.requests.filter { $0.method == "POST" }.count == 11)
        }
    }

    @Test("a descriptor limit that leaves too few connections refuses to start, saying what to raise")
    func tooLow() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try ChildProcess(
            "/bin/bash",
            [
                "-c", "ulimit -n 100 && exec \"$0\" \"$@\"", StockGateProcess.binary, "serve", "--port", "0",
                "--data-dir", directory, "--mappings",
                StockGateProcess.repository.appendingPathComponent("mappings").path,
            ], output: .standardError)
        let errors = await process.readOutputToEnd()
        let status = await process.exit()
        #expect(status == 1)
        #expect(errors.contains("descriptor limit") && errors.contains("raise it to at least"), "\(errors)")
    }
}
