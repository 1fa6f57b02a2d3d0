import ArgumentParser

@main
struct StockGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockgate",
        abstract: "An API gateway and protocol adapter for stock movements.",
        subcommands: [Serve.self, ContractTest.self, Translate.self],
        defaultSubcommand: Serve.self)
}
