import Foundation
import GatewayTestSupport
import NIOCore
import TestSupport
import Testing

/// `stockgate serve`'s event loops: one per core but one, left to the curl thread and the
/// ledger's commit thread; SwiftNIO's own variable still decides when set.
@Suite("The server's event loops")
struct EventLoopCountTests {
    /// The event loop threads of a running process (SwiftNIO names them `NIO-SGLTN-…`).
    static func eventLoopThreads(_ pid: pid_t) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").filter { task in
            let name = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8)
            return name.hasPrefix("NIO-SGLTN-")
        }.count
    }

    @Test(
        "serve runs one event loop per core but one, at least one; NIO_SINGLETON_GROUP_LOOP_COUNT decides when set",
        arguments: [nil, "3"])
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
}
