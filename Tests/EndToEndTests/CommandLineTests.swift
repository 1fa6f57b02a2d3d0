import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Operations
import StockCore
import TestSupport
import Testing

/// The command line as an operator meets it (issue 17): a version, a check that serves
/// nothing, one readable line per problem, and exit codes that say which kind of problem.
@Suite("Command line", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct CommandLineTests {
    static let mappings = StockGateProcess.repository.appendingPathComponent("mappings").path

    /// Runs the binary; standard output, standard error and the exit status.
    static func stockgate(_ arguments: [String]) async throws -> (output: String, errors: String, status: Int32) {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try ChildProcess(StockGateProcess.binary, arguments, output: .standardOutput)
        let output = await process.readOutputToEnd()
        let status = await process.exit()
        // Standard error, separately.
        let failing = try ChildProcess(StockGateProcess.binary, arguments, output: .standardError)
        let errors = await failing.readOutputToEnd()
        _ = await failing.exit()
        return (output, errors, status)
    }

    @Test("--version prints the build's version; the Server header and stockgate_build_info carry it")
    func version() async throws {
        let (output, _, status) = try await Self.stockgate(["--version"])
        #expect(status == 0)
        #expect(output == BuildInfo.description + "\n")
        #expect(output.hasPrefix(BuildInfo.version + " (commit "))
        try await LiveGateway.run { gateway in
            let health = try await HTTPClient.shared.send(.GET, gateway.baseURL + "/healthz")
            #expect(health.headers.first(name: "Server") == "StockGate/\(BuildInfo.version)")
            let metrics = try await HTTPClient.shared.send(.GET, gateway.baseURL + "/metrics").text
            #expect(
                metrics.contains(
                    #"stockgate_build_info{version="\#(BuildInfo.version)",commit="\#(BuildInfo.commit)",commit_date="\#(BuildInfo.commitDate)"} 1"#
                ), "\(metrics)")
        }
    }

    /// Package.swift links Debian's mimalloc into the binary so that it, not glibc, answers
    /// `malloc` for the whole process (docs/operations.md). Asked to, mimalloc says so at start.
    @Test("the binary's malloc is mimalloc: MIMALLOC_VERBOSE=1 makes it report its start")
    func allocator() async throws {
        var environment = ProcessInfo.processInfo.environment
        environment["MIMALLOC_VERBOSE"] = "1"
        let process = try ChildProcess(
            StockGateProcess.binary, ["--version"], environment: environment, output: .standardError)
        let errors = await process.readOutputToEnd()
        #expect(await process.exit() == 0)
        #expect(errors.contains("mimalloc: process init"))
    }

    @Test("check: a good configuration says what it found and exits 0; a bad one is named on one line, exit 2")
    func check() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try """
        backends:
          - name: shop
            dialect: open2b-v6
            base_url: http://127.0.0.1:9
        routes:
          colleqtive: {backend: shop, strict: true}
        """.write(toFile: directory + "/good.yaml", atomically: true, encoding: .utf8)
        let good = try await Self.stockgate([
            "check", "--config", directory + "/good.yaml", "--mappings", Self.mappings,
        ])
        #expect(good.status == 0, "\(good.errors)")
        #expect(good.output.contains("backend shop: open2b-v6 at http://127.0.0.1:9"), "\(good.output)")
        #expect(good.output.contains("route colleqtive → shop (strict)"), "\(good.output)")
        #expect(good.output.hasSuffix("ok\n"))

        try """
        backends:
          - name: shop
            dialect: open2b-v9
            base_url: http://127.0.0.1:9
        """.write(toFile: directory + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try await Self.stockgate(["check", "--config", directory + "/bad.yaml", "--mappings", Self.mappings])
        #expect(bad.status == 2)
        #expect(bad.errors.hasPrefix("stockgate: ") && bad.errors.contains("open2b-v9"), "\(bad.errors)")
        #expect(bad.errors.split(separator: "\n").count == 1, "\(bad.errors)")
        #expect(!bad.output.contains("ok"))
    }

    @Test("--log-format json: one JSON object per line, millisecond UTC timestamps, metadata as members")
    func jsonLogs() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, port, earlier) = try await StockGateProcess.startReading(
            dataDirectory: directory, arguments: ["--log-format", "json"], output: .both, logLevel: "info")
        let base = "http://127.0.0.1:\(port)"
        // A batch whose every item fails is answered 200 in the caller's dialect: the request's
        // log line counts its items, so the failures are visible there.
        let failed = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/movements",
            body:
                #"{"movements": [{"product": "mug-black", "quantity": 5, "from": "shop-floor", "to": "back-room"}, {"product": "socks", "quantity": 5, "from": "shop-floor", "to": "back-room"}]}"#,
            headers: [("X-Request-Id", "all-failed-1")])
        #expect(failed.status == 200 && failed.json?["failed"] == 2, "\(failed.text)")
        // A refusal: its line carries the error code and reason the caller was told.
        let refused = try await HTTPClient.shared.send(
            .POST, base + "/stockgate/v1/movements", body: #"{"movements": []}"#,
            headers: [("X-Request-Id", "refused-1"), ("User-Agent", "probe/1.0")])
        #expect(refused.status == 400, "\(refused.text)")
        // Health is polled every few seconds: logged at debug, so not at info.
        _ = try await HTTPClient.shared.send(.GET, base + "/healthz", headers: [("X-Request-Id", "health-1")])
        process.terminate()
        let text = earlier.joined(separator: "\n") + "\n" + (await process.readOutputToEnd())
        #expect(await process.exit() == 0)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count >= 3, "\(text)")
        var messages: [String: JSONValue] = [:]
        var requestLine: JSONValue?
        var refusedLine: JSONValue?
        for line in lines {
            let object = try #require(try? JSONParser.parse(Array(line.utf8)), "not JSON: \(line)")
            let stamp = try #require(object["ts"]?.stringValue)
            #expect(stamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(stamp)")
            #expect(object["level"]?.stringValue != nil && object["logger"]?.stringValue != nil)
            if let message = object["msg"]?.stringValue { messages[message] = object }
            if object["request_id"] == "all-failed-1" { requestLine = object }
            if object["request_id"] == "refused-1" { refusedLine = object }
            #expect(object["request_id"] != "health-1", "health at info: \(line)")
        }
        let request = try #require(requestLine, "no request line in \(text)")
        // Numbers are JSON numbers, so a log query can say `status >= 500` (issue 33).
        #expect(request["status"] == 200 && request["items_applied"] == 0 && request["items_failed"] == 2, "\(request)")
        #expect(request["dialect"] == "stockgate" && request["duration_ms"]?.numberText != nil, "\(request)")
        #expect(request["peer"]?.stringValue?.hasPrefix("127.0.0.1") == true && request["bytes_out"]?.numberText != nil)
        let refusal = try #require(refusedLine, "no line for the refused request in \(text)")
        #expect(refusal["status"] == 400 && refusal["error"]?.stringValue?.isEmpty == false, "\(refusal)")
        #expect(refusal["reason"]?.stringValue?.isEmpty == false && refusal["user_agent"] == "probe/1.0", "\(refusal)")
        #expect(messages["catalog loaded"]?["products"] == "6", "\(messages.keys)")
        #expect(messages["StockGate stopped"]?["level"] == "notice", "\(messages.keys)")
        let bad = try await Self.stockgate(["serve", "--log-format", "xml", "--data-dir", directory + "/x"])
        #expect(bad.status == 2 && bad.errors.contains("log_format must be text or json, got 'xml'"), "\(bad.errors)")
    }

    @Test("a usage error exits 64 and lists the valid values")
    func usage() async throws {
        let translate = try await Self.stockgate(["translate", "--from", "foo", "--to", "zettle", "/dev/null"])
        #expect(translate.status == 64)
        #expect(
            translate.errors.contains("unknown dialect 'foo' (stockgate, colleqtive, storefeeder"),
            "\(translate.errors)")
        let option = try await Self.stockgate(["serve", "--no-such-option"])
        #expect(option.status == 64)
    }

    @Test("a port in use is one readable line and exit 1, not NIO's error text")
    func portInUse() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, port) = try await StockGateProcess.start(dataDirectory: directory + "/a")
        defer { first.terminate() }
        let second = try await Self.stockgate([
            "serve", "--port", "\(port)", "--data-dir", directory + "/b", "--mappings", Self.mappings, "--log-level",
            "error",
        ])
        #expect(second.status == 1)
        #expect(
            second.errors
                == "stockgate: cannot listen on 127.0.0.1:\(port): the address is already in use (another process listens there)\n",
            "\(second.errors)")
    }
}
