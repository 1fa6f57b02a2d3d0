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
    ///   - mappings: the catalog's directory (the repository's `mappings` unless given).
    ///   - output: `.both` to read the log too (after the announcing line, with `readOutputToEnd`).
    public static func start(
        dataDirectory: String, port: Int = 0, arguments: [String] = [], mappings: String? = nil,
        output: ChildProcess.Output = .standardOutput, logLevel: String = "warning"
    ) async throws -> (process: ChildProcess, port: Int) {
        let started = try await startReading(
            dataDirectory: dataDirectory, port: port, arguments: arguments, mappings: mappings, output: output,
            logLevel: logLevel)
        return (started.process, started.port)
    }

    /// `start`, also returning the lines read before the announcing one (log lines, when the
    /// log is read too).
    ///   - descriptorLimit: started under `ulimit -n` of this many descriptors (soft and hard).
    public static func startReading(
        dataDirectory: String, port: Int = 0, arguments: [String] = [], mappings: String? = nil,
        output: ChildProcess.Output = .standardOutput, logLevel: String = "warning", descriptorLimit: Int? = nil
    ) async throws -> (process: ChildProcess, port: Int, earlier: [String]) {
        let serve =
            [
                "serve", "--port", "\(port)", "--data-dir", dataDirectory, "--mappings",
                mappings ?? repository.appendingPathComponent("mappings").path, "--log-level", logLevel,
            ] + arguments
        let process =
            if let descriptorLimit {
                try ChildProcess(
                    "/bin/bash", ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", binary] + serve,
                    output: output)
            } else {
                try ChildProcess(binary, serve, output: output)
            }
        return try await announced(process)
    }

    /// `stockgate serve` with StockGate's own API routed to one backend (`dialect` at
    /// `baseURL`), its data and config in `directory`, in `environment`: the process and its port.
    public static func startRouted(
        to dialect: String, at baseURL: String, directory: String, environment: [String: String]
    ) async throws -> (process: ChildProcess, port: Int) {
        try """
        backends:
          - name: routed
            dialect: \(dialect)
            base_url: \(baseURL)
        routes:
          stockgate: routed
        """.write(toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        return try await startListening(
            [
                "serve", "--port", "0", "--data-dir", directory + "/data", "--config", directory + "/config.yaml",
                "--mappings", repository.appendingPathComponent("mappings").path,
            ], environment: environment)
    }

    /// Another listening command (`stockgate record …`) and the port it printed.
    public static func startListening(
        _ arguments: [String], environment: [String: String]? = nil
    ) async throws -> (process: ChildProcess, port: Int) {
        let process = try ChildProcess(binary, arguments, environment: environment, output: .standardOutput)
        let started = try await announced(process)
        return (started.process, started.port)
    }

    /// Reads up to the line that says where `process` listens.
    static func announced(_ process: ChildProcess) async throws -> (process: ChildProcess, port: Int, earlier: [String])
    {
        guard let pipe = process.output else { throw TestFailure("no output pipe") }
        // The line that says where it listens (log lines may come first when they are read too).
        let (line, earlier) = await offPool { () -> (String, [String]) in
            var earlier: [String] = []
            while true {
                var bytes: [UInt8] = []
                var ended = true
                while let byte = try? pipe.read(upToCount: 1)?.first {
                    if byte == UInt8(ascii: "\n") {
                        ended = false
                        break
                    }
                    bytes.append(byte)
                }
                let line = String(decoding: bytes, as: UTF8.self)
                if ended || line.hasPrefix("StockGate listening on") { return (line, earlier) }
                earlier.append(line)
            }
        }
        guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]), port > 0 else {
            process.terminate()
            throw TestFailure("stockgate serve did not say where it listens: '\(line)'")
        }
        return (process, port, earlier)
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
