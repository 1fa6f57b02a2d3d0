import ContractTesting
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import StockCore
import Testing

/// The pure half of record and replay (issue 16): what an exchange becomes as a case, and
/// which recorded exchange answers a request. No socket here; RecordReplayTests runs both
/// on loopback.
@Suite("Recording and replay, without a socket")
struct RecordingTests {
    static let secret = "s3cr3t-Token_value/+="

    static func exchange(
        externalUuid: String = "0d7a4f0e-5f0f-11ec-bf63-0242ac130002", change: Int = 5,
        responseBody: String? = nil
    ) -> Recording.Exchange {
        let request =
            #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "change": \#(change)}], "externalUuid": "\#(externalUuid)", "token": "body-token-1234"}"#
        let answer =
            responseBody
            ?? #"{"id": 58913, "movementId": "m-77", "created": "2026-12-05T03:10:00.123Z", "productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "balance": "196.50", "note": "ok"}"#
        return Recording.Exchange(
            dialect: "zettle", route: "inventory.update", method: "PUT", path: "/organizations/self/inventory",
            query: [("api_key", "query-key-5678"), ("page", "2")],
            requestHeaders: [
                ("Authorization", "Bearer \(secret)"), ("X-Key", "xkey-9999"), ("Content-Type", "application/json"),
                ("User-Agent", "client/1.0"),
            ],
            requestBody: Array(request.utf8), status: 200,
            responseHeaders: [("Content-Type", "application/json;charset=UTF-8"), ("Set-Cookie", "s=1")],
            responseBody: Array(answer.utf8))
    }

    @Test("a case keeps no credential: headers dropped, query and body members scrubbed, secrets redacted")
    func scrubbed() throws {
        let text = try Recording.caseText(
            Self.exchange(responseBody: #"{"message": "bad token \#(Self.secret)"}"#), backend: "zettle-prod",
            at: Date(timeIntervalSince1970: 0), secrets: [Self.secret])
        for leaked in [Self.secret, "xkey-9999", "query-key-5678", "body-token-1234", "Authorization", "Set-Cookie"] {
            #expect(!text.contains(leaked), "\(leaked) in \(text)")
        }
        let root = try JSONParser.parse(Array(text.utf8))
        #expect(root["request"]?["query"]?["api_key"] == "<scrubbed>")
        #expect(root["request"]?["query"]?["page"] == "2")
        #expect(root["request"]?["body"]?["token"] == "<scrubbed>")
        #expect(root["request"]?["headers"]?["Content-Type"] == "application/json")
        #expect(root["request"]?["headers"]?["User-Agent"] == nil)
        #expect(root["response"]?["example"]?["body"]?["message"] == "bad token <scrubbed>")
        // The final check refuses a text that still holds a secret, in any spelling.
        #expect(throws: Recording.SecretFound.self) {
            try Recording.checkAbsent([Self.secret], in: #"{"a": "s3cr3t-Token_value/+="}"#, name: "x")
        }
        #expect(throws: Recording.SecretFound.self) {
            try Recording.checkAbsent([Self.secret], in: "s3cr3t-Token_value%2F%2B%3D", name: "x")
        }
    }

    @Test("the answer's UUIDs, times and identifiers become matchers; quantities stay exact; the example stays")
    func matchers() throws {
        let text = try Recording.caseText(
            Self.exchange(), backend: "b", at: Date(timeIntervalSince1970: 0), secrets: [])
        let root = try JSONParser.parse(Array(text.utf8))
        let body = try #require(root["response"]?["body"])
        #expect(body["id"] == ["$type": "integer"])
        #expect(body["movementId"] == ["$type": "string"])
        #expect(body["created"] == ["$timestamp": "iso8601"])
        #expect(body["productUuid"] == ["$uuid": true])
        #expect(body["balance"] == "196.50")
        #expect(body["note"] == "ok")
        #expect(root["response"]?["headers"]?["Content-Type"] == ["$pattern": "application/json.*"])
        #expect(root["response"]?["example"]?["body"]?["id"] == 58913)
        #expect(root["recorded"]?["backend"] == "b")
        // The written case is a valid case whose example a replay sends.
        let parsed = try ContractCase.parse(Array(text.utf8), name: "zettle/x.json", dialect: "zettle")
        #expect(parsed.expected.example?["body"]?["balance"] == "196.50")
        #expect(parsed.sideEffects == .unknown)
    }

    @Test("the file name ignores per-request values and times, and tells different requests apart")
    func fileNames() {
        let first = Recording.fileName(for: Self.exchange())
        let again = Recording.fileName(for: Self.exchange(externalUuid: "ffffffff-5f0f-11ec-bf63-0242ac130002"))
        let other = Recording.fileName(for: Self.exchange(change: 6))
        #expect(first == again)
        #expect(first != other)
        #expect(first.hasPrefix("recorded-inventory.update-put-") && first.hasSuffix(".json"))
    }

