import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import NIOHTTP1
import StockCore
import TestSupport
import Testing

@testable import Gateway

@Suite("Limits")
struct LimitsTests {
    @Test("a body that does not arrive in time is answered 408 in the dialect's envelope")
    func slowBody() async throws {
        try await LiveGateway.run(configure: { $0.requestTimeout = .milliseconds(500) }) { live in
            let client = try RawClient(port: live.port)
            client.send(
                "POST /api/v2/public/stores/1001/storeproductlocation/movement HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"product"
            )
            let started = ContinuousClock.now
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains(#""success":false"#))
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    static let canonicalWrite =
        #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
    static let canonicalOK =
        #"{"atomic": false, "applied": 1, "failed": 0, "results": [{"index": 0, "status": "applied", "movement": {"id": 1}}]}"#

    @Test("bodies that trickle in, or never finish, hold no slot: every dialect still answers")
    func slowBodiesHoldNoSlot() async throws {
        try await LiveGateway.run(configure: {
            $0.maxConcurrentRequests = 2
            $0.requestTimeout = .seconds(5)
        }) { live in
            let paths = [
                "/stockgate/v1/movements", "/api/v2/public/stores/1001/storeproductlocation/movement",
                "/stocklocations/create-transfers", "/api/v6/commerce.movements.create",
                "/open2b/api/v3/commerce.movements.create",
                "/organizations/self/v2/inventory/bulk",
            ]
            var holders: [RawClient] = []
            for path in paths {
                let holder = try RawClient(port: live.port)
                holder.send(
                    "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["
                )
                holders.append(holder)
            }
            try await Task.sleep(for: .milliseconds(200))
            let read = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/balances")
            #expect(read.status == 200)
            let write = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.canonicalWrite)
            #expect(write.status == 200)
            let zettle = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/locations")
            #expect(zettle.status == 200)
            #expect(holders.count == paths.count)
        }
    }

    @Test(
        "writes waiting on a slow backend fill at most three quarters of the slots: more writes 429, reads still answered"
    )
    func readsNotStarved() async throws {
        let upstream = FakeUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5),
                configure: { $0.maxConcurrentRequests = 4 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<3 {
                        group.addTask { try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite).status }
                    }
                    try await waitUntil("3 requests held at the upstream") { upstream.requests.count == 3 }
                    let refused = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite)
                    #expect(refused.status == 429)
                    #expect(refused.json?["error"]?["code"] == "tooManyRequests")
                    #expect(refused.headers.first(name: "Retry-After") == "1")
                    let open2bWrite = try await HTTPClient.shared.send(
                        .POST, live.baseURL + "/api/v6/commerce.movements.create",
                        body: #"{"movement": {"sku": "sku5", "adjustment": "1.00"}}"#)
                    #expect(open2bWrite.text == "429 Too Many Requests")
                    // Reads: an Open2b count (a POST, but a read) and a Colleqtive list.
                    let count = try await HTTPClient.shared.send(
                        .POST, live.baseURL + "/api/v6/commerce.movements.count", body: "{}")
                    #expect(count.json?["status"] == "ok", "\(count.text)")
                    let stores = try await HTTPClient.shared.send(.GET, live.baseURL + "/api/v2/public/stores")
                    #expect(stores.status == 200)
                    for try await status in group { #expect(status == 200) }
                }
            }
        }
    }

    @Test("/healthz says busy (503) while every request slot is taken, and ok again after")
    func healthWhenSaturated() async throws {
        let upstream = FakeUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5),
                configure: { $0.maxConcurrentRequests = 1 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                let before = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(before.status == 200)
                let write = Task { try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite).status }
                try await waitUntil("the request held at the upstream") { upstream.requests.count == 1 }
                let during = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(during.status == 503, "\(during.text)")
                #expect(during.json?["reason"]?.stringValue?.contains("every request slot is taken") == true)
                #expect(try await write.value == 200)
                let after = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(after.status == 200)
            }
        }
    }

    @Test("with clients configured, one client cannot take more than half the slots")
    func perClientShare() async throws {
        let upstream = FakeUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        let clients = ClientAuthenticator(clients: [
            .init(name: "greedy", secret: Secret("greedy-secret"), dialects: ["stockgate"]),
            .init(name: "other", secret: Secret("other-secret"), dialects: ["stockgate"]),
        ])
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5), clients: clients,
                configure: { $0.maxConcurrentRequests = 4 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                let greedy = [("Authorization", "Bearer greedy-secret")]
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite, headers: greedy)
                                .status
                        }
                    }
                    try await waitUntil("2 requests held at the upstream") { upstream.requests.count == 2 }
                    let third = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite, headers: greedy)
                    #expect(third.status == 429)
                    let other = try await HTTPClient.shared.send(
                        .POST, url, body: Self.canonicalWrite, headers: [("Authorization", "Bearer other-secret")])
                    #expect(other.status == 200)
                    for try await status in group { #expect(status == 200) }
                }
            }
        }
    }

    @Test("the admission state machine")
    func admissionStateMachine() {
        var admission = Admission(limit: 4, clients: 2)
        func take(_ write: Bool, _ client: String?) -> Bool { admission.admit(write: write, client: client) }
        #expect(take(true, "a"))
        #expect(take(true, "a"))
        #expect(!take(true, "a"))  // half the slots per client
        #expect(take(true, "b"))
        #expect(!take(true, "b"))  // three quarters for writes
        #expect(take(false, "b"))
        #expect(!take(false, nil))  // all taken
        admission.release(write: true, client: "a")
        #expect(take(false, nil))
        #expect(admission.total == 4)
        var single = Admission(limit: 1, clients: 0)
        let first = single.admit(write: true, client: nil)
        let second = single.admit(write: false, client: nil)
        #expect(first && !second)
    }

    @Test(
        "a body of millions of tiny values is refused 413 before it is built: in an array, and in a field Zettle ignores"
    )
    func manyValues() async throws {
        let empties = "[" + Array(repeating: "{}", count: 1_300_000).joined(separator: ",") + "]"  // ~3.9 MiB
        try await LiveGateway.run { live in
            let colleqtive = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v2/public/stores/1001/storeproductlocation/movement", body: empties)
            #expect(colleqtive.status == 413)
            #expect(colleqtive.json?["success"] == false)
            let zettle =
                #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 5}], "padding": \#(empties)}"#
            let ignored = try await HTTPClient.shared.send(
                .PUT, live.baseURL + "/organizations/self/inventory", body: zettle)
            #expect(ignored.status == 413)
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
        // The limit is the parser's: a document within it parses, one past it is refused as too many values.
        let within = Array(("[" + Array(repeating: "{}", count: 9).joined(separator: ",") + "]").utf8)
        #expect(throws: Never.self) { try JSONParser.parse(within, maxValues: 10) }
        let past = Array(("[" + Array(repeating: "{}", count: 10).joined(separator: ",") + "]").utf8)
        #expect { try JSONParser.parse(past, maxValues: 10) } throws: { ($0 as? JSONParseError)?.tooManyValues == true }
    }

    @Test("a batch over max_batch_items is refused, naming the limit")
    func batchLimit() async throws {
        try await LiveGateway.run(configure: { $0.maxBatchItems = 2 }) { live in
            let item = #"{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}"#
            let result = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: #"{"movements": [\#(item), \#(item), \#(item)]}"#
            )
            #expect(result.status == 400)
            #expect(result.json?["error"]?["field"] == "items")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }
}
