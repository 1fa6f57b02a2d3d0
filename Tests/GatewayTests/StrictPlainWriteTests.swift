import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

/// Issue 32, point 1: a minimal write from Zettle to a Zettle backend on a strict route was
/// refused as `allowOverage` dropped, a fact Zettle's callers cannot even say. A fact the
/// client's dialect cannot carry is never "dropped" for that client.
@Suite("Strict routes and what a caller can say")
struct StrictPlainWriteTests {
    @Test("a plain Zettle restock through a strict route to a Zettle backend is forwarded, with no StockGate-Dropped")
    func zettleToZettle() async throws {
        try await LiveGateway.run { backend in
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
            defer { try? ledger.close() }
            let client = CurlHTTPClient(configuration: .init(timeout: .seconds(5)))
            let remote = RemoteBackend(
                name: "zettle-shop", baseURL: backend.baseURL, codec: Backends.codec(dialect: "zettle")!,
                client: client,
                auth: .none, catalog: demoCatalog, journal: ledger, timeout: .seconds(5), logger: quietLogger,
                strictDialects: ["zettle"])
            let gateway = Gateway(
                configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                backend: ledger, logger: quietLogger, routes: ["zettle": remote], idempotencyStore: ledger)
            try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                let answer = try await HTTPClient.shared.send(
                    .PUT, "http://127.0.0.1:\(port)/organizations/self/inventory", body: PusherTests.restock)
                #expect(answer.status == 200, "\(answer.text)")
                #expect(answer.headers.first(name: "StockGate-Dropped") == nil, "\(answer.headers)")
                #expect(try await backend.ledger.count(MovementQuery()) == 1, "applied at the backend")
            }
            await client.shutdown()
        }
    }
}
