import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

/// The low-severity findings of the attack run, each over a real socket.
@Suite("Protocol hygiene")
struct ProtocolHygieneTests {
    static let move =
        #"{"movements": [{"product": "mug-white", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#

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
            let evil = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/healthz", headers: [("X-Request-Id", #"evil"status=500"#)])
            let returned = evil.headers.first(name: "X-Request-Id") ?? ""
            #expect(returned != #"evil"status=500"#)
            #expect(returned.count == 32 && returned.allSatisfy(\.isHexDigit))
            let plain = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/healthz", headers: [("X-Request-Id", "pos-7:abc/1")])
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
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.move,
                headers: [("Content-Encoding", "gzip")])
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
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n"
            )
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
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mov\r\nZZ\r\nements\r\n0\r\n\r\n"
            )
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
            client.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\n\(hosts)Content-Length: 86\r\n\r\n{\"movements\": [{\"product\": \"mug-white\", \"quantity\": 1, \"from\": \"supplier\", \"to\": \"shop-floor\"}]}"
            )
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    static let movement =
        #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#

    @Test(
        "60 pipelined requests in one write, reads and writes mixed: every one answered, in order, each write applied once"
    )
    func pipelined() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 10)
            var text = ""
            for index in 0..<60 {
                if index % 3 == 0 {
                    text +=
                        "POST /stockgate/v1/movements HTTP/1.1\r\nHost: a\r\nX-Request-Id: r\(index)\r\n"
                        + "Content-Length: \(Self.movement.utf8.count)\r\n\r\n\(Self.movement)"
                } else {
                    text +=
                        "GET /stockgate/v1/balances?location=shop-floor HTTP/1.1\r\nHost: a\r\nX-Request-Id: r\(index)\r\n\r\n"
                }
            }
            text += "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
            client.send(text)
            let (answers, closed) = await offPool { client.readUntilClosed() }
            #expect(closed)
            let ids = answers.components(separatedBy: "\r\n").compactMap { line -> String? in
                line.lowercased().hasPrefix("x-request-id: r") ? String(line.dropFirst("x-request-id: ".count)) : nil
            }
            #expect(ids == (0..<60).map { "r\($0)" })
            #expect(answers.components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 61)
            #expect(try await live.ledger.count(MovementQuery()) == 20)
        }
    }

    @Test(
        "a connection that sends nothing, or nothing after an answer, is closed after the idle timeout; one mid-request is answered 408"
    )
    func idleAndSlow() async throws {
        try await LiveGateway.run(configure: {
            $0.idleTimeout = .milliseconds(300)
            $0.requestTimeout = .milliseconds(500)
        }) { live in
            let silent = try RawClient(port: live.port, timeoutSeconds: 10)
            let (nothing, closed) = await offPool { silent.readUntilClosed() }
            #expect(closed && nothing.isEmpty, "\(nothing)")
            // Also after an answer given at once (no task): a 404, then silence.
            let after = try RawClient(port: live.port, timeoutSeconds: 10)
            after.send("GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
            let (notFound, closedAfterAnswer) = await offPool { after.readUntilClosed() }
            #expect(notFound.hasPrefix("HTTP/1.1 404"), "\(notFound)")
            #expect(closedAfterAnswer, "a kept-alive connection idle after a 404 must be closed too")
            let slow = try RawClient(port: live.port, timeoutSeconds: 10)
            slow.send("POST /stockgate/v1/movements HTTP/1.1\r\nHost: a\r\nContent-Length: 500\r\n\r\n{\"movements\"")
            let (answer, closedAfter) = await offPool { slow.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains("did not arrive within"), "\(answer)")
            #expect(closedAfter)
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test(
        "the idle timeout counts from a connection's last answer: requests spaced under it keep it open, silence after them closes it"
    )
    func idleCountsFromLastAnswer() async throws {
        try await LiveGateway.run(configure: { $0.idleTimeout = .milliseconds(600) }) { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 10)
            // Four requests 0.35 s apart: 1.05 s in all, past the timeout counted from the first.
            for round in 0..<4 {
                if round > 0 { try await Task.sleep(for: .milliseconds(350)) }
                client.send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                let answer = await offPool { client.readAll() }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "request \(round + 1): \(answer)")
            }
            let silent = ContinuousClock.now
            let (rest, closed) = await offPool { client.readUntilClosed() }
            let waited = ContinuousClock.now - silent
            #expect(closed && rest.isEmpty, "\(rest)")
            #expect(waited >= .milliseconds(500) && waited < .seconds(5), "closed after \(waited) of silence")
        }
    }

    @Test("HTTP/1.0: closed after the answer unless keep-alive was asked for (then said so); Host may be absent")
    func http10() async throws {
        try await LiveGateway.run { live in
            let plain = try RawClient(port: live.port, timeoutSeconds: 5)
            plain.send("GET /healthz HTTP/1.0\r\n\r\n")
            let (answer, closed) = await offPool { plain.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(answer.lowercased().contains("connection: close"))
            #expect(closed, "an HTTP/1.0 connection without keep-alive must be closed after the answer")

            let kept = try RawClient(port: live.port, timeoutSeconds: 5)
            kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let first = await offPool { kept.readAll() }
            #expect(first.lowercased().contains("connection: keep-alive"), "\(first)")
            kept.send(
                "POST /stockgate/v1/movements HTTP/1.0\r\nContent-Length: \(Self.movement.utf8.count)\r\n\r\n\(Self.movement)"
            )
            let (second, closedAfter) = await offPool { kept.readUntilClosed() }
            #expect(second.hasPrefix("HTTP/1.1 200"), "\(second)")
            #expect(closedAfter)
            #expect(try await live.ledger.count(MovementQuery()) == 1)
        }
    }

    @Test(
        "Expect: 100-continue is answered before the body is sent; a declared body over the limit is refused 413 without it"
    )
    func expectContinue() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 5)
            client.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(Self.movement.utf8.count)\r\n\r\n"
            )
            let interim = await offPool { client.readHead() }
            #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim)")
            client.send(Self.movement)
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            #expect(try await live.ledger.count(MovementQuery()) == 1)

            let large = try RawClient(port: live.port, timeoutSeconds: 5)
            large.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100000000\r\n\r\n"
            )
            let (refusal, closed) = await offPool { large.readUntilClosed() }
            #expect(refusal.hasPrefix("HTTP/1.1 413"), "\(refusal)")
            #expect(!refusal.contains("100 Continue"))
            #expect(refusal.contains(#""code":"too_large""#) || refusal.contains("larger than"))
            #expect(closed)
            #expect(try await live.ledger.count(MovementQuery()) == 1)
        }
    }

    @Test(
        "after an early answer (body too large, Connection: close) the socket is closed, not left half-open and unread")
    func earlyAnswerCloses() async throws {
        try await LiveGateway.run { live in
            let client = try RawClient(port: live.port, timeoutSeconds: 5)
            client.send(
                "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 100000000\r\n\r\n"
            )
            client.send(bytes: [UInt8](repeating: UInt8(ascii: "x"), count: 65_536))
            let (answer, closed) = await offPool { client.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
            #expect(closed)
            // The gateway reads and drops what still comes for a short while, then closes the
            // socket: the client's sends start failing (they would block for the 60 s idle
            // timeout if the socket were left half-open and unread).
            let failed = await offPool { client.sendsFailWithin(seconds: 15) }
            #expect(failed)
        }
    }
}
