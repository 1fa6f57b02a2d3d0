import ArgumentParser
import ContractTesting
import Dialects
import Foundation
import Gateway
import StockCore

/// `stockgate openapi`: each dialect as an OpenAPI 3.1 document (docs/simulator.md).
struct OpenAPICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Write each dialect's OpenAPI 3.1 document, generated from its routes and its contract cases.",
        discussion: """
            With --dialect and no --out the document goes to standard output; with --out DIR each
            dialect's (or the one named) is written to DIR/<dialect>.openapi.json. A running
            `stockgate serve` answers the same documents at GET /stockgate/openapi/<dialect>.json.
            """)

    @Option(help: "One dialect (default: every dialect; then --out is needed).")
    var dialect: String?

    @Option(help: "A directory to write <dialect>.openapi.json files into.")
    var out: String?

    @Option(help: "The contract cases the examples come from.")
    var cases: String = "contract-tests"

    func run() throws {
        if let dialect, DialectRegistry.dialect(named: dialect) == nil {
            throw CommandError(
                "--dialect: unknown dialect '\(dialect)' (\(DialectRegistry.names.joined(separator: ", ")))",
                exitCode: 64
            )
        }
        guard dialect != nil || out != nil else {
            throw CommandError("name a --dialect to print, or an --out directory for every dialect", exitCode: 64)
        }
        let loaded: [ContractCase]
        do {
            loaded = FileManager.default.fileExists(atPath: cases) ? try ContractCase.load(directory: cases) : []
        } catch {
            throw CommandError("\(error)")
        }
        for name in dialect.map({ [$0] }) ?? OpenAPI.dialects {
            guard let document = OpenAPI.document(dialect: name, cases: loaded) else { continue }
            let text = JSONWriter.pretty(document) + "\n"
            guard let out else {
                FileHandle.standardOutput.write(Data(text.utf8))
                continue
            }
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try text.write(toFile: out + "/\(name).openapi.json", atomically: true, encoding: .utf8)
            } catch {
                throw CommandError(
                    "cannot write \(out)/\(name).openapi.json: \(error.localizedDescription)", exitCode: 1)
            }
        }
    }
}
