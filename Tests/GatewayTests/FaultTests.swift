import AsyncHTTPClient
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import NIOHTTP1
import Simulator
import StockCore
import TestSupport
import Testing

/// Faults on demand (issue 16), as a client testing against StockGate-as-the-vendor meets
/// them: scheduled through `/stockgate/v1/test/faults` over the socket, observed on the wire
/// (status, the vendor's envelope, `Retry-After`, timing, how the connection ends), and what
/// the ledger holds after each.
@Suite("Faults on demand, seen by a client")
struct FaultTests {
    /// A StockGate on the embedded ledger with faults on demand.
    static func withFaults<T: Sendable>(_ body: @Sendable (LiveGateway) async throws -> T) async throws -> T {
        try await LiveGateway.run(faults: FaultSchedule(), body)
    }

    static func schedule(_ live: LiveGateway, _ fault: String) async throws -> HTTPResult {
        try await HTTPClient.shared.send(.POST, live.baseURL + "/stockgate/v1/test/faults", body: fault)
    }

    // The vendors' own requests, as their clients send them (contract-tests/).
    static let zettleRestock = (
        "PUT", "/organizations/self/inventory",
        #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 25}]}"#
    )
    static let open2bCreate = (
        "POST", "/api/v6/commerce.movements.create", #"{"movement": {"sku": "TS-BLUE-M", "adjustment": "12.50"}}"#
    )
    static let colleqtiveReceive = (
        "POST", "/api/v2/public/stores/1001/storeproductlocation/movement",
        #"[{"product_number": "100200", "quantity": 4, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
    )
    static func storefeederTransfers(_ amounts: [Int]) -> (String, String, String) {
        let items = amounts.map {
            #"{"ProductIDType": {"IDType": "SKU", "Value": "sku5"}, "StockLocationFrom": {"IDType": "StockLocationReference", "Value": "Unspecified"}, "StockLocationTo": {"IDType": "StockLocationReference", "Value": "pb1"}, "TransferAmount": \#($0), "ImmediateTransfer": true}"#
        }
        return ("POST", "/stocklocations/create-transfers", "[" + items.joined(separator: ", ") + "]")
    }

    static func send(_ live: LiveGateway, _ request: (String, String, String)) async throws -> HTTPResult {
        try await HTTPClient.shared.send(
            HTTPMethod(rawValue: request.0), live.baseURL + request.1, body: request.2, timeout: .seconds(20))
    }

    /// The raw bytes of one request on its own connection, and how the connection ended.
    static func sendRaw(
        _ live: LiveGateway, _ request: (String, String, String), timeoutSeconds: Int = 10
    ) async throws -> (text: String, ending: RawClient.Ending, seconds: Double) {
        let port = live.port
        // Off Swift's cooperative pool: blocked in recv on one of its two threads, the test would
        // starve the in-process server it waits for.
        return try await offPool {
            Result {
                let raw = try RawClient(port: port, timeoutSeconds: timeoutSeconds)
                let started = Date()
                raw.send(
                    "\(request.0) \(request.1) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(request.2.utf8.count)\r\n\r\n\(request.2)")
                let (bytes, ending) = raw.readUntilEnd()
                return (String(decoding: bytes, as: UTF8.self), ending, Date().timeIntervalSince(started))
            }
        }.get()
    }

