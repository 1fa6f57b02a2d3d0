import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

/// `stockgate serve`'s threads: one event loop per core but one, left to the curl thread and
/// the ledger's commit thread (SwiftNIO's own variable still decides when set); those two
/// carry their names where `top -H` and perf show them.
@Suite("The server's threads")
struct EventLoopCountTests {
    /// The names of a running process's threads, as the kernel shows them.
    static func threadNames(_ pid: pid_t) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").map { task in
            try String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)
                .trimmingCharacters(in: .newlines)
        }
    }

    /// The event loop threads of a running process (SwiftNIO names them `NIO-SGLTN-…`).
    static func eventLoopThreads(_ pid: pid_t) throws -> Int {
        try threadNames(pid).filter { $0.hasPrefix("NIO-SGLTN-") }.count
    }

    @Test(
        "serve runs one event loop per core but one, at least one; NIO_SINGLETON_GROUP_LOOP_COUNT decides when a number",
        arguments: [nil, "3", ""])
    func loops(variable: String?) async throws {
        let directory = temporaryDirectory()
        var environment = ProcessInfo.processInfo.environment
        environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] = variable
        let (process, port) = try await StockGateProcess.startListening(
            [
                "serve", "--port", "0", "--data-dir", directory + "/data", "--mappings",
                StockGateProcess.repository.appendingPathComponent("mappings").path,
            ], environment: environment)
        defer {
            process.terminate()
            _ = process.waitUntilExit()
        }
        #expect(port > 0)
        let expected = variable.flatMap(Int.init) ?? max(1, System.coreCount - 1)
        #expect(try Self.eventLoopThreads(process.processIdentifier) == expected)
    }

    @Test("the curl engine's thread is stockgate.curl from the start; the ledger's is ledger.commit once it commits")
    func names() async throws {
        let directory = temporaryDirectory()
        let (process, port) = try await StockGateProcess.start(dataDirectory: directory + "/data")
        defer {
            process.terminate()
            _ = process.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        #expect(try Self.threadNames(process.processIdentifier).contains("stockgate.curl"))
        let body = #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
        let result = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/movements", body: body)
        #expect(result.status == 200)
        // The commit thread ends 2 s after its last write: read at once.
        #expect(try Self.threadNames(process.processIdentifier).contains("ledger.commit"))
    }
}
