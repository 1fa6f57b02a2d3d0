import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import StockCore
import Synchronization
import TestSupport
import Testing

/// `kill -9` of the real `stockgate` process under load, then a restart on the same data
/// directory: every movement acknowledged with a success is in the ledger exactly once.
@Suite("Crash recovery", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct CrashRecoveryTests {
    final class Shared: Sendable {
        let acknowledged = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
    }

    @Test("every acknowledged movement survives kill -9 exactly once")
    func killNine() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, port) = try await StockGateProcess.start(dataDirectory: directory)
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)

        let shared = Shared()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    var sequence = 0
                    while !shared.stop.load(ordering: .relaxed) {
                        sequence += 1
                        let reference = "c\(client)-\(sequence)"
                        let body =
                            #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor", "reference": "\#(reference)"}]}"#
                        guard
                            let result = try? await HTTPClient.shared.send(
                                .POST, base + "/stockgate/v1/movements", body: body, timeout: .seconds(2))
                        else { continue }
                        if result.status == 200 && result.json?["applied"] == 1 {
                            shared.acknowledged.withLock { $0.append(reference) }
                        }
                    }
                }
            }
            // Under load until plenty were acknowledged (a count, not a time: the machine is shared).
            try await waitUntil(timeout: .seconds(60), "40 acknowledged movements") {
                shared.acknowledged.withLock { $0.count } >= 40
            }
            first.send(SIGKILL)
            await first.exit()
            shared.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let acked = shared.acknowledged.withLock { $0 }
        #expect(acked.count >= 40, "the load should have produced acknowledged movements")

        let (second, secondPort) = try await StockGateProcess.start(dataDirectory: directory)
        defer { second.terminate() }
        let restarted = "http://127.0.0.1:\(secondPort)"
        try await StockGateProcess.waitUntilHealthy(restarted)
        var references: [String: Int] = [:]
        var after = 0
        var journaled = 0
        while true {
            let page = try await HTTPClient.shared.send(
                .GET, restarted + "/stockgate/v1/movements?limit=1000&after=\(after)")
            let movements = try #require(page.json?["movements"]?.arrayValue)
            if movements.isEmpty { break }
            for movement in movements {
                if let reference = movement["reference"]?.stringValue { references[reference, default: 0] += 1 }
                after = Int(movement["id"]?.numberText ?? "0") ?? after
                journaled += 1
            }
        }
        for reference in acked {
            #expect(references[reference] == 1, "\(reference) is in the journal \(references[reference] ?? 0) times")
        }
        // Nothing is in the journal twice, and the balance is the sum of the journal.
        #expect(references.values.allSatisfy { $0 == 1 })
        let balances = try await HTTPClient.shared.send(
            .GET, restarted + "/stockgate/v1/balances?product=mug-white&location=shop-floor")
        #expect(balances.json?["balances"]?.arrayValue?.first?["quantity"] == .string(String(journaled)))
    }
}
