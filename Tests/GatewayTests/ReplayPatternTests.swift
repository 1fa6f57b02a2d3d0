import AsyncHTTPClient
import ContractTesting
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import StockCore
import Synchronization
import TestSupport
import Testing

/// Attack run finding 7 (issue 29): a replay case's `$pattern` was matched on the event loop
/// (a slow one stalled other connections 15-18 s), and `stockgate record` stored a caller's
/// `{"$pattern": …}` as a live matcher, so any client of the recorder could plant one.
@Suite("Replay patterns")
struct ReplayPatternTests {
    /// `(a+)+` against 17 a's and a '!' backtracks for about two seconds.
    static let slowCase = #"""
        {"request": {"method": "PUT", "path": "/organizations/self/inventory", "body": {"note": {"$pattern": "(a+)+"}}},
         "response": {"status": 200, "body": {"ok": true}}}
        """#

    @Test("a slow pattern holds its own request only: /healthz on other connections is answered meanwhile")
    func slowPatternOffTheLoop() async throws {
        let (book, directory) = try RecordingTests.book(["zettle/slow.json": Self.slowCase])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await LiveGateway.run(direct: book) { live in
            let started = ContinuousClock.now
            let slow = Task {
                try await HTTPClient.shared.send(
                    .PUT, live.baseURL + "/organizations/self/inventory",
                    body: #"{"note": "\#(String(repeating: "a", count: 17))!"}"#)
            }
            try await Task.sleep(for: .milliseconds(200))
            var slowest = Duration.zero
            for _ in 0..<6 {
                let asked = ContinuousClock.now
                let health = try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/healthz", headers: [("Connection", "close")])
                #expect(health.status == 200)
                slowest = max(slowest, ContinuousClock.now - asked)
            }
            let answer = try await slow.value
            let took = ContinuousClock.now - started
            #expect(answer.status == 404, "the pattern does not match: \(answer.text)")
            // Not vacuous: the match really was slow, and nobody else waited for it.
            #expect(took > .milliseconds(700), "the slow match took \(took)")
            #expect(slowest < .milliseconds(500), "a /healthz waited \(slowest) while the pattern ran")
        }
    }

    @Test("a caller's own {\"$pattern\": …} is recorded as a literal: a replay matches exactly that, never runs it")
    func recordedLiteral() async throws {
        let planted =
            #"{"changes": [{"change": 1}], "note": {"$pattern": "(a+)+"}, "deep": [{"$type": "string"}]}"#
        let exchange = Recording.Exchange(
            dialect: "zettle", route: "inventory.update", method: "PUT", path: "/organizations/self/inventory",
            query: [], requestHeaders: [("Content-Type", "application/json")], requestBody: Array(planted.utf8),
            status: 200, responseHeaders: [("Content-Type", "application/json")],
            responseBody: Array(#"{"echo": {"$any": true}}"#.utf8))
        let text = try Recording.caseText(exchange, backend: "zettle", at: Date(), secrets: [])
        #expect(text.contains("$literal"), "\(text)")
        let (book, directory) = try RecordingTests.book(["zettle/recorded.json": text])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The pattern would match this; as a literal it does not.
        let other = await RecordingTests.answered(
            book,
            RecordingTests.request(
                "PUT", "/organizations/self/inventory",
                body: #"{"changes": [{"change": 1}], "note": "aaaa", "deep": ["x"]}"#))
        #expect(other.0 == 404, "\(other)")
        // The very request recorded is answered, with the vendor's own object as it was.
        let same = await RecordingTests.answered(
            book, RecordingTests.request("PUT", "/organizations/self/inventory", body: planted))
        #expect(same.0 == 200, "\(same)")
        #expect(same.1?["echo"] == ["$any": true], "\(String(describing: same.1))")
    }

    @Test("$literal matches exactly its value, matchers inside it included")
    func literalMatcher() {
        let expected: JSONValue = ["$literal": ["$pattern": "x+"]]
        #expect(JSONMatcher.mismatch(expected: expected, actual: ["$pattern": "x+"], subset: false) == nil)
        #expect(JSONMatcher.mismatch(expected: expected, actual: "xxx", subset: false) != nil)
        #expect(JSONMatcher.mismatch(expected: ["$literal": 2], actual: .number("2.0"), subset: false) == nil)
    }
}
