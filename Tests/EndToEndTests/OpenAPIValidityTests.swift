import Dialects
import Foundation
import GatewayTestSupport
import StockCore
import TestSupport
import Testing

/// Whether openapi-spec-validator runs here.
var specValidatorInstalled: Bool {
    guard let process = try? ChildProcess("/usr/bin/env", ["openapi-spec-validator", "--help"]) else { return false }
    return process.waitUntilExit() == 0
}

/// Issue 32: open2b-v6, open2b-v3 and stockgate were invalid OpenAPI 3.1 (`"schema": null` on
/// 4XX), and the Open2b documents listed operations that do not exist (`merge`, `GET find`).
@Suite(
    "OpenAPI documents other tools accept",
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt),
    .enabled(if: specValidatorInstalled, "needs openapi-spec-validator: scripts/install-deps test installs it"))
struct OpenAPIValidityTests {
    @Test("every dialect's document passes openapi-spec-validator; an RPC route lists only operations that exist")
    func valid() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let command = try ChildProcess(
            StockGateProcess.binary,
            [
                "openapi", "--out", directory, "--cases",
                StockGateProcess.repository.appendingPathComponent("contract-tests").path,
            ])
        #expect(await command.exit() == 0)
        for dialect in DialectRegistry.ids {
            let file = directory + "/\(dialect).openapi.json"
            let validator = try ChildProcess("/usr/bin/env", ["openapi-spec-validator", file], output: .both)
            let output = await validator.readOutputToEnd()
            #expect(await validator.exit() == 0, "\(dialect): \(output.suffix(1500))")
        }
        let open2b = try JSONParser.parse(
            Array(try String(contentsOfFile: directory + "/open2b-v6.openapi.json", encoding: .utf8).utf8))
        let operations = (open2b["paths"]?.objectValue?.members ?? []).flatMap { path in
            (path.value.objectValue?.keys ?? []).map { "\($0.uppercased()) \(path.key)" }
        }
        #expect(
            Set(operations)
                == Set(
                    ["create", "find", "count", "get", "update", "delete"].map {
                        "POST /api/v6/commerce.movements.\($0)"
                    }), "\(operations)")
    }
}
