import HTTPTypes
import NIOCore
import Testing

@testable import HTTPServer

/// Issue 34: the HTTP/1 parser of our own that replaced NIO's decoder, encoder, pipelining
/// handler and HTTPTypes conversion. Pure: bytes in, parts out, no channel. The connection's
/// behaviour over it (pipelining order, `Expect`, early answers, half-close) is checked by
/// `ConnectionLayerTests`, `ProtocolHygieneTests` and the raw-HTTP fuzzer, unchanged.
@Suite("HTTP/1 request parser")
struct HTTP1RequestParserTests {
    /// What a parse produced, comparable: heads as text, bodies joined per request.
    enum Piece: Equatable {
        case head(String)
        case body(String)
        case end
    }

    /// Feeds `chunks` one after another, as reads would deliver them, taking every part.
    static func parse(_ chunks: [String]) throws(HTTP1ParseError) -> [Piece] {
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer()
        var pieces: [Piece] = []
        for chunk in chunks {
            buffer.writeString(chunk)
            while let part = try parser.next(&buffer) {
                switch part {
                case .head(let head):
                    pieces.append(.head(describe(head)))
                case .body(let body):
                    // Body parts are joined: where a read splits a body is not the parser's to keep.
                    if case .body(let before) = pieces.last {
                        pieces[pieces.count - 1] = .body(before + String(buffer: body))
                    } else {
                        pieces.append(.body(String(buffer: body)))
                    }
                case .end:
                    pieces.append(.end)
                    parser.expectRequest()
                }
            }
        }
        return pieces
    }

    static func describe(_ head: HTTP1RequestHead) -> String {
        let request = head.request
        let fields = request.headerFields.map { "\($0.name.rawName)=\($0.value)" }.joined(separator: ";")
        return "\(request.method.rawValue) \(request.path ?? "-") authority=\(request.authority ?? "-") "
            + "http10=\(head.http10) keepAlive=\(head.keepAlive) continue=\(head.expectsContinue) "
            + "length=\(head.body.declaredLength.map(String.init) ?? "-") [\(fields)]"
    }

    static func refusal(_ text: String) -> HTTP1ParseError? {
        do {
            _ = try parse([text])
            return nil
        } catch {
            return error
        }
    }

    static let pipelined =
        "POST /stockgate/v1/movements HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        + "Content-Length: 17\r\n\r\n{\"movements\": []}"
        + "PUT /organizations/self/inventory HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
        + "GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"

    @Test("field names keep the spelling sent, whether a common name in its usual spelling (made once) or not")
    func fieldNamesAsSent() throws {
        let text =
            "POST /x HTTP/1.1\r\nHost: gw\r\nContent-Type: a/b\r\ncontent-type: c/d\r\nX-Request-Id: r1\r\n"
            + "x-request-id: r2\r\nTraceparent: t1\r\nIdempotency-Key: k\r\nX-Other: o\r\nContent-Length: 0\r\n\r\n"
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try parser.next(&buffer) else { Issue.record("no head"); return }
        let fields = head.request.headerFields
        #expect(
            fields.map(\.name.rawName) == [
                "Content-Type", "content-type", "X-Request-Id", "x-request-id", "Traceparent", "Idempotency-Key",
                "X-Other", "Content-Length",
            ])
        // Names still match whatever their spelling.
        #expect(fields[values: .contentType] == ["a/b", "c/d"])
        #expect(fields[values: HTTPField.Name("X-REQUEST-ID")!] == ["r1", "r2"])
        #expect(fields[HTTPField.Name("traceparent")!] == "t1")
        #expect(fields[HTTPField.Name("idempotency-key")!] == "k")
    }

    @Test("a request split at any byte, or sent a byte at a time, parses as it does whole")
    func splitAnywhere() throws {
        let whole = try Self.parse([Self.pipelined])
        #expect(
            whole == [
                .head(
                    "POST /stockgate/v1/movements authority=gw http10=false keepAlive=true continue=false length=17 "
                        + "[Content-Type=application/json;Content-Length=17]"),
                .body(#"{"movements": []}"#), .end,
                .head(
                    "PUT /organizations/self/inventory authority=gw http10=false keepAlive=true continue=false "
                        + "length=- [Transfer-Encoding=chunked]"),
                .body("hello, world"), .end,
                .head(
                    "GET /healthz authority=gw http10=false keepAlive=false continue=false length=- [Connection=close]"),
                .end,
            ])
        let bytes = Array(Self.pipelined.utf8)
        let text = { (part: ArraySlice<UInt8>) in String(decoding: part, as: UTF8.self) }
        for cut in 1..<bytes.count {
            #expect(try Self.parse([text(bytes[..<cut]), text(bytes[cut...])]) == whole, "cut at \(cut)")
        }
        #expect(try Self.parse(bytes.map { text([$0]) }) == whole)
    }

