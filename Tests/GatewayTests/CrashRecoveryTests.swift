import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StockCore
import Synchronization
import TestSupport
import Testing

/// `kill -9` of the real `stockgate` process under load, then a restart on the same data
/// directory: every movement acknowledged with a success is in the ledger exactly once.
@Suite("Crash recovery")
struct CrashRecoveryTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var binary: String { repository.appendingPathComponent(".build/debug/stockgate").path }

    /// A `stockgate serve --port 0` process and the port it printed it listens on (no port is
    /// picked before the server binds it, so no other process can take it in between).
    static func start(dataDirectory: String) async throws -> (process: Process, port: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--port", "0", "--data-dir", dataDirectory, "--mappings",
            repository.appendingPathComponent("mappings").path, "--log-level", "warning",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try launch(process)
        let line = await offPool { () -> String in
            var bytes: [UInt8] = []
            while let byte = try? output.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") {
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

    static func waitUntilHealthy(_ base: String) async throws {
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

    final class Shared: Sendable {
        let acknowledged = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)
    }

    @Test("every acknowledged movement survives kill -9 exactly once")
    func killNine() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the executable first (swift build --build-tests)")
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, port) = try await Self.start(dataDirectory: directory)
        let base = "http://127.0.0.1:\(port)"
        try await Self.waitUntilHealthy(base)

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
            try await Task.sleep(for: .milliseconds(1500))
            kill(first.processIdentifier, SIGKILL)
            await offPool { first.waitUntilExit() }
            shared.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let acked = shared.acknowledged.withLock { $0 }
        #expect(acked.count > 20, "the load should have produced acknowledged movements")

        let (second, secondPort) = try await Self.start(dataDirectory: directory)
        defer { second.terminate() }
        let restarted = "http://127.0.0.1:\(secondPort)"
        try await Self.waitUntilHealthy(restarted)
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
