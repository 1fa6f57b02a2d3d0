import ArgumentParser
import Foundation
import Gateway
import Logging
import PostgresStore
import StockCore

/// `stockgate migrate`: applies the PostgreSQL schema migrations and exits, for operators who
/// apply them ahead of a rollout (`serve` applies them at start too).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the PostgreSQL schema migrations (serve applies them at start too).",
        discussion: "The database comes from --database or STOCKGATE_DATABASE (postgres://user@host:port/db).")

    @Option(help: "The shared PostgreSQL (postgres://user@host:port/db).")
    var database: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let url = database ?? environment["STOCKGATE_DATABASE"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw CommandError("migrate needs --database or STOCKGATE_DATABASE")
        }
        guard let location = PostgresStore.Location(url: url) else {
            throw CommandError("database: not a postgres:// URL")
        }
        var logger = Logger(label: "stockgate.migrate")
        logger.logLevel = .warning
        let store = PostgresStore(location: location, catalog: Catalog(), poolSize: 1, logger: logger)
        let applied: [Int]
        do {
            applied = try await store.whileRunning { try await store.migrate() }
        } catch {
            throw CommandError("cannot migrate \(location.host):\(location.port): \(error)", exitCode: 1)
        }
        print(
            applied.isEmpty
                ? "schema version \(PostgresStore.schemaVersion): nothing to apply"
                : "applied migrations \(applied.map(String.init).joined(separator: ", ")); schema version \(PostgresStore.schemaVersion)"
        )
    }
}