    @Test("what HTTP/1.x says of the connection: HTTP/1.0, Connection, Expect, Host, the target's forms")
    func semantics() throws {
        #expect(
            try Self.parse(["GET /healthz HTTP/1.0\r\n\r\n"]) == [
                .head(
                    "GET /healthz authority=- http10=true keepAlive=false continue=false length=- [Connection=close]"),
                .end,
            ])
        #expect(
            try Self.parse(["GET /healthz HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"]) == [
                .head(
                    "GET /healthz authority=- http10=true keepAlive=true continue=false length=- [connection=Keep-Alive]"
                ),
                .end,
            ])
        // Expect: 100-continue is the connection's to answer: flagged, and not among the fields.
        #expect(
            try Self.parse(["POST /m HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"]) == [
                .head("POST /m authority=a http10=false keepAlive=true continue=true length=2 [Content-Length=2]")
            ])
        // The first Host is the authority; a second stays among the fields (HostCheck refuses it).
        #expect(
            try Self.parse(["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"]) == [
                .head("GET / authority=a http10=false keepAlive=true continue=false length=- [Host=b]"), .end,
            ])
        // Empty lines before a request line are ignored (RFC 9112 §2.2); the absolute form
        // keeps its path and query; repeated equal lengths are one length; OWS is trimmed.
        #expect(
            try Self.parse([
                "\r\n\r\nDELETE http://gw:8080/x?y=1 HTTP/1.1\r\nHost: gw\r\nContent-Length:  0 ,0\t\r\n\r\n"
            ]) == [
                .head(
                    "DELETE /x?y=1 authority=gw http10=false keepAlive=true continue=false length=- [Content-Length=0 ,0]"
                ),
                .end,
            ])
        #expect(
            try Self.parse(["OPTIONS http://gw?q HTTP/1.1\r\nHost: gw\r\n\r\n"]) == [
                .head("OPTIONS /?q authority=gw http10=false keepAlive=true continue=false length=- []"), .end,
            ])
        // HTTP/1.x above 1.1 is served as HTTP/1.1 (RFC 9110 §6.2).
        #expect(try Self.parse(["GET / HTTP/1.7\r\nHost: a\r\n\r\n"]).count == 2)
    }

    @Test(
        "bytes two parsers could read differently are refused, naming why",
        arguments: [
            ("GET / HTTP/1.1\nHost: a\n\n", "LF without CR"),
            ("GET / HTTP/1.1\r\nHost: a\n\r\n", "LF without CR"),
            ("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "CR is not followed by LF"),
            ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "obs-fold"),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "field name"),
            ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", "no colon"),
            ("GET / HTTP/1.1\r\nHost: a\u{01}b\r\n\r\n", "control character"),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "method"),
            ("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", "percent-encoded"),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "request line"),
            ("GET /\r\nHost: a\r\n\r\n", "request line"),
            ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", "version"),
            ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "version"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "both"),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "end in chunked"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "end in chunked"),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
                "end in chunked"
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", "one decimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", "hexadecimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "hexadecimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\n", "hexadecimal"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", "too large"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", "CRLF"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\u{01}\r\n", "control character"),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "no colon"),
        ])
    func refused(request: String, reason: String) {
        let error = Self.refusal(request)
        #expect(error?.status == .badRequest, "\(request.debugDescription)")
        #expect(error?.reason.contains(reason) == true, "\(request.debugDescription): \(String(describing: error))")
    }

    @Test("a version other than HTTP/1.x is 400, naming it; a head over 80 KiB is 431, whether or not it has ended")
    func statuses() {
        // Not 505: a 5xx from StockGate means StockGate (or a backend) failed (RawHTTPFuzzTests).
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/0.1"] {
            let error = Self.refusal("GET / \(version)\r\nHost: a\r\n\r\n")
            #expect(
                error?.status == .badRequest && error?.reason.contains("HTTP/1.0 and HTTP/1.1") == true, "\(version)")
        }
        let long = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "x", count: 81 * 1024)
        #expect(Self.refusal(long)?.status.code == 431)
        #expect(Self.refusal(long + "\r\n\r\n")?.status.code == 431)
        // Under the limit, whole: accepted.
        let fits = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + String(repeating: "x", count: 79 * 1024) + "\r\n\r\n"
        #expect(Self.refusal(fits) == nil)
        // A chunk-size line that never ends is refused once it is longer than any real one.
        let endless =
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1" + String(repeating: ";", count: 9000)
        #expect(Self.refusal(endless)?.reason.contains("longer than") == true)
    }

    /// The connection handler reads whether a body comes, and its declared length, from what the
    /// parser says with the head, not from the fields again.
    @Test(
        "a head says what its framing announced: no body, a length (one number, or a list that agrees), chunked",
        arguments: [
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", RequestBody.none),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", .none),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n", .none),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", .length(5)),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", .length(5)),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", .length(7)),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", .chunked),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", .chunked),
            ("POST / HTTP/1.0\r\n\r\n", .none),
        ])
    func announcedBody(_ text: String, _ expected: RequestBody) throws {
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head) = try parser.next(&buffer) else { Issue.record("no head"); return }
        #expect(head.body == expected)
        #expect(head.body.announced == (expected != .none))
        #expect(head.body.declaredLength == { if case .length(let n) = expected { n } else { nil } }())
    }

    @Test("nothing after a request's end is taken until the next is expected; a part in waiting is not lost")
    func stopsAtEnd() throws {
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        guard case .head(let first) = try parser.next(&buffer) else { Issue.record("no head"); return }
        #expect(first.request.path == "/a")
        guard case .end = try parser.next(&buffer) else { Issue.record("no end"); return }
        let waiting = buffer.readableBytes
        if let part = try parser.next(&buffer) { Issue.record("parsed past the request's end: \(part)") }
        #expect(buffer.readableBytes == waiting)
        parser.expectRequest()
        guard case .head(let second) = try parser.next(&buffer) else { Issue.record("no second head"); return }
        #expect(second.request.path == "/b")
    }

    @Test("an answer's head is written as HTTP/1.1 text, fields in order; a status made from its code gets its phrase")
    func encodesHead() {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields.append(HTTPField(name: HTTPField.Name("X-Many")!, value: "a"))
        fields.append(HTTPField(name: HTTPField.Name("X-Many")!, value: "b, c"))
        fields[.contentLength] = "0"
        var bytes = ByteBuffer(string: "before|")
        HTTP1ServerCodec.encode(HTTPResponse(status: .init(code: 422), headerFields: fields), into: &bytes)
        #expect(
            String(buffer: bytes)
                == "before|HTTP/1.1 422 Unprocessable Content\r\nContent-Type: application/json\r\nX-Many: a\r\n"
                + "X-Many: b, c\r\nContent-Length: 0\r\n\r\n")
        var custom = ByteBuffer()
        HTTP1ServerCodec.encode(HTTPResponse(status: .init(code: 200, reasonPhrase: "Fine")), into: &custom)
        #expect(String(buffer: custom) == "HTTP/1.1 200 Fine\r\n\r\n")
        // Date and Server are stamped by the codec, in place of any the answer carries.
        var replayed = HTTPFields()
        replayed[.date] = "Mon, 01 Jan 2001 00:00:00 GMT"
        replayed[.contentLength] = "0"
        replayed[.server] = "someone else"
        var stamped = ByteBuffer()
        let dates = DateHeader()
        HTTP1ServerCodec.encode(
            HTTPResponse(status: .noContent, headerFields: replayed), into: &stamped,
            stamp: .init(server: "StockGate/test", dates: dates))
        let text = String(buffer: stamped)
        #expect(text.hasPrefix("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nDate: "), "\(text)")
        #expect(text.hasSuffix(" GMT\r\nServer: StockGate/test\r\n\r\n"), "\(text)")
        #expect(!text.contains("2001") && !text.contains("someone"), "\(text)")
        var unnamed = ByteBuffer()
        HTTP1ServerCodec.encode(HTTPResponse(status: .init(code: 299)), into: &unnamed)
        #expect(String(buffer: unnamed) == "HTTP/1.1 299 \r\n\r\n")
    }
}
