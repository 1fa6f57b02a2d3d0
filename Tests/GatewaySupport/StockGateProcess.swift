import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

/// The built `stockgate` executable, started as a real process for the end-to-end tests.
public enum StockGateProcess {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Whether `swift build` has produced the executable (the process tests need it).
    public static var isBuilt: Bool { FileManager.default.isExecutableFile(atPath: binary) }
    /// Why the process tests are skipped when it has not.
    public static let notBuilt: Comment =
        "needs the stockgate executable at .build/debug/stockgate: swift build --build-tests"
    /// The libFuzzer targets' executable (built normally, it replays the inputs it is given).
    public static var fuzzBinary: String { repository.appendingPathComponent(".build/debug/stockgate-fuzz").path }
    public static var binary: String { repository.appendingPathComponent(".build/debug/stockgate").path }

    /// A `stockgate serve --port 0` process and the port it printed it listens on (no port is
    /// picked before the server binds it, so no other process can take it in between).
    /// - Parameters:
    ///   - port: 0 for one the kernel picks; a given port to restart an instance where a load
    ///     balancer expects it.
    ///   - arguments: more `serve` options (`--database …`).
    public static func start(
        dataDirectory: String, port: Int = 0, arguments: [String] = []
    ) async throws -> (process: ChildProcess, port: Int) {
        let process = try ChildProcess(
            binary,
            [
                "serve", "--port", "\(port)", "--data-dir", dataDirectory, "--mappings",
                repository.appendingPathComponent("mappings").path, "--log-level", "warning",
            ] + arguments, output: .standardOutput)
        guard let output = process.output else { throw TestFailure("no output pipe") }
        let line = await offPool { () -> String in
            var bytes: [UInt8] = []
            while let byte = try? output.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") {
                bytes.append(byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]), port > 0 else {
            process.terminate()
            throw TestFailure("stockgate serve did not say where it listens: '\(line)'")
        }
        return (process, port)
    }

    public static func waitUntilHealthy(_ base: String) async throws {
        for _ in 0..<200 {
            if let result = try? await HTTPClient.shared.send(.GET, base + "/healthz", timeout: .milliseconds(500)),
                result.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the gateway did not become healthy")
    }

}
