import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// SIGHUP (issue 17): the config file and the catalog read again while serving, all of it or
/// none of it; a request in flight keeps the gateway it started with.
@Suite("Reload on SIGHUP", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct ReloadTests {
    @Test(
        "a good new catalog takes effect under load without a request dropped; a bad one is refused and the old one serves"
    )
    func reload() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mappings = directory + "/mappings"
        try FileManager.default.copyItem(
            atPath: StockGateProcess.repository.appendingPathComponent("mappings").path, toPath: mappings)
        let products = mappings + "/products.csv"
        var original = try String(contentsOfFile: products, encoding: .utf8)
        if !original.hasSuffix("\n") { original += "\n" }
        try "server:\n  max_batch_items: 1000\n".write(
            toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--config", directory + "/config.yaml"],
            mappings: mappings, output: .both, logLevel: "notice")
        let log = Task { await process.readOutputToEnd() }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)

        @Sendable func move(_ product: String) async throws -> HTTPResult {
            try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "\#(product)", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
            )
        }
        // A per-item batch: an unknown product is that item's failure, named.
        @Sendable func applied(_ product: String) async throws -> Bool {
            let answer = try await move(product)
            return answer.status == 200 && answer.json?["applied"] == 1
        }
        let unknown = try await move("mug-green")
        #expect(unknown.json?["failed"] == 1 && unknown.text.contains("is not in the catalog"), "\(unknown.text)")

        // Two clients write all along; every answer must be a success.
        let stop = StopFlag()
        let load = (0..<2).map { _ in
            Task { () -> (ok: Int, failed: [Int]) in
                var ok = 0
                var failed: [Int] = []
                while !stop.isSet {
                    let answer = try? await move("mug-black")
                    if let answer, answer.status == 200, answer.json?["applied"] == 1 {
                        ok += 1
                    } else {
                        failed.append(answer?.status ?? -1)
                    }
                }
                return (ok, failed)
            }
        }
        try await Task.sleep(for: .milliseconds(300))

        // A product added, the config's client list unchanged: SIGHUP, and it is served.
        try (original + "mug-green,MUG-GREEN,100301,6790,,,Mug green\n").write(
            toFile: products, atomically: true, encoding: .utf8)
        process.send(SIGHUP)
        try await waitUntil(timeout: .seconds(10), "the new product is accepted") {
            (try? await applied("mug-green")) == true
        }
        try await Task.sleep(for: .milliseconds(300))

        // A broken catalog (a row with too few columns): refused, the running one stays.
        try (original + "mug-red,MUG-RED\n").write(toFile: products, atomically: true, encoding: .utf8)
        process.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await applied("mug-green"), "the catalog before the bad one still serves")
        #expect(try await !applied("mug-red"), "the bad file's product is not served")
        // A config file that does not parse: refused as well.
        try "server:\n  max_batch_items: [not a number\n".write(
            toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        process.send(SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await applied("mug-green"))
        // Reloads are visible (issue 33): one served, two refused, and when the running
        // configuration was loaded.
        let metrics = try await HTTPClient.shared.send(.GET, base + "/metrics").text
        #expect(metrics.contains(#"stockgate_config_reloads_total{result="success"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"stockgate_config_reloads_total{result="failure"} 2"#), "\(metrics)")
        #expect(metrics.contains("stockgate_config_last_reload_success_timestamp_seconds "), "\(metrics)")

        stop.set()
        var acknowledged = 0
        for task in load {
            let (ok, failed) = await task.value
            acknowledged += ok
            #expect(failed.isEmpty, "writes not applied under reload (their statuses): \(failed)")
        }
        #expect(acknowledged > 0)
        let balances = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/balances?location=shop-floor")
        #expect(balances.text.contains("mug-green"), "\(balances.text)")
        process.send(SIGTERM)
        #expect(await process.exit() == 0, "alive through every SIGHUP, stopped by SIGTERM")
        let output = await log.value
        #expect(output.contains("reloaded"), "\(output)")
        #expect(output.components(separatedBy: "reload refused").count - 1 == 2, "\(output)")
        #expect(output.contains("products.csv"), "the refusal names the file: \(output)")
        // Every acknowledged write is in the ledger: the load's, and the mug-green ones.
        let ledger = try Ledger.open(directory: directory + "/data", catalog: demoCatalog, logger: quietLogger)
        defer { try? ledger.close() }
        var query = MovementQuery()
        query.product = "mug-black"
        #expect(try await ledger.count(query) == acknowledged)
    }
}

/// Set once, read by many tasks.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .relaxed) }
    func set() { value.store(true, ordering: .relaxed) }
}
