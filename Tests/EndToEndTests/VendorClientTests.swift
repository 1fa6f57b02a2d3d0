import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// StockGate driven by a vendor's own published client: mistakes our client and our server
/// would share, that client does not make.
/// Whether `python3` can import the vendor's SDK.
var colleqtiveSDKInstalled: Bool {
    guard let process = try? ChildProcess("/usr/bin/env", ["python3", "-c", "import colleqtive_sdk"]) else {
        return false
    }
    return process.waitUntilExit() == 0
}

@Suite(
    "Vendor clients",
    .enabled(if: colleqtiveSDKInstalled, "needs python3 with colleqtive-sdk 0.1.1: scripts/install-deps installs it"))
struct VendorClientTests {

    static let script = StockGateProcess.repository.appendingPathComponent(
        "scripts/vendor-clients/colleqtive_sdk_check.py"
    ).path

    @Test("Colleqtive's Python SDK (colleqtive-sdk, installed by scripts/install-deps) works unchanged")
    func colleqtiveSDK() async throws {
        let output = try await LiveGateway.run { live in
            let process = try ChildProcess("/usr/bin/env", ["python3", Self.script, live.baseURL], output: .both)
            let text = await process.readOutputToEnd()
            return (await process.exit(), text)
        }
        #expect(output.0 == 0, "\(output.1)")
        #expect(output.1.contains("6 passed, 0 failed"), "\(output.1)")
    }
}
