import AsyncHTTPClient
import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import Simulator
import StockCore
import Testing

/// The outbound matrix against vendor answers (issue 16): a StockGate whose backend speaks
/// each vendor dialect forwards to a second StockGate replaying `contract-tests/replay` — the
/// vendors' documented answers, not StockGate's own reading of the dialect. Each outbound
/// codec must turn the vendor's success into an applied movement and the vendor's refusal
/// into a refusal the caller can read.
@Suite("Outbound codecs against replayed vendor answers")
struct ReplayMatrixTests {
    static let directory = StockGateProcess.repository.appendingPathComponent("contract-tests/replay").path

    /// Every vendor dialect of the registry: one added there without replay cases fails here.
    static let vendorDialects = DialectRegistry.names.filter { $0 != "stockgate" }

    /// A word of each vendor's refusal that must reach the caller.
    static let refusalText: [String: String] = [
        "colleqtive": "was not found", "storefeeder": "Stock Location does not exist",
        "open2b-v6": "does not exist", "open2b-v3": "does not exist", "zettle": "not tracked",
        "zettle-v3": "not tracked",
    ]

    @Test("the replay cases pass against the replaying StockGate")
    func casesReplay() async throws {
        let cases = try ContractCase.load(directory: Self.directory)
        #expect(Set(cases.map(\.dialect)) == Set(Self.vendorDialects))
        let book = try ReplayBook(directory: Self.directory, logger: quietLogger)
        try await LiveGateway.run(direct: book) { replay in
            try await withCurlClient(.init(timeout: .seconds(10))) { client in
                let runner = ContractRunner(client: client)
                for contract in cases {
                    let result = await runner.run(contract, baseURL: replay.baseURL)
                    #expect(result.failures.isEmpty, "\(contract.name): \(result.failures)")
                }
            }
        }
    }

    @Test("faults play around a replayed answer: 429 with Retry-After, then latency, then the recorded answer")
    func faultsAroundReplay() async throws {
        let book = try ReplayBook(directory: Self.directory, logger: quietLogger)
        try await LiveGateway.run(faults: FaultSchedule(), direct: book) { replay in
            let scheduled = try await HTTPClient.shared.send(
                .POST, replay.baseURL + "/stockgate/v1/test/faults",
                body:
                    #"{"faults": [{"kind": "rate-limit", "retry_after": 7, "match": {"dialect": "open2b-v6"}}, {"kind": "latency", "latency_ms": 300, "match": {"dialect": "open2b-v6"}}]}"#
            )
            #expect(scheduled.status == 201, "\(scheduled.text)")
            let body = #"{"movement": {"sku": "TS-BLUE-M", "adjustment": "3.00"}}"#
            let url = replay.baseURL + "/api/v6/commerce.movements.create"
            let limited = try await HTTPClient.shared.send(.POST, url, body: body)
            #expect(limited.status == 429, "\(limited.text)")
            #expect(limited.headers.first(name: "Retry-After") == "7")
            let started = ContinuousClock.now
            let slow = try await HTTPClient.shared.send(.POST, url, body: body)
            #expect(ContinuousClock.now - started >= .milliseconds(300))
            #expect(slow.json?["status"] == "ok" && slow.json?["id"] == 58913, "\(slow.text)")
            let plain = try await HTTPClient.shared.send(.POST, url, body: body)
            #expect(plain.json?["id"] == 58913, "\(plain.text)")
        }
    }

    @Test("each vendor dialect's outbound codec against what the vendor answers", arguments: vendorDialects)
    func outbound(_ dialect: String) async throws {
        let book = try ReplayBook(directory: Self.directory, logger: quietLogger)
        #expect(book.dialects.contains(dialect), "no replay cases for \(dialect) in contract-tests/replay")
        try await LiveGateway.run(direct: book) { vendor in
            try await withCurlClient(.init(timeout: .seconds(10))) { client in
                let backend = DialectID(dialect)
                try await withForwardingGateway(dialect: backend, baseURL: vendor.baseURL, client: client) { port, _ in
                    let base = "http://127.0.0.1:\(port)"
                    let restock =
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": 3, "from": "supplier", "to": "shop-floor"}]}"#
                    let applied = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/movements", body: restock)
                    #expect(applied.status == 200, "\(dialect): \(applied.text)")
                    #expect(applied.json?["applied"] == 1, "\(dialect): \(applied.text)")

                    let unknown =
                        #"{"movements": [{"product": "tshirt-blue-l", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
                    let refused = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/movements", body: unknown)
                    #expect(refused.status < 500, "\(dialect): \(refused.text)")
                    #expect(
                        refused.json?["applied"] == 0 || refused.json?["error"] != nil, "\(dialect): \(refused.text)")
                    let words = try #require(Self.refusalText[dialect])
                    #expect(refused.text.contains(words), "\(dialect): the vendor's reason is lost: \(refused.text)")
                    // The replay was not missed: a miss would say so in the vendor's envelope.
                    #expect(!refused.text.contains("no recorded answer"), "\(dialect): \(refused.text)")

                    if dialect == "zettle" {
                        // Zettle writes balances as JSON numbers; the read path takes them exactly.
                        let balances = try await HTTPClient.shared.send(
                            .GET, base + "/stockgate/v1/balances?location=shop-floor")
                        #expect(balances.status == 200, "\(balances.text)")
                        let row = balances.json?["balances"]?.arrayValue?.first { $0["product"] == "tshirt-blue-m" }
                        #expect(row?["quantity"] == "196", "\(balances.text)")
                    }
                }
            }
        }
    }
}
