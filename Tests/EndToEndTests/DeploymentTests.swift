import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// What ships for deployment (issue 17): the systemd unit in `deploy/` is valid for systemd and
/// its command line is one the executable accepts.
@Suite("Deployment files", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct DeploymentTests {
    static let unit = StockGateProcess.repository.appendingPathComponent("deploy/stockgate.service").path
    static let analyzer = "/usr/bin/systemd-analyze"

    @Test(
        "systemd-analyze verify finds nothing to say about the unit",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: analyzer),
            "needs systemd-analyze (Debian's systemd package; scripts/install-deps test)"))
    func systemdVerifies() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        // verify checks that ExecStart's program exists: the built one stands in for the installed one.
        #expect(text.contains("ExecStart=/usr/local/bin/stockgate serve"))
        let copy = directory + "/stockgate.service"
        try text.replacingOccurrences(of: "/usr/local/bin/stockgate", with: StockGateProcess.binary)
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await Self.verify(copy)
        #expect(status == 0, "\(output)")
        #expect(!output.contains("stockgate.service"), "systemd has remarks: \(output)")
        // The check can fail: a misspelt key is reported.
        try text.replacingOccurrences(of: "/usr/local/bin/stockgate", with: StockGateProcess.binary)
            .replacingOccurrences(of: "\nType=exec", with: "\nTyp=exec")
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let (_, misspelt) = try await Self.verify(copy)
        #expect(misspelt.contains("Unknown key 'Typ'"), "\(misspelt)")
    }

    @Test("the unit's command line starts the executable, SIGHUP (ExecReload) keeps it serving, SIGTERM stops it")
    func unitCommandLine() async throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        var arguments = line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(arguments.removeFirst() == "/usr/local/bin/stockgate")
        #expect(text.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        // The installed paths, in a scratch directory.
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "server:\n  drain_delay_seconds: 0\n".write(
            toFile: directory + "/stockgate.yaml", atomically: true, encoding: .utf8)
        let replacements = [
            "/etc/stockgate/stockgate.yaml": directory + "/stockgate.yaml",
            "/etc/stockgate/mappings": StockGateProcess.repository.appendingPathComponent("mappings").path,
            "/var/lib/stockgate": directory + "/data",
        ]
        arguments = arguments.map { replacements[$0] ?? $0 }
        #expect(arguments.first == "serve")
        let process = try ChildProcess(
            StockGateProcess.binary, arguments + ["--port", "0"], output: .standardOutput)
        let announced = await offPool { () -> String in
            var bytes: [UInt8] = []
            while let byte = try? process.output?.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") {
                bytes.append(byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        let port = try #require(announced.split(separator: ":").last.flatMap { Int($0) }, "\(announced)")
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        process.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await HTTPClient.shared.send(.GET, base + "/readyz").status == 200, "alive after SIGHUP")
        process.send(SIGTERM)
        #expect(await process.exit() == 0)
    }

    static func verify(_ path: String) async throws -> (Int32, String) {
        let process = try ChildProcess(analyzer, ["verify", path], output: .both)
        let output = await process.readOutputToEnd()
        return (await process.exit(), output)
    }
}
