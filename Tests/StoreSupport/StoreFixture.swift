import Foundation
import Ledger
import Logging
import PostgresNIO
import PostgresStore
import StockCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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
        return try await withPostgresStore(
            catalog: catalog, poolSize: 16, idempotencyWindow: idempotencyWindow, clock: clock
        ) { store, _ in try await body(store) }
    }
}

/// A migrated PostgreSQL store on a database of its own, with the database's location (for
/// statements a test runs beside the store), for the duration of `body`.
public func withPostgresStore<T: Sendable>(
    catalog: Catalog, poolSize: Int = 4, idempotencyWindow: TimeInterval = 24 * 3600,
    clock: @escaping @Sendable () -> Date = { Date() },
    _ body: @Sendable (PostgresStore, PostgresStore.Location) async throws -> T
) async throws -> T {
    try await withPostgresDatabase { location in
        let store = PostgresStore(
            location: location, catalog: catalog, poolSize: poolSize, logger: storeLogger,
            idempotencyWindow: idempotencyWindow, clock: clock)
        return try await store.whileRunning {
            try await store.migrate()
            return try await body(store, location)
        }
    }
}

/// Runs one statement, `sql` (no parameters), on the database at `location`.
public func executeSQL(_ location: PostgresStore.Location, _ sql: String) async throws {
    try await admin(location, sql)
}

/// A database of its own on the test server for the duration of `body`, dropped after.
public func withPostgresDatabase<T: Sendable>(
    _ body: @Sendable (PostgresStore.Location) async throws -> T
) async throws -> T {
    guard let url = postgresURL, let server = PostgresStore.Location(url: url) else {
        throw PostgresUnavailable(description: "\(postgresMissing)")
    }
    // Swift Testing runs every case at once; the server takes a bounded number of connections.
    await databaseSlots.acquire()
    defer { Task { await databaseSlots.release() } }
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

/// At most this many test databases at once (each with a small pool).
let databaseSlots = Slots(12)

actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
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

/// A PostgreSQL cluster a test owns, so it can stop and start it (the shared test server
/// serves every other suite at once). Built from the binaries `scripts/with-postgres` found.
public final class OwnCluster: Sendable {
    public let directory: String
    public let port: Int
    let bin: String
    let user: String?

    /// Whether this run can create one.
    public static var available: Bool { ProcessInfo.processInfo.environment["STOCKGATE_TEST_PG_BIN"] != nil }

    /// Creates the cluster (initdb); `start()` starts it.
    public static func make() async throws -> OwnCluster {
        let cluster = try OwnCluster()
        if let user = cluster.user { try await run("/usr/bin/chown", [user, cluster.directory]) }
        try await cluster.command(
            "initdb", ["-D", cluster.directory + "/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        return cluster
    }

    private init() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let bin = environment["STOCKGATE_TEST_PG_BIN"] else {
            throw PostgresUnavailable(description: "\(postgresMissing)")
        }
        self.bin = bin
        self.user = environment["STOCKGATE_TEST_PG_USER"].flatMap { $0.isEmpty ? nil : $0 }
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-own-pg-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
    }

    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }

    public func start() async throws {
        do {
            try await startOnce()
        } catch {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw PostgresUnavailable(description: "\(error); server log: \(log.suffix(600))")
        }
    }

    private func startOnce() async throws {
        try await command(
            "pg_ctl",
            [
                "-D", directory + "/data", "-l", directory + "/server.log", "-w", "-t", "30", "-o",
                "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1", "start",
            ])
    }

    /// Stops the server at once, as a crash or a failover would (`immediate`: no checkpoint).
    public func stop() async throws {
        try await command("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
    }

    public func remove() async {
        try? await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func command(_ name: String, _ arguments: [String]) async throws {
        if let user {
            try await Self.run("/usr/sbin/runuser", ["-u", user, "--", bin + "/" + name] + arguments)
        } else {
            try await Self.run(bin + "/" + name, arguments)
        }
    }

    /// Runs a program to its end, its output discarded.
    static func run(_ path: String, _ arguments: [String]) async throws {
        let status = try await ChildProcess.run(path, arguments)
        guard status == 0 else {
            throw PostgresUnavailable(description: "\(path) \(arguments.joined(separator: " ")) exited \(status)")
        }
    }

    /// A free port below the kernel's range for outgoing connections (32768 and up), so that
    /// no client connection takes it while a server that cannot be asked to pick one (PostgreSQL,
    /// nginx) is stopped or starting; checked by binding it.
    public static func freePort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20000..<32000)
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(socket) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if bound == 0 { return port }
        }
        throw PostgresUnavailable(description: "no free port")
    }
}
