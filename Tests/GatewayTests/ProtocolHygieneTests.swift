import AsyncHTTPClient
import Foundation
import Ledger
import StockCore
import Testing

/// The low-severity findings of the attack run, each over a real socket.
@Suite("Protocol hygiene")
struct ProtocolHygieneTests {
    static let move = #"{"movements": [{"product": "mug-white", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#

    @Test("an Idempotency-Key longer than 255 bytes is refused naming it, and nothing is applied or stored")
    func longIdempotencyKey() async throws {
        try await LiveGateway.run { live in
            let key = String(repeating: "k", count: 60_000)
            let answer = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move, headers: [("Idempotency-Key", key)])
            #expect(answer.status == 400)
            #expect(answer.json?["error"]?["field"] == "Idempotency-Key")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
            let fits = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move,
                headers: [("Idempotency-Key", String(repeating: "k", count: 255))])
            #expect(fits.status == 200)
        }
    }

    @Test("an X-Request-Id that could forge a log field is replaced by a fresh id; a plain one is kept")
    func requestIDInjection() async throws {
        try await LiveGateway.run { live in
            let evil = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz", headers: [("X-Request-Id", #"evil"status=500"#)])
            let returned = evil.headers.first(name: "X-Request-Id") ?? ""
            #expect(returned != #"evil"status=500"#)
            #expect(returned.count == 32 && returned.allSatisfy(\.isHexDigit))
            let plain = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz", headers: [("X-Request-Id", "pos-7:abc/1")])
            #expect(plain.headers.first(name: "X-Request-Id") == "pos-7:abc/1")
        }
    }

    @Test("HEAD /healthz answers like GET, without a body")
    func headHealth() async throws {
        try await LiveGateway.run { live in
            let head = try await HTTPClient.shared.send(.HEAD, live.baseURL + "/healthz")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
        }
    }

    @Test("a body labelled gzip (or another coding) is refused, not read as plain JSON; nothing applied")
    func contentEncoding() async throws {
        try await LiveGateway.run { live in
            let canonical = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move, headers: [("Content-Encoding", "gzip")])
            #expect(canonical.status == 422)
            #expect(canonical.json?["error"]?["field"] == "Content-Encoding")
            let storefeeder = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stocklocations/create-transfers", body: "[]",
                headers: [("Content-Encoding", "br"), ("Content-Type", "application/json")])
            #expect(storefeeder.status == 415)
            let client = try RawClient(port: live.port)
            let body = Self.move
            let chunk = String(body.utf8.count, radix: 16)
            client.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n")
            let answer = await offPool { client.readAll() }
            #expect(!answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("bad chunk framing is not answered as a body too large")
    func badChunkFraming() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port)
            client.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mov\r\nZZ\r\nements\r\n0\r\n\r\n")
            let answer = await offPool { client.readAll() }
            #expect(!answer.contains("413"), "\(answer)")
            #expect(!answer.contains("larger than"))
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("a request without a Host, or with two, is refused 400", arguments: ["", "Host: a\r\nHost: b\r\n"])
    func hostHeader(_ hosts: String) async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port)
            client.send("POST /stockgate/v1/movements HTTP/1.1\r\n\(hosts)Content-Length: 86\r\n\r\n{\"movements\": [{\"product\": \"mug-white\", \"quantity\": 1, \"from\": \"supplier\", \"to\": \"shop-floor\"}]}")
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }
}
