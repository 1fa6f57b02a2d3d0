import Foundation
import Gateway
import Ledger
import Logging
import Simulator
import StockCore

/// Runs cases against a fresh StockGate per case: a temporary data directory, the embedded
/// ledger and a server on `127.0.0.1:<free port>`, so every case starts from empty stock.
public struct InProcessTarget: Sendable {
    public let catalog: Catalog
    public let configuration: GatewayConfiguration
    public let logger: Logger

    public init(catalog: Catalog, configuration: GatewayConfiguration = GatewayConfiguration(), logger: Logger) {
        self.catalog = catalog
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        self.configuration = configuration
        self.logger = logger
    }

    public func run(_ contract: ContractCase, runner: ContractRunner) async throws -> ContractResult {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("stockgate-contract-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = self.configuration
        configuration.dataDirectory = directory
        let ledger = try Ledger.open(directory: directory, catalog: catalog, logger: logger)
        defer { try? ledger.close() }
        return try await run(contract, runner: runner, storage: ledger, configuration: configuration)
    }

    /// Runs a case against a gateway on `storage` (an empty store: the PostgreSQL suites pass a
    /// database of their own per case).
    public func run(
        _ contract: ContractCase, runner: ContractRunner, storage: any Storage,
        configuration: GatewayConfiguration? = nil
    ) async throws -> ContractResult {
        // Faults on demand, for cases with a `fault` key (each case has its own gateway).
        let gateway = Gateway(
            configuration: configuration ?? self.configuration, catalog: catalog, backend: storage, logger: logger,
            faults: FaultSchedule())
        var result = try await GatewayServer.withRunning(gateway, logger: logger) { port in
            await runner.run(contract, baseURL: "http://127.0.0.1:\(port)")
        }
        // Whatever the case checked, the ledger must still add up.
        result.failures += try await LedgerInvariant.violations(in: storage)
        return result
    }
}
