import AsyncHTTPClient
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import Synchronization
import TestSupport
import Testing

/// Zettle's inventory tracking, stored durably: stopping it leaves a product out of every
/// Zettle read (its stock kept), starting it brings it back, across restarts and across the
/// earlier API and V3; a Zettle backend is told, other backends are not (StockGate keeps it).
@Suite("Tracking")
struct TrackingTests {
    static let store = "89ac1e4a-5f0f-11ec-bf63-0242ac130002"
    static let tshirt = "65314d7e-5f0f-11ec-bf63-0242ac130002"
    static let mug = "3cc3b9f6-623b-11ec-90d6-0242ac120003"

    static func restock(_ base: String) async throws {
        for product in ["tshirt-blue-m", "mug-white"] {
            let body =
                #"{"movements": [{"product": "\#(product)", "quantity": 3, "from": "supplier", "to": "shop-floor"}]}"#
            _ = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/movements", body: body)
        }
    }

    /// What the earlier API's location read and V3's stock read show.
    static func shown(_ base: String) async throws -> (tracked: Set<String>, v1: Set<String>, v3: Set<String>) {
        let v1 = try await HTTPClient.shared.send(.GET, base + "/organizations/self/inventory/locations/\(store)")
        let v3 = try await HTTPClient.shared.send(.GET, base + "/v3/stock/\(store)")
        let tracked = Set((v1.json?["trackedProducts"]?.arrayValue ?? []).compactMap(\.stringValue))
        let v1Products = Set((v1.json?["variants"]?.arrayValue ?? []).compactMap { $0["productUuid"]?.stringValue })
        let v3Products = Set((v3.json?.arrayValue ?? []).compactMap { $0["productUuid"]?.stringValue })
        return (tracked, v1Products, v3Products)
    }

    @Test(
        "stopped by DELETE (earlier API), by bulk STOP_TRACKING, by V3 disable: left out of every read, stock kept, durable across a restart"
    )
    func durable() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await LiveGateway.run(dataDirectory: directory) { live in
            try await Self.restock(live.baseURL)
            var seen = try await Self.shown(live.baseURL)
            #expect(
                seen.tracked == [Self.tshirt, Self.mug] && seen.v1 == [Self.tshirt, Self.mug]
                    && seen.v3 == [Self.tshirt, Self.mug])

            let stop = try await HTTPClient.shared.send(
                .DELETE, live.baseURL + "/organizations/self/inventory/products/\(Self.tshirt)")
            #expect(stop.status == 204 && stop.body.isEmpty)
            seen = try await Self.shown(live.baseURL)
            #expect(seen.tracked == [Self.mug] && seen.v1 == [Self.mug] && seen.v3 == [Self.mug])
            // The stock is kept (Zettle: "saved stock levels will not be deleted").
            #expect(try await live.ledger.totalStock(product: "tshirt-blue-m") == Quantity(3))

            let bulk =
                #"{"productChanges": [{"productUuid": "\#(Self.mug)", "trackingStatusChange": "STOP_TRACKING"}]}"#
            let stopped = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/organizations/self/v2/inventory/bulk", body: bulk)
            #expect(stopped.status == 200, "\(stopped.text)")
            seen = try await Self.shown(live.baseURL)
            #expect(seen.tracked.isEmpty && seen.v1.isEmpty && seen.v3.isEmpty)

