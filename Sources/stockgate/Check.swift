import ArgumentParser
import CurlHTTP
import Foundation
import Gateway
import Ledger
import Logging
import Operations
import PostgresStore
import StockCore

/// `stockgate check`: validates the configuration and the catalog without serving.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the configuration file and the catalog as 'serve' would read them, without serving.",
        discussion: """
            Reads flags, STOCKGATE_* variables and --config in the same layers as 'serve', loads the
            catalog, reads every backend's and client's secret and builds the routes; sends nothing,
            opens no data directory. Prints what it found, each setting's value (secrets only as
            set), and exits 0, or names the first problem on one line and exits 2.
            """)

    @Option(help: "The configuration file.")
    var config: String?

    @Option(help: "Catalog directory (default ./mappings, or the config's server.mappings).")
    var mappings: String?

    @Option(
        help:
            "A shared PostgreSQL (postgres://…) to check as serve would use it: reached, logged in, its schema version. Also STOCKGATE_DATABASE or the config's storage."
    )
    var database: String?

    func run() async throws {
        let settings = try ServeSettings.read(
            flags: ServeSettings.Flags(["config": config, "mappings": mappings, "database": database]),
            environment: ProcessInfo.processInfo.environment)
        var logger = Logger(label: "stockgate.check")
        logger.logLevel = .critical
        let catalog = try Serve.loadCatalog(settings, logger: logger)
        // The routes are built on a throwaway ledger: what is checked is the configuration.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-check-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let ledger: Ledger
        do {
            ledger = try Ledger.open(directory: scratch, catalog: catalog, logger: logger)
        } catch {
            throw CommandError("cannot open a scratch ledger: \(error)", exitCode: 1)
        }
        defer { try? ledger.close() }
        let client = CurlHTTPClient()
        do {
            _ = try Serve.makeGateway(
                settings, catalog: catalog, storage: ledger, client: client, metrics: GatewayMetrics(), logger: logger)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        let file = settings.file
        print("catalog: \(catalog.products.count) products, \(catalog.locations.count) locations")
        for backend in file.backends { print("backend \(backend.name): \(backend.dialect) at \(backend.baseURL)") }
        for (dialect, backend) in file.routes.sorted(by: { $0.key < $1.key }) {
            print("route \(dialect) → \(backend)\(file.strictRoutes.contains(dialect) ? " (strict)" : "")")
        }
        print(
            "clients: \(settings.clients.count); listen \(settings.configuration.host):\(settings.configuration.port)")
        for line in Setting.listing(settings.effective) { print(line) }
        if let url = settings.database { print("database: " + (try await Self.checkDatabase(url, catalog: catalog))) }
        print("ok")
    }

    /// Connects as serve would: the server's refusal (SQLSTATE) or its schema version.
    static func checkDatabase(_ url: String, catalog: Catalog) async throws -> String {
        guard let location = PostgresStore.Location(url: url) else {
            throw CommandError("database: not a postgres:// URL")
        }
        var logger = Logger(label: "stockgate.check")
        logger.logLevel = .critical
        let store = PostgresStore(location: location, catalog: catalog, poolSize: 1, logger: logger)
        if let problem = await store.diagnose() { throw CommandError("database: \(problem)") }
        let place = "\(location.host):\(location.port)/\(location.database ?? location.username)"
        do {
            let version = try await store.whileRunning { try await store.appliedSchemaVersion() }
            let current = PostgresStore.schemaVersion
            let state =
                version == current
                ? "up to date"
                : version < current ? "serve will migrate it to \(current)" : "newer than this build (\(current))"
            return "\(place) reached, schema version \(version): \(state)"
        } catch {
            throw CommandError("database: \(place): \(error)")
        }
    }
}
