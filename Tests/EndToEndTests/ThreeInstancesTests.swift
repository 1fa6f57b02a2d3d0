import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import PostgresStore
import StockCore
import StoreTestSupport
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether nginx is installed (`scripts/install-deps test` installs it).
let nginxPath: String? = ["/usr/sbin/nginx", "/usr/bin/nginx"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Three `stockgate serve` processes on one PostgreSQL behind nginx, 32 clients writing in
/// every dialect with an `Idempotency-Key` each and resending it through the balancer until
/// they get an answer; one instance killed with SIGKILL mid-load and started again.
@Suite(
    "Three instances, one PostgreSQL",
    .enabled(if: postgresURL != nil, postgresMissing),
    .enabled(if: nginxPath != nil, "needs nginx: scripts/install-deps test installs it"),
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct ThreeInstancesTests {
    static let dialects = LoadTests.dialects

    @Test("every acknowledged movement is in the journal exactly once, no key applied twice, stock conserved")
    func killOneUnderLoad() async throws {
        try await withPostgresDatabase { location in
            let url = Self.url(location)
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let instances = try await Self.startInstances(3, directory: directory, database: url)
            defer { for instance in instances { instance.process.terminate() } }
            let balancer = try await Nginx.start(upstreams: instances.map(\.port), directory: directory)
            defer { balancer.stop() }
            let base = "http://127.0.0.1:\(balancer.port)"
            try await StockGateProcess.waitUntilHealthy(base)

            let acknowledged = Acknowledged()
            let killed = try await withThrowingTaskGroup(of: Void.self) { group -> (ChildProcess, Int) in
                for client in 0..<32 {
                    group.addTask {
                        for sequence in 0..<12 {
                            let dialect = Self.dialects[(client + sequence) % Self.dialects.count]
                            let key = "c\(client)-\(sequence)"
                            let request = LoadTests.request(dialect, inbound: true)
                            // Resend the same request with the same key until an answer comes back.
                            for _ in 0..<60 {
                                if let result = try? await LoadTests.send(
                                    request, to: base, headers: [("Idempotency-Key", key)], timeout: .seconds(10)),
                                    result.status < 500
                                {
                                    if LoadTests.succeeded(dialect, result) { acknowledged.add(key) }
                                    break
                                }
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(60), "60 acknowledged writes") {
                    acknowledged.keys.count >= 60
                }
                let victim = instances[1]
                victim.process.send(SIGKILL)
                await offPool { victim.process.waitUntilExit() }
                let restarted = try await StockGateProcess.start(
                    dataDirectory: directory + "/instance1", port: victim.port, arguments: ["--database", url])
                try await group.waitForAll()
                return restarted
            }
            defer { killed.0.terminate() }
            let acked = acknowledged.keys
            #expect(acked.count >= 60)

            let store = PostgresStore(location: location, catalog: demoCatalog, poolSize: 2, logger: quietLogger)
            try await store.whileRunning {
                let journal = try await store.movements(MovementQuery())
                var perKey: [String: Int] = [:]
                for movement in journal { if let key = movement.idempotencyKey { perKey[key, default: 0] += 1 } }
                for key in acked { #expect(perKey[key] == 1, "key \(key): \(perKey[key] ?? 0) movements") }
                #expect(perKey.values.allSatisfy { $0 == 1 }, "a key applied more than once")
                // Every write is a restock of one unit: stock equals the movements journaled.
                let products = Set(journal.map(\.product))
                var total = Quantity.zero
                for product in products { total = total + (try await store.totalStock(product: product)) }
                #expect(total == Quantity(journal.count))
                #expect(journal.count >= acked.count)
                try await expectJournalMatchesBalances(store)
            }
        }
    }
}

extension ThreeInstancesTests {
    /// The test database's URL for `stockgate serve --database`.
    static func url(_ location: PostgresStore.Location) -> String {
        "postgres://\(location.username)@\(location.host):\(location.port)/\(location.database ?? "postgres")"
    }

    /// `count` serve processes on one database, each with a data directory of its own under
    /// `directory` (none is used for the ledger with --database).
    static func startInstances(
        _ count: Int, directory: String, database url: String
    ) async throws -> [(process: ChildProcess, port: Int)] {
        var instances: [(process: ChildProcess, port: Int)] = []
        for index in 0..<count {
            let data = directory + "/instance\(index)"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            do {
                instances.append(try await StockGateProcess.start(dataDirectory: data, arguments: ["--database", url]))
            } catch {
                for instance in instances { instance.process.terminate() }
                throw error
            }
        }
        return instances
    }
}

/// The keys whose writes were acknowledged as applied.
final class Acknowledged: Sendable {
    private let entries = Mutex<Set<String>>([])
    func add(_ key: String) { _ = entries.withLock { $0.insert(key) } }
    var keys: Set<String> { entries.withLock { $0 } }
}

/// nginx in front of the instances, as docs/postgresql.md configures it.
struct Nginx {
    let process: ChildProcess
    let port: Int

    static func start(upstreams: [Int], directory: String) async throws -> Nginx {
        let port = try OwnCluster.freePort()
        let servers = upstreams.map { "    server 127.0.0.1:\($0) max_fails=1 fail_timeout=2s;" }.joined(
            separator: "\n")
        let configuration = """
            worker_processes 1;
            pid \(directory)/nginx.pid;
            error_log \(directory)/nginx-error.log;
            events {}
            http {
              access_log off;
              client_body_temp_path \(directory)/body;
              proxy_temp_path \(directory)/proxy;
              upstream stockgate {
            \(servers)
                keepalive 32;
              }
              server {
                listen 127.0.0.1:\(port);
                location / {
                  proxy_pass http://stockgate;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_next_upstream error;
                }
              }
            }
            """
        try configuration.write(toFile: directory + "/nginx.conf", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            nginxPath ?? "/usr/sbin/nginx", ["-p", directory, "-c", directory + "/nginx.conf", "-g", "daemon off;"])
        return Nginx(process: process, port: port)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