            // V3 enables the mug again: both APIs show it.
            let enable = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/v3/products", body: #"[{"productUuid": "\#(Self.mug)", "tracking": "enable"}]"#)
            #expect(enable.status == 204)
            seen = try await Self.shown(live.baseURL)
            #expect(seen.tracked == [Self.mug] && seen.v1 == [Self.mug] && seen.v3 == [Self.mug])
        }
        // A restart on the same data directory: the tracking state is where it was.
        try await LiveGateway.run(dataDirectory: directory) { live in
            var seen = try await Self.shown(live.baseURL)
            #expect(seen.tracked == [Self.mug] && seen.v1 == [Self.mug] && seen.v3 == [Self.mug])
            let start = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/organizations/self/inventory", body: #"{"productUuid": "\#(Self.tshirt)"}"#)
            #expect(start.status == 200)
            #expect(start.json?["variants"]?.arrayValue?.count == 1, "\(start.text)")
            seen = try await Self.shown(live.baseURL)
            #expect(seen.tracked == [Self.tshirt, Self.mug] && seen.v1 == [Self.tshirt, Self.mug])
        }
    }

    @Test("a backend without tracking (StockGate's own API) is not told; the state is kept in the gateway's ledger")
    func backendWithoutTracking() async throws {
        let upstream = FakeUpstream { _ in (200, #"{"balances": []}"#) }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("zettle", to: "stockgate", base: base) { live in
                let stop = try await HTTPClient.shared.send(
                    .DELETE, live.baseURL + "/organizations/self/inventory/products/\(Self.tshirt)")
                #expect(stop.status == 204, "\(stop.text)")
                #expect(upstream.requests.isEmpty)
                #expect(try await live.ledger.untrackedProducts() == ["tshirt-blue-m", "tshirt-blue-l"])
                let read = try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/organizations/self/inventory/locations/\(Self.store)")
                #expect(
                    read.json?["trackedProducts"]?.arrayValue?.compactMap(\.stringValue) == [Self.mug], "\(read.text)")
            }
        }
    }

    @Test(
        "a Zettle backend is told: the earlier API by the bulk call, V3 by POST /v3/products; a refusal there changes nothing here",
        arguments: ["zettle", "zettle-v3"])
    func zettleBackendTold(_ backendDialect: String) async throws {
        let refuse = Atomic<Bool>(false)
        let upstream = FakeUpstream { _ in
            refuse.load(ordering: .relaxed)
                ? (
                    404,
                    #"{"developerMessage": "Product not found", "errorType": "ENTITY_NOT_FOUND", "violations": []}"#
                )
                : (
                    backendDialect == "zettle" ? 200 : 204,
                    backendDialect == "zettle" ? #"{"locationUuid": "\#(Self.store)", "variants": []}"# : ""
                )
        }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway("zettle-v3", to: DialectID(backendDialect), base: base) {
                live in
                let disable = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/v3/products",
                    body: #"[{"productUuid": "\#(Self.mug)", "tracking": "disable"}]"#)
                #expect(disable.status == 204, "\(disable.text)")
                let sent = try #require(upstream.requests.first)
                let body = try JSONParser.parse(Array(sent.body.utf8))
                if backendDialect == "zettle" {
                    #expect(sent.path == "/organizations/self/v2/inventory/bulk")
                    #expect(body["productChanges"]?.arrayValue?.first?["trackingStatusChange"] == "STOP_TRACKING")
                    #expect(body["productChanges"]?.arrayValue?.first?["productUuid"]?.stringValue == Self.mug)
                } else {
                    #expect(sent.path == "/v3/products")
                    #expect(body.arrayValue?.first?["tracking"] == "disable")
                }
                #expect(try await live.ledger.untrackedProducts() == ["mug-white", "mug-black"])

                refuse.store(true, ordering: .relaxed)
                let enable = try await HTTPClient.shared.send(
                    .POST, live.baseURL + "/v3/products",
                    body: #"[{"productUuid": "\#(Self.mug)", "tracking": "enable"}]"#)
                #expect(enable.status == 404, "\(enable.text)")
                #expect(enable.text.contains("Product not found"))
                #expect(try await live.ledger.untrackedProducts() == ["mug-white", "mug-black"])
            }
        }
    }

    @Test("the ledger refuses an unknown product and keeps the state in its file")
    func ledger() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
            await #expect(throws: GatewayError.self) {
                try await ledger.setTracking(products: ["no-such"], tracked: false)
            }
            try await ledger.setTracking(products: ["socks"], tracked: false)
            try await ledger.setTracking(products: ["mug-white"], tracked: false)
            try await ledger.setTracking(products: ["mug-white"], tracked: true)
            try ledger.close()
        }
        let reopened = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        #expect(try await reopened.untrackedProducts() == ["socks"])
        try reopened.close()
    }
}
