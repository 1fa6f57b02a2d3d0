import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import Simulator
import StockCore
import TestSupport
import Testing

/// StockGate's outbound promises against a backend that fails the way vendors fail (issue 16):
/// gateway A forwards the canonical API to a backend in a vendor's dialect, which is StockGate
/// B standing in for that vendor and playing the faults scheduled on it. Nothing is applied
/// twice, an all-or-nothing batch is undone, and an unknown outcome is reported as one.
@Suite("Faults on demand, met by StockGate's own outbound side")
struct FaultPromiseTests {
    /// B (faults on, embedded ledger), and A forwarding `stockgate` to B in `dialect`.
    static func withPair(
        dialect: String, timeoutMs: Int = 3000,
        _ body: @Sendable (_ gateway: LiveGateway, _ vendor: LiveGateway) async throws -> Void
    ) async throws {
        try await LiveGateway.run(faults: FaultSchedule()) { vendor in
            try await LiveGateway.run(
                config: """
                    backends:
                      - name: vendor
                        dialect: \(dialect)
                        base_url: \(vendor.baseURL)
                        timeout_ms: \(timeoutMs)
                    routes:
                      stockgate: vendor
                    """
            ) { gateway, _ in
                try await body(gateway, vendor)
            }
        }
    }

    static func schedule(_ vendor: LiveGateway, _ fault: String) async throws {
        let answer = try await HTTPClient.shared.send(.POST, vendor.baseURL + "/stockgate/v1/test/faults", body: fault)
        #expect(answer.status == 201, "\(answer.text)")
    }

    static func fired(_ vendor: LiveGateway) async throws -> [Int] {
        let listed = try await HTTPClient.shared.send(.GET, vendor.baseURL + "/stockgate/v1/test/faults")
        return (listed.json?["faults"]?.arrayValue ?? []).compactMap { $0["fired"]?.numberText.flatMap { Int($0) } }
    }

    static func move(
        _ gateway: LiveGateway, _ items: [(product: String, quantity: String)], atomic: Bool = true,
        key: String? = nil
    ) async throws -> HTTPResult {
        let movements = items.map {
            #"{"product": "\#($0.product)", "quantity": \#($0.quantity), "from": "supplier", "to": "shop-floor"}"#
        }
        return try await HTTPClient.shared.send(
            .POST, gateway.baseURL + "/stockgate/v1/movements",
            body: #"{"atomic": \#(atomic), "movements": [\#(movements.joined(separator: ", "))]}"#,
            headers: key.map { [("Idempotency-Key", $0)] } ?? [], timeout: .seconds(20))
    }

    static func unknownOutcomes(_ gateway: LiveGateway) async throws -> Int {
        var query = MovementQuery()
        query.backend = "vendor"
        query.state = .sent
        return try await gateway.ledger.count(query)
    }

    @Test(
        "a reset after the vendor applied the write: unknown outcome, the journal row stays sent, applied once, not resent",
        arguments: ["zettle", "storefeeder", "open2b-v6", "colleqtive"])
    func resetAfterApplying(dialect: String) async throws {
        try await Self.withPair(dialect: dialect) { gateway, vendor in
            try await Self.schedule(vendor, #"{"kind": "reset", "after_apply": true}"#)
            let answer = try await Self.move(gateway, [("tshirt-blue-m", "3")])
            #expect(answer.status == 504, "\(answer.text)")
            #expect(answer.json?["error"]?["code"] == "unknownOutcome", "\(answer.text)")
            #expect(try await vendor.ledger.count(MovementQuery()) == 1)
            #expect(try await balance(vendor, "tshirt-blue-m", "shop-floor") == Quantity(3))
            #expect(try await Self.unknownOutcomes(gateway) == 1)
            #expect(try await Self.fired(vendor) == [1])
        }
    }

    @Test(
        "a hang, a truncated answer: the outcome is unknown, never a failure, and the write is not resent",
        arguments: [
            #"{"kind": "hang", "after_apply": true}"#, #"{"kind": "truncate"}"#,
            #"{"kind": "partial", "applied": 1}"#,
        ])
    func unknownOutcome(fault: String) async throws {
        try await Self.withPair(dialect: "storefeeder", timeoutMs: 1500) { gateway, vendor in
            try await Self.schedule(vendor, fault)
            let answer = try await Self.move(gateway, [("mug-white", "1"), ("mug-white", "2")], atomic: false)
            #expect(answer.status == 504, "\(answer.text)")
            // Applied at the vendor once (a partial fault: its first movement only), never twice.
            let applied = try await vendor.ledger.count(MovementQuery())
            #expect(applied == (fault.contains("partial") ? 1 : 2))
            #expect(try await Self.unknownOutcomes(gateway) == 2)
        }
    }

    @Test("rate-limited, then unavailable: the write waits out Retry-After, is sent again and applied once")
    func retriedAfterRefusals() async throws {
        try await Self.withPair(dialect: "zettle", timeoutMs: 8000) { gateway, vendor in
            try await Self.schedule(
                vendor,
                #"{"faults": [{"kind": "rate-limit", "retry_after": 1}, {"kind": "unavailable", "retry_after": 1}]}"#)
            let started = ContinuousClock.now
            let answer = try await Self.move(gateway, [("tshirt-blue-m", "2")])
            #expect(answer.status == 200, "\(answer.text)")
            #expect(ContinuousClock.now - started >= .seconds(2), "both Retry-After waits honoured")
            #expect(try await vendor.ledger.count(MovementQuery()) == 1)
            #expect(try await Self.fired(vendor) == [1, 1])
            #expect(try await Self.unknownOutcomes(gateway) == 0)
        }
    }

    @Test("the vendor refuses the write in its own envelope: refused to the caller naming the field, nothing applied")
    func vendorRefusal() async throws {
        try await Self.withPair(dialect: "open2b-v6") { gateway, vendor in
            try await Self.schedule(vendor, #"{"kind": "error", "code": "notFound", "field": "product"}"#)
            let answer = try await Self.move(gateway, [("tshirt-blue-m", "2")])
            // The canonical API's answer to a batch whose item failed, the vendor's `sku` said
            // in the caller's words.
            #expect(answer.status == 422, "\(answer.text)")
            let error = answer.json?["results"]?.arrayValue?.first?["error"]
            #expect(error?["code"] == "notFound", "\(answer.text)")
            #expect(error?["field"] == "movements[0].product", "\(answer.text)")
            #expect(try await vendor.ledger.count(MovementQuery()) == 0)
            #expect(try await Self.unknownOutcomes(gateway) == 0)
        }
    }

    @Test(
        "all-or-nothing over a vendor that takes one movement per call: the second is refused, the first is undone there"
    )
    func allOrNothingUndone() async throws {
        try await Self.withPair(dialect: "open2b-v6") { gateway, vendor in
            // The first create passes, the second is refused.
            try await Self.schedule(
                vendor, #"{"kind": "error", "skip": 1, "match": {"path": "/api/v6/commerce.movements.create"}}"#)
            let answer = try await Self.move(gateway, [("tshirt-blue-m", "2"), ("tshirt-blue-m", "5")])
            #expect(answer.status >= 400 && answer.status < 500, "\(answer.text)")
            // Undone at the vendor: the movement and its reversal, nothing left over.
            #expect(try await balance(vendor, "tshirt-blue-m", "shop-floor") == .zero)
            #expect(try await Self.unknownOutcomes(gateway) == 0)
            #expect(try await Self.fired(vendor) == [1])
        }
    }
}
