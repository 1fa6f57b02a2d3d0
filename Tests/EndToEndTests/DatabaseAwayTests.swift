import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import PostgresStore
import StockCore
import StoreTestSupport
import TestSupport
import Testing

/// The shared PostgreSQL stops under a running gateway (as a crash or a failover would) and
/// comes back: every write in between is refused `unavailable` in its caller's envelope,
/// nothing is half-applied, `/healthz` and `/readyz` say so, and service resumes without a
/// restart of StockGate.
@Suite("PostgreSQL away", .enabled(if: OwnCluster.available, postgresMissing))
struct DatabaseAwayTests {
    static let dialects = ["stockgate", "colleqtive", "storefeeder", "open2b-v6", "zettle"]

    @Test("writes refused unavailable in every dialect while it is down, nothing applied, served again once it is back")
    func databaseAway() async throws {
        let cluster = try await OwnCluster.make()
        try await cluster.start()
        defer { Task { await cluster.remove() } }
        let location = try #require(PostgresStore.Location(url: cluster.url))
        let store = PostgresStore(location: location, catalog: demoCatalog, poolSize: 8, logger: quietLogger)
        try await store.whileRunning {
            try await store.migrate()
            let gateway = Gateway(
                configuration: GatewayConfiguration(port: 0), catalog: demoCatalog, backend: store, logger: quietLogger)
            try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                let base = "http://127.0.0.1:\(port)"
                for dialect in Self.dialects {
                    let (method, path, body) = LoadTests.request(dialect, inbound: true)
                    let result = try await HTTPClient.shared.send(method, base + path, body: body)
                    #expect(LoadTests.succeeded(dialect, result), "\(dialect): \(result.text)")
                }
                let before = try await store.totalStock(product: "mug-black")
                #expect(before == Quantity(5))

                try await cluster.stop()
                for dialect in Self.dialects {
                    let (method, path, body) = LoadTests.request(dialect, inbound: true)
                    let result = try await HTTPClient.shared.send(method, base + path, body: body)
                    #expect(!LoadTests.succeeded(dialect, result), "\(dialect): \(result.text)")
                    #expect(
                        result.status == 503 || (dialect == "storefeeder" && result.status == 200),
                        "\(dialect): \(result.status) \(result.text)")
                    #expect(
                        result.text.lowercased().contains("unavailable") || result.text.contains("unreachable"),
                        "\(dialect): \(result.text)")
                }
                let health = try await HTTPClient.shared.send(.GET, base + "/healthz")
                #expect(health.status == 503 && health.text.contains("database"), "\(health.text)")
                let ready = try await HTTPClient.shared.send(.GET, base + "/readyz")
                #expect(ready.status == 503)

                try await cluster.start()
                try await waitUntil(timeout: .seconds(30), "the gateway ready again") {
                    (try? await HTTPClient.shared.send(.GET, base + "/readyz").status) == 200
                }
                let (method, path, body) = LoadTests.request("stockgate", inbound: true)
                let again = try await HTTPClient.shared.send(method, base + path, body: body)
                #expect(LoadTests.succeeded("stockgate", again), "\(again.text)")
                // The five writes before, the one after; none of those refused in between.
                #expect(try await store.totalStock(product: "mug-black") == Quantity(6))
                try await expectJournalMatchesBalances(store)
            }
        }
    }
}

/// Every balance equals the sum of the applied journal.
func expectJournalMatchesBalances(_ store: any LedgerStore) async throws {
    var sums: [String: Quantity] = [:]
    for movement in try await store.movements(MovementQuery())
    where movement.state == .applied || movement.reverses != nil {
        if store.catalog.location(key: movement.from)?.kind.isTracked == true {
            sums[movement.product + "@" + movement.from, default: .zero] =
                sums[movement.product + "@" + movement.from, default: .zero] - movement.quantity
        }
        if store.catalog.location(key: movement.to)?.kind.isTracked == true {
            sums[movement.product + "@" + movement.to, default: .zero] =
                sums[movement.product + "@" + movement.to, default: .zero] + movement.quantity
        }
    }
    for balance in try await store.balances(BalanceQuery()) {
        #expect(balance.quantity == sums[balance.product + "@" + balance.location, default: .zero], "\(balance)")
    }
}
