import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// StockGate driven by a vendor's own published client: mistakes our client and our server
/// would share, that client does not make.
/// Whether `python3` can import the vendor's SDK.
var colleqtiveSDKInstalled: Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import colleqtive_sdk"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? launch(process)) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}

@Suite(
    "Vendor clients",
    .enabled(if: colleqtiveSDKInstalled, "needs python3 with colleqtive-sdk 0.1.1: scripts/install-deps installs it"))
struct VendorClientTests {

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/vendor-clients/colleqtive_sdk_check.py").path

    @Test("Colleqtive's Python SDK (colleqtive-sdk, installed by scripts/install-deps) works unchanged")
    func colleqtiveSDK() async throws {
        let output = try await LiveGateway.run { live in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Self.script, live.baseURL]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try launch(process)
            let handle = pipe.fileHandleForReading
            let data = await offPool {
                let data = handle.readDataToEndOfFile()
                process.waitUntilExit()
                return data
            }
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(output.0 == 0, "\(output.1)")
        #expect(output.1.contains("6 passed, 0 failed"), "\(output.1)")
    }
}
