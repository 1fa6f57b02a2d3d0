import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import StockCore
import Synchronization
import TestSupport
import Testing

/// `stockgate record` and `stockgate serve --replay` as processes (issue 16): the key comes
/// from the environment as configured, reaches the vendor, never the case; the replaying
/// process answers what the vendor answered.
@Suite("stockgate record and serve --replay", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct RecordCommandTests {
    static let key = "open2b-x-key-3c9e71aa"
    static let mappings = StockGateProcess.repository.appendingPathComponent("mappings").path

    @Test("record an Open2b vendor through the command, then replay it from another process")
    func recordAndReplay() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/recorded"
        let ids = Mutex(58912)
        let vendor = FakeUpstream { request in
            guard request.headers["x-key"] == Self.key else {
                return .init(200, #"{"status": "error", "error": {"type": "Unauthorized", "description": "bad key"}}"#)
            }
            let id = ids.withLock { value in
                value += 1
                return value
            }
            return .init(200, #"{"status": "ok", "id": \#(id)}"#)
        }
        let body = #"{"movement": {"sku": "TS-BLUE-M", "adjustment": "-2.50", "description": "order 3819"}}"#
        try await vendor.run { vendorBase in
            let config = directory + "/stockgate.yaml"
            try """
            backends:
              - name: shop
                dialect: open2b-v6
                base_url: \(vendorBase)
                auth:
                  type: header
                  name: X-Key
                  value_env: OPEN2B_KEY
            """.write(toFile: config, atomically: true, encoding: .utf8)
            var environment = ProcessInfo.processInfo.environment
            environment["OPEN2B_KEY"] = Self.key
            let (recorder, port) = try await StockGateProcess.startListening(
                [
                    "record", "--config", config, "--backend", "shop", "--out", out, "--port", "0", "--mappings",
                    Self.mappings, "--log-level", "warning",
                ], environment: environment)
            let created = try await HTTPClient.shared.send(
                .POST, "http://127.0.0.1:\(port)/api/v6/commerce.movements.create", body: body,
                headers: [("X-Key", "the-callers-own-key")])
            recorder.terminate()
            _ = await recorder.exit()
            #expect(created.status == 200)
            #expect(created.json?["id"] == 58913, "\(created.text)")
            #expect(vendor.requests.first?.headers["x-key"] == Self.key)

            let folder = out + "/open2b-v6"
            let files = try FileManager.default.contentsOfDirectory(atPath: folder)
            #expect(files.count == 1 && files[0].hasPrefix("recorded-rpc-post-"), "\(files)")
            let text = try String(contentsOfFile: folder + "/" + files[0], encoding: .utf8)
            #expect(!text.contains(Self.key) && !text.contains("the-callers-own-key"), "\(text)")
            #expect(text.contains("\"-2.50\""), "the quantity is kept exactly: \(text)")

            // A second process answers from the case, as the vendor did, without the vendor.
            let replay = try await StockGateProcess.start(
                dataDirectory: directory + "/replay", arguments: ["--replay", out])
            defer { replay.process.terminate() }
            let replayed = try await HTTPClient.shared.send(
                .POST, "http://127.0.0.1:\(replay.port)/api/v6/commerce.movements.create", body: body)
            #expect(replayed.status == 200)
            #expect(replayed.json?["status"] == "ok" && replayed.json?["id"] == 58913, "\(replayed.text)")
            #expect(vendor.requests.count == 1)
            // Another quantity was never recorded: refused in Open2b's envelope, saying so.
            let other = try await HTTPClient.shared.send(
                .POST, "http://127.0.0.1:\(replay.port)/api/v6/commerce.movements.create",
                body: body.replacingOccurrences(of: "-2.50", with: "-2.00"))
            #expect(other.json?["status"] == "error", "\(other.text)")
            #expect(other.text.contains("no recorded answer"), "\(other.text)")
        }
    }

    @Test("record refuses an unknown backend or route, naming what exists")
    func refusals() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = directory + "/stockgate.yaml"
        try """
        backends:
          - name: shop
            dialect: zettle
            base_url: http://127.0.0.1:9
        """.write(toFile: config, atomically: true, encoding: .utf8)
        for (arguments, expected) in [
            (["--backend", "nope"], "no backend 'nope'"),
            (["--backend", "shop", "--routes", "inventory.update,nope"], "no route 'nope'"),
        ] {
            let process = try ChildProcess(
                StockGateProcess.binary,
                ["record", "--config", config, "--out", directory + "/out", "--mappings", Self.mappings]
                    + arguments, output: .standardError)
            let errors = await process.readOutputToEnd()
            let status = await process.exit()
            #expect(status == 64, "\(errors)")
            #expect(errors.contains(expected), "\(errors)")
        }
    }
}
