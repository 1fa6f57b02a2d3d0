import AsyncHTTPClient
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import StockCore
import Synchronization
import TestSupport
import Testing

/// Issue 29's "done when": no lost or doubled write in a soak over every backend dialect with a
/// hostile backend that drops connections after applying. The backend is a real StockGate
/// (its embedded ledger speaks every dialect) behind `HostileProxy`, which passes each write on
/// and drops every third answer; the gateway under test forwards the canonical API to it in
/// the dialect under test. Clients resend under their key while the answer is 503/504, as the
/// answers advise.
@Suite("A hostile backend that applies and then drops the connection")
struct HostileBackendSoakTests {
    static let backendDialects = DialectRegistry.names.filter { Backends.codec(dialect: DialectID($0)) != nil }
    static let writesPerDialect = 30
    static let base = 31_000

    @Test("every write is applied at most once, and exactly once when acknowledged", arguments: backendDialects)
    func soak(backendDialect: String) async throws {
        try await LiveGateway.run { backend in
            let seeded = try await HTTPClient.shared.send(
                .POST, backend.baseURL + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "tshirt-blue-m", "quantity": 1000000, "from": "supplier", "to": "back-room"}]}"#
            )
            #expect(seeded.status == 200)
            let proxy = try HostileProxy(targetPort: backend.port, dropEvery: 3)
            try await proxy.run { proxyBase in
                try await UntrustedBackendTests.withRoutedGateway(
                    CanonicalCodec.dialect, to: DialectID(backendDialect), base: proxyBase
                ) { live in
                    let from = backendDialect == "storefeeder" ? "back-room" : "supplier"
                    let finals = try await withThrowingTaskGroup(of: [Int: Int].self) { group in
                        for worker in 0..<3 {
                            group.addTask {
                                var statuses: [Int: Int] = [:]
                                for index in stride(from: worker, to: Self.writesPerDialect, by: 3) {
                                    let body =
                                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": \#(Self.base + index), "from": "\#(from)", "to": "shop-floor"}]}"#
                                    var status = 0
                                    for _ in 0..<4 {
                                        let answer = try await HTTPClient.shared.send(
                                            .POST, live.baseURL + "/stockgate/v1/movements", body: body,
                                            headers: [("Idempotency-Key", "soak-\(backendDialect)-\(index)")])
                                        status = answer.status
                                        if status != 503 && status != 504 { break }
                                    }
                                    statuses[index] = status
                                }
                                return statuses
                            }
                        }
                        var all: [Int: Int] = [:]
                        for try await statuses in group { all.merge(statuses) { $1 } }
                        return all
                    }
                    let applied = try await backend.ledger.movements(MovementQuery())
                    var acknowledged = 0
                    for index in 0..<Self.writesPerDialect {
                        let quantity = try Quantity(parsing: String(Self.base + index))
                        let count = applied.filter { $0.quantity == quantity }.count
                        let status = finals[index] ?? 0
                        #expect(count <= 1, "write \(index) applied \(count) times (answered \(status))")
                        if status == 200 {
                            acknowledged += 1
                            #expect(count == 1, "write \(index) was acknowledged but applied \(count) times")
                        } else {
                            #expect(status == 504, "write \(index) answered \(status)")
                        }
                    }
                    #expect(proxy.counts.dropped > 0, "the backend was hostile")
                    #expect(acknowledged > 0, "some writes were acknowledged")
                }
            }
        }
    }
}
