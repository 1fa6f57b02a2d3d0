import Foundation
import Ledger
import Logging
import PostgresNIO
import PostgresStore
import StockCore
import Testing

/// Where the store behaviour suites run: the SQLite ledger always, PostgreSQL when
/// `STOCKGATE_TEST_DATABASE` names a server (`scripts/with-postgres` starts one; `make test`
/// runs the tests through it).
public enum StoreKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres

    public var testDescription: String { rawValue }

    /// The kinds this run can test.
    public static var testable: [StoreKind] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
}

/// The throwaway server's URL, when the tests run with one.
public let postgresURL: String? = ProcessInfo.processInfo.environment["STOCKGATE_TEST_DATABASE"].flatMap {
    $0.isEmpty ? nil : $0
}

/// Why a PostgreSQL suite is skipped.
public let postgresMissing: Comment =
    "needs PostgreSQL: run through scripts/with-postgres (make test does), which sets STOCKGATE_TEST_DATABASE"

let storeLogger: Logger = {
    var logger = Logger(label: "stockgate.test.store")
    logger.logLevel = .warning
    return logger
}()

/// A fresh, empty store of `kind` for the duration of `body`: a SQLite ledger in a temporary
/// directory, or a PostgreSQL store on a database of its own, created, migrated and dropped
/// after.
public func withStore<T: Sendable>(
    _ kind: StoreKind, catalog: Catalog, idempotencyWindow: TimeInterval = 24 * 3600,
    clock: @escaping @Sendable () -> Date = { Date() }, _ body: @Sendable (any Storage) async throws -> T
) async throws -> T {
    switch kind {
    case .sqlite:
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-test-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger.open(
            directory: path, catalog: catalog, clock: clock, logger: storeLogger, idempotencyWindow: idempotencyWindow)
        defer { try? ledger.close() }
        return try await body(ledger)
    case .postgres:
        return try await withPostgresDatabase { location in
            let store = PostgresStore(
                location: location, catalog: catalog, poolSize: 24, logger: storeLogger,
                idempotencyWindow: idempotencyWindow, clock: clock)
            return try await store.whileRunning {
                try await store.migrate()
                return try await body(store)
            }
        }
    }
}

/// A database of its own on the test server for the duration of `body`, dropped after.
public func withPostgresDatabase<T: Sendable>(
    _ body: @Sendable (PostgresStore.Location) async throws -> T
) async throws -> T {
    guard let url = postgresURL, let server = PostgresStore.Location(url: url) else {
        throw PostgresUnavailable(description: "\(postgresMissing)")
    }
    let name = "stockgate_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    try await admin(server, "CREATE DATABASE \(name)")
    var location = server
    location.database = name
    do {
        let result = try await body(location)
        try await admin(server, "DROP DATABASE \(name) WITH (FORCE)")
        return result
    } catch {
        try? await admin(server, "DROP DATABASE \(name) WITH (FORCE)")
        throw error
    }
}

struct PostgresUnavailable: Error, CustomStringConvertible {
    var description: String
}

/// One statement on the server's default database (CREATE and DROP DATABASE cannot run in a
/// transaction, so not through a store).
func admin(_ server: PostgresStore.Location, _ sql: String) async throws {
    let configuration = PostgresConnection.Configuration(
        host: server.host, port: server.port, username: server.username, password: server.password,
        database: server.database, tls: .disable)
    let connection = try await PostgresConnection.connect(
        configuration: configuration, id: 1, logger: storeLogger)
    defer { Task { try? await connection.close() } }
    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: storeLogger)
}