    static func book(_ cases: [String: String]) throws -> (ReplayBook, String) {
        let directory = temporaryDirectory()
        for (path, text) in cases {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return (try ReplayBook(directory: directory), directory)
    }

    static func request(
        _ method: String, _ path: String, query: String = "", body: String = ""
    ) -> DirectRequest {
        DirectRequest(
            dialect: "zettle", route: "r", method: method, path: path, query: query, headers: HTTPFields(),
            body: Array(body.utf8))
    }

    static func answered(_ book: ReplayBook, _ request: DirectRequest) async -> (Int, JSONValue?, String?) {
        switch await book.answer(request) {
        case .answer(let response):
            return (response.status.code, try? JSONParser.parse(response.body), nil)
        case .refuse(let error):
            return (error.code.httpStatus.code, nil, error.message)
        case .pass:
            return (0, nil, "pass")
        }
    }

    @Test(
        "replay: exact beats loose, the caller's UUIDs are echoed, repeats are answered in order, misses name the closest case"
    )
    func replayMatching() async throws {
        let put = #"""
            {"request": {"method": "PUT", "path": "/organizations/self/inventory",
              "body": {"changes": [{"change": 5}], "externalUuid": "0d7a4f0e-5f0f-11ec-bf63-0242ac130002"}},
             "response": {"status": 200, "body": {"$any": true},
              "example": {"body": {"ref": "0d7a4f0e-5f0f-11ec-bf63-0242ac130002", "which": "loose-only"}}}}
            """#
        let exact = #"""
            {"request": {"method": "PUT", "path": "/organizations/self/inventory",
              "body": {"changes": [{"change": 5}], "externalUuid": "11111111-5f0f-11ec-bf63-0242ac130002"}},
             "response": {"status": 200, "body": {"which": "exact"}}}
            """#
        let reads = #"""
            {"steps": [
              {"request": {"method": "GET", "path": "/organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002"},
               "response": {"status": 200, "body": {"balance": 1, "at": {"$timestamp": "iso8601"}, "gone": {"$absent": true}}}},
              {"request": {"method": "GET", "path": "/organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002"},
               "response": {"status": 200, "body": {"balance": 2}}}]}
            """#
        let (book, directory) = try Self.book([
            "zettle/a.json": put, "zettle/b.json": exact, "zettle/c.json": reads,
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(book.dialects == ["zettle"])
        #expect(book.count == 4)

        let mine = "22222222-5f0f-11ec-bf63-0242ac130002"
        let loose = await Self.answered(
            book,
            Self.request(
                "PUT", "/organizations/self/inventory",
                body: #"{"changes": [{"change": 5}], "externalUuid": "\#(mine)"}"#))
        #expect(loose.0 == 200)
        // Both cases match loosely: the first in order answers, the caller's UUID in it.
        #expect(loose.1?["which"] == "loose-only")
        #expect(loose.1?["ref"] == .string(mine))

        let exactAnswer = await Self.answered(
            book,
            Self.request(
                "PUT", "/organizations/self/inventory",
                body: #"{"changes": [{"change": 5}], "externalUuid": "11111111-5f0f-11ec-bf63-0242ac130002"}"#))
        #expect(exactAnswer.1?["which"] == "exact")

        // Two reads recorded for one request: answered in order, then the last again.
        let path = "/organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002"
        let first = await Self.answered(book, Self.request("GET", path))
        #expect(first.1?["balance"] == 1)
        let madeTime = try #require(first.1?["at"]?.stringValue)
        #expect(Timestamp.parseISO8601(madeTime) != nil)
        #expect(first.1?["gone"] == nil)
        #expect(await Self.answered(book, Self.request("GET", path)).1?["balance"] == 2)
        #expect(await Self.answered(book, Self.request("GET", path)).1?["balance"] == 2)

        // A request no case matches: refused, naming the closest case and the difference.
        let miss = await Self.answered(
            book,
            Self.request("PUT", "/organizations/self/inventory", body: #"{"changes": [{"change": 6}]}"#))
        #expect(miss.0 == 404)
        #expect(miss.2?.contains("zettle/") == true && miss.2?.contains("change") == true, "\(miss.2 ?? "")")
        // Another dialect's requests are the ledger's.
        var other = Self.request("GET", "/x")
        other.dialect = "colleqtive"
        #expect(await Self.answered(book, other).2 == "pass")
    }
}

/// Issue 32, point 5: recorded Open2b reads were marked `sideEffects: unknown` (they go by
/// POST), so `contract-test --backend` skipped every one.
@Suite("Recorded reads of an RPC dialect are side-effect free")
struct RecordedReadsTests {
    static func exchange(_ call: String) -> Recording.Exchange {
        Recording.Exchange(
            dialect: "open2b-v6", route: "rpc", method: "POST", path: "/api/v6/commerce.movements.\(call)", query: [],
            requestHeaders: [("Content-Type", "application/json")], requestBody: Array(#"{"id": 1}"#.utf8),
            status: 200, responseHeaders: [("Content-Type", "application/json")],
            responseBody: Array(#"{"status": "ok"}"#.utf8))
    }

    @Test(
        "find, get and count are reads; create, update and delete are not",
        arguments: [
            ("find", "none"), ("get", "none"), ("count", "none"), ("create", "unknown"), ("update", "unknown"),
            ("delete", "unknown"),
        ])
    func sideEffects(call: String, expected: String) throws {
        let text = try Recording.caseText(
            Self.exchange(call), backend: "shop", at: Date(timeIntervalSince1970: 0), secrets: [])
        #expect(try JSONParser.parse(Array(text.utf8))["sideEffects"]?.stringValue == expected)
        // And a hand-written case without the key infers the same.
        var root = try JSONParser.parse(Array(text.utf8)).objectValue ?? JSONObject()
        root["sideEffects"] = nil
        let parsed = try ContractCase.parse(
            JSONWriter.bytes(.object(root)), name: "open2b-v6/x.json", dialect: "open2b-v6")
        #expect(parsed.sideEffects == (expected == "none" ? .none : .unknown))
    }

    @Test(
        "Zettle V3: the product status read by POST is a read; starting or stopping tracking is not",
        arguments: [("/v3/products/status", "none"), ("/v3/products", "unknown")])
    func zettleStatus(path: String, expected: String) throws {
        let exchange = Recording.Exchange(
            dialect: "zettle-v3", route: "products", method: "POST", path: path, query: [],
            requestHeaders: [("Content-Type", "application/json")],
            requestBody: Array(#"["65314d7e-5f0f-11ec-bf63-0242ac130002"]"#.utf8), status: 200,
            responseHeaders: [("Content-Type", "application/json")], responseBody: Array("[]".utf8))
        let text = try Recording.caseText(exchange, backend: "pos", at: Date(timeIntervalSince1970: 0), secrets: [])
        #expect(try JSONParser.parse(Array(text.utf8))["sideEffects"]?.stringValue == expected)
    }
}

/// Issue 32, point 5: recorded data values were exact, so a recording broke as soon as the
/// vendor's stock moved. `--data-as-matchers` records the answer's shape.
@Suite("Recordings by shape")
struct RecordedShapeTests {
    static let answer =
        #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": [{"variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "balance": 7, "text": "7.50", "name": "Mug"}, {"variantUuid": "4066f6cc-623b-11ec-90d6-0242ac120003", "balance": 2, "text": "1", "name": "Cup"}], "more": true}"#

    static func recorded(dataAsMatchers: Bool) throws -> JSONValue {
        let exchange = Recording.Exchange(
            dialect: "zettle", route: "inventory.location", method: "GET",
            path: "/organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002", query: [],
            requestHeaders: [], requestBody: [], status: 200, responseHeaders: [],
            responseBody: Array(Self.answer.utf8))
        let text = try Recording.caseText(
            exchange, backend: "pos", at: Date(timeIntervalSince1970: 0), secrets: [], dataAsMatchers: dataAsMatchers)
        return try JSONParser.parse(Array(text.utf8))
    }

    @Test("the expectation holds once the stock moved; the example keeps the values for replay")
    func shape() throws {
        let root = try Self.recorded(dataAsMatchers: true)
        let expected = try #require(root["response"]?["body"])
        #expect(root["response"]?["example"]?["body"] == (try JSONParser.parse(Array(Self.answer.utf8))))
        let moved = try JSONParser.parse(
            Array(
                #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": [{"variantUuid": "0b7c8a3e-0000-4000-8000-000000000001", "balance": 12.5, "text": "3", "name": "Mug"}], "more": false}"#
                    .utf8))
        #expect(root["response"]?["bodyMatch"] == "subset")
        let original = try JSONParser.parse(Array(Self.answer.utf8))
        #expect(JSONMatcher.mismatches(expected: expected, actual: original, subset: true).isEmpty, "\(expected)")
        #expect(JSONMatcher.mismatches(expected: expected, actual: moved, subset: true).isEmpty, "\(expected)")
        // Without the option, values are exact: the same answer no longer matches.
        let exact = try #require(try Self.recorded(dataAsMatchers: false)["response"]?["body"])
        #expect(!JSONMatcher.mismatches(expected: exact, actual: moved, subset: false).isEmpty)
        // The shape still checks the shape: a balance that is not a number fails.
        let broken = try JSONParser.parse(
            Array(
                #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": [{"variantUuid": "0b7c8a3e-0000-4000-8000-000000000001", "balance": "many", "text": "3", "name": "Mug"}], "more": false}"#
                    .utf8))
        #expect(!JSONMatcher.mismatches(expected: expected, actual: broken, subset: true).isEmpty)
    }
}
