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
/// The request schemas are the codecs' own declarations, as strict as their decoders (issue 32),
/// so besides no 5xx, every status documented, content types as documented and every answer
/// fitting its schema, two checks run both ways: a request the schema allows is not refused as
/// invalid (`positive_data_acceptance`), and one it forbids is refused (`negative_data_rejection`).
/// What each dialect leaves out, and why, is `Self.exceptions` (and docs/simulator.md); the
/// hooks in Tests/Schemathesis leave out of generation the floats JSON Schema cannot tell from
/// exact decimals. The stateful phase and the auth checks stay out (docs/simulator.md).
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
        let dialects = DialectRegistry.names
        for dialect in dialects {
            let served = try await HTTPClient.shared.send(.GET, base + "/stockgate/openapi/\(dialect).json")
            #expect(served.status == 200)
            #expect(served.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
            let file = try String(contentsOfFile: written + "/\(dialect).openapi.json", encoding: .utf8)
            #expect(try JSONParser.parse(file) == served.json, "\(dialect): written and served differ")
            #expect(served.json?["openapi"] == "3.1.0")
        }
        #expect(try await HTTPClient.shared.send(.GET, base + "/stockgate/openapi/sap.json").status == 404)

        var environment = ProcessInfo.processInfo.environment
        environment["SCHEMATHESIS_HOOKS"] = "stockgate_hooks"
        environment["PYTHONPATH"] = StockGateProcess.repository.appendingPathComponent("Tests/Schemathesis").path
        for dialect in dialects {
            let configuration = directory + "/\(dialect).toml"
            try Self.configuration(dialect).write(toFile: configuration, atomically: true, encoding: .utf8)
            let run = try ChildProcess(
                "/usr/bin/env",
                [
                    "st", "--config-file", configuration, "run", base + "/stockgate/openapi/\(dialect).json",
                    "--url", base,
                    // Bounded by examples, not time: under load a time budget can run out before
                    // any phase has sent a request (an empty run passes, and says nothing).
                    "--phases", "examples,coverage,fuzzing", "--max-examples", "10",
                    "--workers", "1", "--seed", "20261202", "--no-color",
                ], environment: environment, output: .both)
            let output = await run.readOutputToEnd()
            let status = await run.exit()
            #expect(status == 0, "\(dialect): \(output.suffix(4000))")
            #expect(output.contains(" passed"), "\(dialect): \(output.suffix(1000))")
        }
    }

    /// What a dialect leaves out of the data checks, and why.
    static let exceptions: [String: String] = [
        // An all-or-nothing batch with a failed item answers 422 (nothing applied): a business
        // answer to a well-formed request, like 404 and 409.
        "stockgate": """
        [checks.positive_data_acceptance]
        expected-statuses = ["2xx", "404", "409", "422"]
        """,
        // The bulk endpoints answer a malformed item in its own result with HTTP 200
        // (`Success: false`), as the vendor does; only the array itself refuses the request.
        "storefeeder": """
        [[operations]]
        include-path = ["/stocklocations/create-transfers", "/products/stocklocationinventory"]
        checks.negative_data_rejection.enabled = false
        """,
        // Open2b answers every call with HTTP 200 and says in the body that it failed.
        "open2b-v6": "[checks.negative_data_rejection]\nenabled = false",
        "open2b-v3": "[checks.negative_data_rejection]\nenabled = false",
    ]

    /// The checks, in Schemathesis' configuration file (a check named on the command line would
    /// override a per-operation exception).
    static func configuration(_ dialect: String) -> String {
        let checks = [
            "not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "positive_data_acceptance", "negative_data_rejection",
        ]
        var text = "[checks]\nenabled = false\n"
        for check in checks where !(exceptions[dialect] ?? "").contains("[checks.\(check)]") {
            text += "\n[checks.\(check)]\nenabled = true\n"
        }
        if let exception = exceptions[dialect] {
            // A section of its own replaces the plain one above; an operation's adds to it.
            text += "\n" + exception + "\n"
            if exception.contains("[checks.positive_data_acceptance]") { text += "enabled = true\n" }
        }
        return text
    }
}
