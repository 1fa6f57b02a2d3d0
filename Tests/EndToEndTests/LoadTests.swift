import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOCore
import NIOHTTP1
import StockCore
import TestSupport
import Testing

/// 32 concurrent clients over mixed dialects, against the embedded ledger and against a
/// remote backend (a second StockGate speaking StoreFeeder): no 5xx, stock conserved
/// exactly, every success in the journal.
@Suite("Load")
struct LoadTests {
    static let requestsPerClient = 40

    /// Every registered dialect: each client's request is written by its own client codec.
    static let dialects = DialectRegistry.ids

    /// A restock (in) or a sale (out) of one unit of mug-black, as a `dialect` client sends it
    /// (every dialect can say both: `IntentTests`).
    static func request(_ dialect: DialectID, inbound: Bool) -> DialectClient.Request {
        guard let request = DialectClient.request(dialect, DialectClient.unit(inbound: inbound)) else {
            preconditionFailure("a \(dialect) client cannot send a unit restock or sale")
        }
        return request
    }

    /// Whether the answer says the movement was applied, as the dialect's client reads it.
    static func succeeded(_ dialect: DialectID, _ result: HTTPResult, inbound: Bool = true) -> Bool {
        DialectClient.applied(dialect, DialectClient.unit(inbound: inbound), result)
    }

    /// Sends `request` to `base`, with `headers` besides its own.
    static func send(
        _ request: DialectClient.Request, to base: String, headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> HTTPResult {
        try await HTTPClient.shared.send(
            request.method, base + request.path, body: request.body, headers: request.headers + headers,
            timeout: timeout)
    }

    /// Runs the load against `base`; returns the net change it was told succeeded, and how many succeeded.
    static func load(_ base: String) async throws -> (net: Int, successes: Int) {
        return try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for client in 0..<32 {
                group.addTask {
                    var generator = SeededGenerator(seed: UInt64(client + 100))
                    var net = 0
                    var successes = 0
                    for index in 0..<requestsPerClient {
                        let dialect = dialects[(client + index) % dialects.count]
                        let inbound = Bool.random(using: &generator) || index < 4
                        let result = try await send(request(dialect, inbound: inbound), to: base)
                        guard result.status < 500 else {
                            throw TestFailure("\(dialect): \(result.status) \(result.text)")
                        }
                        if succeeded(dialect, result, inbound: inbound) {
                            net += inbound ? 1 : -1
                            successes += 1
                        }
                    }
                    return (net, successes)
                }
            }
            return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
    }

    @Test("against the embedded ledger")
    func embedded() async throws {
        try await LiveGateway.run { live in
            let (net, successes) = try await Self.load(live.baseURL)
            #expect(successes > 32 * Self.requestsPerClient / 2)
            #expect(try await live.ledger.totalStock(product: "mug-black") == Quantity(net))
            #expect(try await live.ledger.count(MovementQuery()) == successes)
        }
    }

    @Test("against a remote backend")
    func remote() async throws {
        try await LiveGateway.run { second in
            let client = CurlHTTPClient(configuration: .init(timeout: .seconds(20)))
            try await withTemporaryLedger { directory, journal in
                let backend = RemoteBackend(
                    name: "second", baseURL: second.baseURL, codec: StoreFeederOutbound(), client: client, auth: .none,
                    catalog: demoCatalog, journal: journal, logger: quietLogger)
                let gateway = Gateway(
                    configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                    backend: backend, logger: quietLogger, idempotencyStore: journal)
                let (net, successes) = try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                    try await Self.load("http://127.0.0.1:\(port)")
                }
                await client.shutdown()
                #expect(successes > 32 * Self.requestsPerClient / 2)
                #expect(try await second.ledger.totalStock(product: "mug-black") == Quantity(net))
                var forwarded = MovementQuery(appliedOnly: true)
                forwarded.backend = "second"
                #expect(try await journal.count(forwarded) == successes)
                #expect(try await second.ledger.count(MovementQuery()) == successes)
            }
        }
    }
}
