import ArgumentParser
import Dialects
import Foundation
import Gateway
import StockCore

/// `stockgate translate`: the requests StockGate would send to a backend, without sending.
struct Translate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the request(s) StockGate would send to a --to backend for a --from request body.",
        discussion: """
            Nothing is sent. Items the backend cannot carry are shown as refused, and a batch split
            into several requests is shown request by request. The body is read from FILE, or from
            standard input when FILE is - or absent.
            """)

    @Option(help: ArgumentHelp("The inbound dialect (\(DialectRegistry.names.joined(separator: ", ")))."))
    var from: String

    @Option(help: ArgumentHelp("The backend dialect (\(DialectRegistry.names.joined(separator: ", ")))."))
    var to: String

    @Option(help: "Catalog directory (default ./mappings).")
    var mappings: String = "./mappings"

    @Option(help: "The inbound path with its query (default: the dialect's movement endpoint).")
    var path: String?

    @Option(help: "The inbound method (default: the dialect's movement method).")
    var method: String?

    @Flag(
        help:
            "Before each request, say what the backend receives of each field: carried as (its field), transformed, truncated, merged, dropped or refused."
    )
    var explain = false

    @Argument(help: "The request body (default: standard input).")
    var file: String = "-"

    func run() throws {
        for (flag, dialect) in [("--from", from), ("--to", to)] where DialectRegistry.dialect(named: dialect) == nil {
            throw CommandError(
                "\(flag): unknown dialect '\(dialect)' (\(DialectRegistry.names.joined(separator: ", ")))", exitCode: 64
            )
        }
        let catalog: Catalog
        do {
            catalog = try CatalogLoader.load(directory: mappings)
        } catch {
            throw CommandError("\(error.description)")
        }
        let data =
            file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: file)
        guard let data else {
            throw CommandError("cannot read \(file)")
        }
        do {
            print(
                try Translator.translate(
                    body: Array(data), from: DialectID(from), to: DialectID(to), method: method, path: path,
                    catalog: catalog,
                    explain: explain))
        } catch {
            throw CommandError("\(error)", exitCode: 1)
        }
    }
}
