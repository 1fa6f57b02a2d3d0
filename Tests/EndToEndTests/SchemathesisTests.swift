import AsyncHTTPClient
import Dialects
import Foundation
import GatewayTestSupport
import StockCore
import TestSupport
import Testing

/// Whether Schemathesis' `st` runs here.
var schemathesisInstalled: Bool {
    guard let process = try? ChildProcess("/usr/bin/env", ["st", "--version"]) else { return false }
    return process.waitUntilExit() == 0
}

/// Each dialect's OpenAPI document (issue 16) handed to a tool nobody here wrote: Schemathesis
/// generates requests from it against the executable and checks every answer against it.
///
/// Checks run: no 5xx, every status documented, content types as documented, every answer
/// fitting its schema. Left out, on purpose (docs/simulator.md): `positive_data_acceptance`
/// (the schemas are inferred from examples, so a random product id is schema-valid and refused
/// 404 by design), `negative_data_rejection` (Open2b refuses with HTTP 200 by the vendor's
/// design; Zettle's clients send `null` for unset members and are served), the stateful phase.
@Suite(
    "OpenAPI documents, checked by Schemathesis",
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt),
    .enabled(if: schemathesisInstalled, "needs Schemathesis (st): scripts/install-deps test installs it"))
struct SchemathesisTests {
    @Test("every dialect's document: served and written alike, and Schemathesis finds nothing against a live StockGate")
    func everyDialect() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data",
            arguments: ["--contract-tests", StockGateProcess.repository.appendingPathComponent("contract-tests").path])
        defer { process.terminate() }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)

        // `stockgate openapi --out` writes what `serve` answers.
        let written = directory + "/openapi"
        let command = try ChildProcess(
            StockGateProcess.binary,
            [
                "openapi", "--out", written, "--cases",
                StockGateProcess.repository.appendingPathComponent("contract-tests").path,
            ])
        #expect(await command.exit() == 0)
        // Every dialect the gateway serves: a new one is checked without touching this test.
        let dialects = DialectRegistry.ids
        for dialect in dialects {
            let served = try await HTTPClient.shared.send(.GET, base + "/stockgate/openapi/\(dialect).json")
            #expect(served.status == 200)
            let file = try String(contentsOfFile: written + "/\(dialect).openapi.json", encoding: .utf8)
            #expect(try JSONParser.parse(file) == served.json, "\(dialect): written and served differ")
            #expect(served.json?["openapi"] == "3.1.0")
        }
        #expect(try await HTTPClient.shared.send(.GET, base + "/stockgate/openapi/sap.json").status == 404)

        for dialect in dialects {
            let run = try ChildProcess(
                "/usr/bin/env",
                [
                    "st", "run", base + "/stockgate/openapi/\(dialect).json", "--url", base,
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    // Bounded by examples, not time: under load a time budget can run out before
                    // any phase has sent a request (an empty run passes, and says nothing).
                    "--phases", "examples,coverage,fuzzing", "--max-examples", "10",
                    "--workers", "1", "--seed", "20261202", "--no-color",
                ], output: .both)
            let output = await run.readOutputToEnd()
            let status = await run.exit()
            #expect(status == 0, "\(dialect): \(output.suffix(4000))")
            #expect(output.contains(" passed"), "\(dialect): \(output.suffix(1000))")
        }
    }
}
