import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// The data directory belongs to one process, and a ledger file taken away under a running
/// process is noticed: writes refused, `/healthz` says so, nothing acknowledged into a file a
/// restart would never see.
@Suite("Data directory")
struct DataDirectoryTests {
    static let move =
        #"{"movements": [{"product": "mug-white", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#

    @Test("a second ledger on a data directory in use is refused, naming the holder; free again once closed")
    func lock() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        #expect {
            try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        } throws: { error in
            let text = "\(error)"
            return text.contains("in use by another StockGate process") && text.contains("pid \(getpid())")
        }
        try first.close()
        let again = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        try again.close()
    }

    @Test("a refused open closes its lock file once: descriptors another thread opens meanwhile stay open")
    func refusalClosesOnce() async throws {
        try await withTemporaryLedger { directory, first in
            // Another thread opens, checks and closes descriptors all along; a second close of the
            // refused lock's number would take one of them (the kernel hands the lowest free number
            // out again at once).
            let stop = Atomic<Bool>(false)
            let lost = Atomic<Int>(0)
            let opener = Task {
                await offPool {
                    while !stop.load(ordering: .relaxed) {
                        let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
                        guard descriptor >= 0 else { continue }
                        for _ in 0..<20 { _ = getpid() }  // hold it a moment
                        if fcntl(descriptor, F_GETFD) < 0 || close(descriptor) != 0 { lost.add(1, ordering: .relaxed) }
                    }
                }
            }
            for _ in 0..<500 {
                #expect(throws: (any Error).self) {
                    try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
                }
            }
            stop.store(true, ordering: .relaxed)
            await opener.value
            #expect(lost.load(ordering: .relaxed) == 0, "descriptors closed under another thread")
        }
    }

    @Test(
        "a second stockgate process on the same data directory exits 2 with a clear line",
        .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
    func secondProcess() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, port) = try await StockGateProcess.start(dataDirectory: directory)
        defer { first.terminate(); first.waitUntilExit() }
        try await StockGateProcess.waitUntilHealthy("http://127.0.0.1:\(port)")
        let second = try ChildProcess(
            StockGateProcess.binary,
            [
                "serve", "--port", "0", "--data-dir", directory, "--mappings",
                StockGateProcess.repository.appendingPathComponent("mappings").path,
            ], output: .standardError)
        let text = await second.readOutputToEnd()
        #expect(await second.exit() == 2)
        #expect(text.contains("is in use by another StockGate process (pid \(first.processIdentifier))"), "\(text)")
    }

    @Test(
        "the ledger file deleted while running: writes refused 503, /healthz 503, nothing acknowledged",
        arguments: ["deleted", "replaced"])
    func ledgerFileRemoved(_ how: String) async throws {
        try await LiveGateway.run { live in
            let url = live.baseURL + "/stockgate/v1/movements"
            let before = try await HTTPClient.shared.send(.POST, url, body: Self.move)
            #expect(before.status == 200)
            let path = (live.dataDirectory as NSString).appendingPathComponent(Ledger.fileName)
            try FileManager.default.removeItem(atPath: path)
            if how == "replaced" { FileManager.default.createFile(atPath: path, contents: Data()) }
            let write = try await HTTPClient.shared.send(.POST, url, body: Self.move)
            #expect(write.status == 503, "\(write.text)")
            #expect(write.json?["error"]?["message"]?.stringValue?.contains("ledger file") == true)
            // The server's directories are no business of a client's (issue 29, finding 11).
            #expect(!write.text.contains(live.dataDirectory), "\(write.text)")
            let colleqtive = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v2/public/stores/1001/storeproductlocation/movement",
                body:
                    #"[{"product_number": "100200", "quantity": 1, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
            )
            #expect(colleqtive.status == 503)
            #expect(colleqtive.json?["success"] == false)
            let health = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
            #expect(health.status == 503)
            #expect(health.json?["status"] == "unavailable")
            #expect(!health.text.contains(live.dataDirectory), "\(health.text)")
        }
    }
}
