import ArgumentParser
import Foundation
import Gateway

@main
struct StockGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockgate",
        abstract: "An API gateway and protocol adapter for stock movements.",
        subcommands: [Serve.self, ContractTest.self, Translate.self, Migrate.self, Journal.self, Reconcile.self],
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
