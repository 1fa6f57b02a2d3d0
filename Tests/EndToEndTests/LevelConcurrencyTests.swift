import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import NIOHTTP1
import PostgresStore
import StockCore
import StoreTestSupport
import TestSupport
import Testing

/// Issue 31, "Done when": two `stockgate serve` processes on one PostgreSQL, 16 clients setting
/// and moving one product at one location at once, through both instances, half of them
/// resending every request under its key (to the other instance). Replaying the journal in its
/// order — each level resets the balance, each movement adds — gives the final balance; each
/// level row read exactly the balance the rows before it left; no key is applied twice; every
/// acknowledged change has its row.
@Suite(
    "Levels across two instances on one PostgreSQL",
    .enabled(if: postgresURL != nil, postgresMissing),
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct LevelConcurrencyTests {
    /// Request `sequence` of `client`: a level set (StockGate's API or StoreFeeder's stock sync),
    /// a restock or a sale, all of `mug-white` at the shop floor.
    static func request(client: Int, sequence: Int) -> (method: HTTPMethod, path: String, body: String) {
        switch (client + sequence) % 4 {
        case 0:
            return (
                .POST, "/stockgate/v1/levels",
                #"{"levels": [{"product": "mug-white", "location": "shop-floor", "level": \#(client % 5 + 3)}]}"#
            )
        case 1:
            return (
                .PUT, "/products/stocklocationinventory",
                #"[{"ProductIDType": {"IDType": "SKU", "Value": "sku5"}, "AdjustmentType": "AbsoluteAdjustment", "AdjustmentAmount": \#(client % 7), "StockLocationID": {"IDType": "ID", "Value": "5431"}}]"#
            )
        case 2:
            return (
                .POST, "/stockgate/v1/movements",
                #"{"movements": [{"product": "mug-white", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#
            )
        default:
            return (
                .POST, "/stockgate/v1/movements",
                #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "shop-floor", "to": "sold"}]}"#
            )
        }
    }

    /// Whether the answer says the change was applied.
    static func applied(_ result: HTTPResult) -> Bool {
        result.json?["applied"] == 1 || result.json?["Successful"] == 1
    }

    @Test("the journal replayed in order gives the balance; no key twice; every acknowledged change has its row")
    func twoInstances() async throws {
        try await withPostgresDatabase { location in
            let url = ThreeInstancesTests.url(location)
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let instances = try await ThreeInstancesTests.startInstances(2, directory: directory, database: url)
            defer { for instance in instances { instance.process.terminate() } }
            let bases = instances.map { "http://127.0.0.1:\($0.port)" }
            for base in bases { try await StockGateProcess.waitUntilHealthy(base) }

            let acknowledged = Acknowledged()
            let mismatches = Acknowledged()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<16 {
                    group.addTask {
                        for sequence in 0..<8 {
                            let (method, path, body) = Self.request(client: client, sequence: sequence)
                            let key = "level-c\(client)-\(sequence)"
                            let first = try await HTTPClient.shared.send(
                                method, bases[(client + sequence) % 2] + path, body: body,
                                headers: [("Idempotency-Key", key)])
                            if Self.applied(first) { acknowledged.add(key) }
                            guard client % 2 == 0 else { continue }
                            // The resend, through the other instance: the same answer, nothing applied again.
                            let again = try await HTTPClient.shared.send(
                                method, bases[(client + sequence + 1) % 2] + path, body: body,
                                headers: [("Idempotency-Key", key)])
                            if again.status != first.status || again.json != first.json {
                                mismatches.add("\(key): \(first.text) then \(again.text)")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(mismatches.keys.isEmpty, "\(mismatches.keys)")
            let acked = acknowledged.keys
            #expect(acked.count >= 64, "only \(acked.count) of 128 changes applied")

            let store = PostgresStore(location: location, catalog: demoCatalog, poolSize: 2, logger: quietLogger)
            try await store.whileRunning {
                let journal = try await store.movements(MovementQuery(product: "mug-white", limit: 10_000))
                var perKey: [String: Int] = [:]
                for movement in journal { if let key = movement.idempotencyKey { perKey[key, default: 0] += 1 } }
                #expect(
                    perKey.values.allSatisfy { $0 == 1 },
                    "a key applied more than once: \(perKey.filter { $0.value > 1 })")
                for key in acked { #expect(perKey[key] == 1, "acknowledged \(key) has \(perKey[key] ?? 0) rows") }
                var replayed = Quantity.zero
                var levels = 0
                for row in journal {
                    if let level = row.level {
                        levels += 1
                        #expect(
                            level.before == replayed,
                            "row \(row.id ?? 0) read \(level.before.map(\.description) ?? "nothing"), the journal says \(replayed)"
                        )
                        if let target = level.target {
                            replayed = target
                        } else {
                            replayed = replayed + row.signedChange
                        }
                    } else {
                        // A movement adds what it brings to the shop floor, less what it takes.
                        if row.to == "shop-floor" { replayed = replayed + row.quantity }
                        if row.from == "shop-floor" { replayed = replayed - row.quantity }
                    }
                }
                #expect(levels >= 32, "\(levels) level rows")
                let balance = try await store.balances(BalanceQuery(products: ["mug-white"], location: "shop-floor"))
                #expect(balance.first?.quantity ?? .zero == replayed)
                try await expectJournalMatchesBalances(store)
            }
        }
    }
}
