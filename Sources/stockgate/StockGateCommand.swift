import ArgumentParser
import Foundation
import Gateway
import Operations

@main
struct StockGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockgate",
        abstract: "An API gateway and protocol adapter for stock movements.",
        discussion: """
            Exit codes: 0 success; 1 a failure while running (a contract case failed, a port in use, a
            row left for a person); 2 a configuration problem (a bad file, catalog, data directory or
            database); 64 a usage error (an unknown option, dialect or value).
            """,
        version: BuildInfo.description,
        subcommands: [
            Serve.self, Check.self, ContractTest.self, Translate.self, Migrate.self, Journal.self, Reconcile.self,
            OpenAPICommand.self, Record.self, Health.self,
        ],
        defaultSubcommand: Serve.self)

    /// Runs the command; a `CommandError` from any of them is printed once, as one line, and
    /// exits with its status. Usage errors are the argument parser's (status 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CommandError {
            FileHandle.standardError.write(Data("stockgate: \(error)\n".utf8))
            Foundation.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