    @Test("the admin API: a fault that does not read is refused naming the member; listed with counts; removed")
    func adminAPI() async throws {
        try await Self.withFaults { live in
            for (body, field) in [
                (#"{"kind": "explode"}"#, "kind"), (#"{"kind": "latency"}"#, "latency_ms"),
                (#"{"kind": "latency", "latency_ms": {"min": 9, "max": 3}}"#, "latency_ms.min"),
                (#"{"kind": "error", "colour": "red"}"#, "colour"),
                (#"{"kind": "error", "match": {"dialect": "sap"}}"#, "match.dialect"),
                (#"{"kind": "reset", "times": 0}"#, "times"),
                (#"{"kind": "rate-limit", "after_apply": true}"#, "after_apply"),
                (#"{"faults": [{"kind": "hang"}, {"kind": "error", "code": "oops"}]}"#, "faults[1].code"),
            ] {
                let refused = try await Self.schedule(live, body)
                #expect(refused.status == 400, "\(body): \(refused.text)")
                #expect(refused.json?["error"]?["field"]?.stringValue == field, "\(body): \(refused.text)")
            }
            // Nothing was scheduled by a refused request, even one whose first fault read.
            let empty = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/test/faults")
            #expect(empty.json?["faults"]?.arrayValue?.count == 0, "\(empty.text)")

            let created = try await Self.schedule(
                live, #"{"kind": "unavailable", "match": {"dialect": "open2b-v6"}, "skip": 1, "times": 1}"#)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json?["faults"]?.arrayValue?.first?["id"]?.numberText)
            // skip 1, times 1: the first matching request passes, the second meets it, the third passes.
            let statuses = try await [1, 2, 3].asyncMap { _ in try await Self.send(live, Self.open2bCreate).status }
            #expect(statuses == [200, 503, 200])
            // A request of another dialect is not matched.
            #expect(try await Self.send(live, Self.zettleRestock).status == 200)
            let listed = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/test/faults")
            let fault = try #require(listed.json?["faults"]?.arrayValue?.first)
            #expect(fault["seen"]?.numberText == "2" && fault["fired"]?.numberText == "1", "\(listed.text)")
            let removed = try await HTTPClient.shared.send(.DELETE, live.baseURL + "/stockgate/v1/test/faults/\(id)")
            #expect(removed.status == 200 && removed.json?["removed"]?.numberText == "1", "\(removed.text)")
            let again = try await HTTPClient.shared.send(.DELETE, live.baseURL + "/stockgate/v1/test/faults/\(id)")
            #expect(again.status == 404, "\(again.text)")
        }
        // Without --enable-faults the API is not there.
        try await LiveGateway.run { live in
            let answer = try await Self.schedule(live, #"{"kind": "reset"}"#)
            #expect(answer.status == 404)
        }
    }

    @Test("with clients configured the fault API needs the credentials of a client with the test role")
    func adminNeedsCredentials() async throws {
        let clients = ClientAuthenticator(clients: [
            .init(name: "tester", secret: Secret("s3cret-for-faults"), dialects: ["zettle"], roles: [.test]),
            .init(name: "till", secret: Secret("till-secret-3"), dialects: ["zettle"]),
        ])
        try await LiveGateway.run(clients: clients, faults: FaultSchedule()) { live in
            let anonymous = try await Self.schedule(live, #"{"kind": "reset"}"#)
            #expect(anonymous.status == 401)
            let signed = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/test/faults", body: #"{"kind": "reset"}"#,
                headers: [("Authorization", "Bearer s3cret-for-faults")])
            #expect(signed.status == 201, "\(signed.text)")
            let stockOnly = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/test/faults", body: #"{"kind": "reset"}"#,
                headers: [("Authorization", "Bearer till-secret-3")])
            #expect(stockOnly.status == 403, "\(stockOnly.text)")
        }
    }

    @Test("latency: fixed and uniform delays are waited, then the request is served")
    func latency() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "latency", "latency_ms": 400}"#)
            var started = ContinuousClock.now
            let slow = try await Self.send(live, Self.zettleRestock)
            #expect(slow.status == 200, "\(slow.text)")
            #expect(ContinuousClock.now - started >= .milliseconds(400))
            _ = try await Self.schedule(live, #"{"kind": "latency", "latency_ms": {"min": 250, "max": 300}}"#)
            started = ContinuousClock.now
            #expect(try await Self.send(live, Self.open2bCreate).status == 200)
            #expect(ContinuousClock.now - started >= .milliseconds(250))
            // Both were applied.
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == Quantity(parsing: "37.5"))
        }
    }

    @Test("hang: no answer; closed after hang_ms, or never; after_apply carries the request out first")
    func hang() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "hang", "hang_ms": 600}"#)
            let closed = try await Self.sendRaw(live, Self.zettleRestock)
            #expect(closed.text.isEmpty && closed.ending == .closed, "\(closed)")
            #expect(closed.seconds >= 0.6)
            _ = try await Self.schedule(live, #"{"kind": "hang"}"#)
            let open = try await Self.sendRaw(live, Self.zettleRestock, timeoutSeconds: 2)
            #expect(open.text.isEmpty && open.ending == .timedOut, "\(open)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == .zero)
            _ = try await Self.schedule(live, #"{"kind": "hang", "hang_ms": 300, "after_apply": true}"#)
            let applied = try await Self.sendRaw(live, Self.zettleRestock)
            #expect(applied.text.isEmpty && applied.ending == .closed, "\(applied)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == Quantity(25))
        }
    }

    @Test("reset: the connection is reset (RST) before, or after, the request is carried out")
    func reset() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "reset"}"#)
            let before = try await Self.sendRaw(live, Self.colleqtiveReceive)
            #expect(before.text.isEmpty && before.ending == .reset, "\(before)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == .zero)
            _ = try await Self.schedule(live, #"{"kind": "reset", "after_apply": true}"#)
            let after = try await Self.sendRaw(live, Self.colleqtiveReceive)
            #expect(after.text.isEmpty && after.ending == .reset, "\(after)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == Quantity(4))
        }
    }

    @Test("truncate: the head promises the whole body, half of it arrives, the connection closes; applied")
    func truncate() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "truncate"}"#)
            let cut = try await Self.sendRaw(live, Self.zettleRestock)
            #expect(cut.ending == .closed)
            let parts = cut.text.components(separatedBy: "\r\n\r\n")
            #expect(parts.count == 2 && parts[0].hasPrefix("HTTP/1.1 200"), "\(cut.text)")
            let declared = parts[0].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
            let length = try #require(declared, "\(cut.text)")
            let received = parts.count == 2 ? parts[1].utf8.count : 0
            #expect(received > 0 && received < length, "\(received) of \(length)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == Quantity(25))
        }
    }

    /// Issue 32, point 5: a slow-body ("dribble") fault.
    @Test("dribble: the whole answer arrives, in pieces, slowly; applied; the connection stays open")
    func dribble() async throws {
        try await Self.withFaults { live in
            let scheduled = try await Self.schedule(live, #"{"kind": "dribble", "chunk_bytes": 8, "dribble_ms": 40}"#)
            #expect(scheduled.json?["faults"]?.arrayValue?.first?["dribble_ms"] == .integer(40), "\(scheduled.text)")
            let started = ContinuousClock.now
            let slow = try await Self.send(live, Self.zettleRestock)
            let took = ContinuousClock.now - started
            #expect(slow.status == 200 && slow.json?["variants"] != nil, "\(slow.text)")
            let pieces = (slow.body.count + 7) / 8
            #expect(took >= .milliseconds(40 * (pieces - 1)), "\(pieces) pieces in \(took)")
            #expect(try await balance(live, "tshirt-blue-m", "shop-floor") == Quantity(25))
            // Spent: the next answer comes at once, on the same kept-alive client.
            #expect(try await Self.send(live, Self.zettleRestock).status == 200)
            let refused = try await Self.schedule(live, #"{"kind": "latency", "latency_ms": 5, "chunk_bytes": 8}"#)
            #expect(refused.status == 400 && refused.text.contains("chunk_bytes"), "\(refused.text)")
        }
    }

    @Test(
        "rate-limit and unavailable: 429 / 503 in each vendor's envelope with Retry-After; nothing applied",
        arguments: ["zettle", "open2b-v6", "colleqtive", "storefeeder"])
    func refusedBeforeApplying(dialect: String) async throws {
        let request =
            switch dialect {
            case "zettle": Self.zettleRestock
            case "open2b-v6": Self.open2bCreate
            case "colleqtive": Self.colleqtiveReceive
            default: Self.storefeederTransfers([6])
            }
        try await Self.withFaults { live in
            _ = try await Self.schedule(
                live,
                #"{"faults": [{"kind": "rate-limit", "retry_after": 7}, {"kind": "unavailable", "retry_after": 30}]}"#)
            let limited = try await Self.send(live, request)
            let unavailable = try await Self.send(live, request)
            #expect(limited.status == 429, "\(limited.text)")
            #expect(unavailable.status == 503, "\(unavailable.text)")
            #expect(limited.headers.first(name: "Retry-After") == "7")
            #expect(unavailable.headers.first(name: "Retry-After") == "30")
            for answer in [limited, unavailable] {
                switch dialect {
                case "open2b-v6" where answer.status == 429:
                    // Open2b's 429 is a transport-level failure, which is not JSON (dialects.md).
                    #expect(answer.json == nil, "\(answer.text)")
                    #expect(answer.text.hasPrefix("429 "), "\(answer.text)")
                case "open2b-v6":
                    #expect(answer.json?["status"] == "error", "\(answer.text)")
                case "colleqtive":
                    #expect(answer.json?["success"] == .bool(false), "\(answer.text)")
                default:
                    #expect(answer.json != nil, "\(answer.text)")
                }
            }
            #expect(try await live.ledger.count(MovementQuery()) == 0)
            // The faults are spent: the next request is served.
            #expect(try await Self.send(live, request).status == 200)
        }
    }

    @Test(
        "error: each vendor's own refusal (Open2b 200 status error, StoreFeeder per-item failures, Zettle violations, Colleqtive success false); nothing applied"
    )
    func vendorRefusals() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "error", "times": 4}"#)
            let open2b = try await Self.send(live, Self.open2bCreate)
            #expect(open2b.status == 200, "\(open2b.text)")
            #expect(open2b.json?["status"] == "error", "\(open2b.text)")
            #expect(open2b.json?["error"]?["field"] == "adjustment", "\(open2b.text)")

            let storefeeder = try await Self.send(live, Self.storefeederTransfers([1, 2]))
            #expect(storefeeder.status == 200, "\(storefeeder.text)")
            #expect(storefeeder.json?["Failed"]?.numberText == "2", "\(storefeeder.text)")
            #expect(storefeeder.json?["Successful"]?.numberText == "0", "\(storefeeder.text)")
            let responses = storefeeder.json?["Responses"]?.arrayValue ?? []
            #expect(
                responses.count == 2 && responses.allSatisfy { $0["Success"] == .bool(false) }, "\(storefeeder.text)")

            let zettle = try await Self.send(live, Self.zettleRestock)
            #expect(zettle.status == 400, "\(zettle.text)")
            #expect(zettle.json?["violations"]?.arrayValue?.isEmpty == false, "\(zettle.text)")

            let colleqtive = try await Self.send(live, Self.colleqtiveReceive)
            #expect(colleqtive.json?["success"] == .bool(false), "\(colleqtive.text)")
            #expect(colleqtive.status >= 400, "\(colleqtive.text)")

            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("partial: the first movements are applied, then the request fails as the vendor fails midway")
    func partial() async throws {
        try await Self.withFaults { live in
            _ = try await Self.schedule(live, #"{"kind": "partial", "applied": 1}"#)
            let answer = try await Self.send(live, Self.storefeederTransfers([1, 2, 3]))
            #expect(answer.status == 500, "\(answer.text)")
            // Only the first transfer (1 of sku5) reached the ledger.
            #expect(try await balance(live, "mug-white", "shop-floor") == Quantity(1))
            #expect(try await live.ledger.count(MovementQuery()) == 1)
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
