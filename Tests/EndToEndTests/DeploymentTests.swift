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

    /// Issue 33: the unit needed a `stockgate` user nothing created, and `systemd-analyze
    /// security` rated it 6.0 MEDIUM.
    @Test(
        "systemd-analyze security rates the unit OK (2.0 or better), with a transient user of its own",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: analyzer),
            "needs systemd-analyze (Debian's systemd package; scripts/install-deps test)"))
    func systemdSecurity() async throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        #expect(text.contains("\nDynamicUser=yes") && !text.contains("\nUser="))
        let process = try ChildProcess(
            Self.analyzer, ["security", "--offline=true", "--threshold=20", "--no-pager", Self.unit], output: .both)
        let output = await process.readOutputToEnd()
        #expect(await process.exit() == 0, "\(output.suffix(2000))")
        let level = output.split(separator: "\n").last { $0.contains("Overall exposure level") } ?? ""
        let score = level.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        #expect((score ?? 10) <= 2.0, "\(level)")
    }

    /// Issue 33: the Dockerfile built with Swift 6.2 while CI used 6.3, ran as a named user
    /// (refused by `runAsNonRoot`), had no health check and no `.dockerignore`, and shipped the
    /// demo catalog. It is not built here (no container runtime): what can be read is checked.
    @Test("the Dockerfile: CI's Swift, Package.resolved, a numeric user, a health check, no catalog, an ignore file")
    func dockerfile() async throws {
        let root = StockGateProcess.repository
        let text = try String(contentsOf: root.appendingPathComponent("deploy/Dockerfile"), encoding: .utf8)
        // The Swift these tests were built with: CI's.
        #if compiler(>=6.4)
            let minor = "6.4 or later (update this test and the Dockerfile)"
        #elseif compiler(>=6.3)
            let minor = "6.3"
        #else
            let minor = "older than 6.3"
        #endif
        #expect(text.contains("FROM swift:\(minor)-bookworm"), "CI's Swift is \(minor)")
        #expect(text.contains("COPY Package.swift Package.resolved"))
        #expect(text.contains("USER 65532:65532") && text.contains("HEALTHCHECK"))
        #expect(!text.contains("COPY mappings"), "the image ships no catalog")
        let ignore = try String(contentsOf: root.appendingPathComponent(".dockerignore"), encoding: .utf8)
        #expect(ignore.split(separator: "\n").contains(".build"))
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
