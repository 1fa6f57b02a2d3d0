import Foundation
import GatewayTestSupport
import PostgresStore
import StoreTestSupport
import TestSupport
import Testing

/// Issue 33: a PostgreSQL role that does not exist was reported as "the stock database is
/// unreachable; try again", SQLSTATE 28000 hidden in PostgresNIO's own info log.
@Suite(
    "The database's refusal, said", .enabled(if: postgresURL != nil, postgresMissing),
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct DatabaseLoginTests {
    @Test("serve with a role that does not exist exits 2 naming SQLSTATE 28000, not only 'unreachable'")
    func missingRole() async throws {
        let url = try #require(postgresURL)
        let location = try #require(PostgresStore.Location(url: url))
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (_, errors, status) = try await CommandLineTests.stockgate([
            "serve", "--port", "0", "--data-dir", directory, "--log-format", "json",
            "--database", "postgres://no_such_role_sg@\(location.host):\(location.port)/postgres",
        ])
        #expect(status == 2, "\(errors)")
        #expect(errors.contains("SQLSTATE 28000"), "\(errors)")
        // The cause is said once, by the store; PostgresNIO's pool no longer repeats each failed
        // attempt at info (it speaks from warning up).
        let poolInfo = errors.split(separator: "\n").filter {
            $0.contains(#""source":"PostgresNIO""#)
                && ($0.contains(#""level":"info""#) || $0.contains(#""level":"debug""#))
        }
        #expect(poolInfo.isEmpty, "\(poolInfo)")
    }

    @Test("diagnose: nil when a connection can be made; the refusal when not")
    func diagnose() async throws {
        let url = try #require(postgresURL)
        let location = try #require(PostgresStore.Location(url: url))
        let good = PostgresStore(location: location, catalog: demoCatalog, logger: quietLogger)
        #expect(await good.diagnose() == nil)
        var wrong = location
        wrong.username = "no_such_role_sg"
        let bad = PostgresStore(location: wrong, catalog: demoCatalog, logger: quietLogger)
        let cause = await bad.diagnose()
        #expect(cause?.contains("28000") == true, "\(cause ?? "nil")")
    }

    @Test("check --database: reached and its schema version, or the server's refusal with exit 2")
    func check() async throws {
        let url = try #require(postgresURL)
        let location = try #require(PostgresStore.Location(url: url))
        let mappings = StockGateProcess.repository.appendingPathComponent("mappings").path
        let good = try await CommandLineTests.stockgate(["check", "--mappings", mappings, "--database", url])
        #expect(good.status == 0, "\(good.errors)")
        #expect(good.output.contains("reached, schema version"), "\(good.output)")
        let bad = try await CommandLineTests.stockgate([
            "check", "--mappings", mappings, "--database",
            "postgres://no_such_role_sg@\(location.host):\(location.port)/postgres",
        ])
        #expect(bad.status == 2 && bad.errors.contains("SQLSTATE 28000"), "\(bad.errors)")
    }
}
