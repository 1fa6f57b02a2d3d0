import AsyncHTTPClient
import ContractTesting
import CurlHTTP
import Foundation
import Gateway
import GatewayTestSupport
import NIOHTTP1
import StockCore
import Synchronization
import TestSupport
import Testing

/// Record against a fake vendor on loopback, then replay what was recorded (issue 16): the
/// recorder relays with the backend's credentials and writes cases holding no secret; the
/// cases pass against a replaying StockGate; recording again rewrites only the cases touched.
@Suite("Record a vendor, replay it")
struct RecordReplayTests {
    /// The fake vendor's balance, changed between recordings.
    final class Balance: Sendable {
        let value = Mutex(7)
    }

    static let backendToken = "zettle-backend-token-4f1e9a"
    static let callerToken = "caller-own-token-77c3d2"
    static let location = "89ac1e4a-5f0f-11ec-bf63-0242ac130002"

    /// A Zettle stand-in answering as the vendor's documentation shows, only to the backend's
    /// token; its balance answer is `balance` (changed between recordings).
    static func vendor(balance: Balance) -> FakeUpstream {
        FakeUpstream { request in
            guard request.headers["authorization"] == "Bearer \(backendToken)" else {
                return .init(401, #"{"error": "invalid_token", "error_description": "unknown token"}"#)
            }
            switch (request.method, request.path.prefix { $0 != "?" }) {
            case ("PUT", "/organizations/self/inventory"):
                return .init(
                    200,
                    #"{"locationUuid": "\#(location)", "variants": [{"locationUuid": "\#(location)", "locationType": "STORE", "productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "balance": 196}]}"#,
                    headers: ["Content-Type": "application/json;charset=UTF-8"])
            case ("GET", "/organizations/self/inventory/locations/\(location)"):
                let value = balance.value.withLock { $0 }
                // A vendor quoting the credential back: it must not reach the case or the caller.
                return .init(
                    200,
                    #"{"locationUuid": "\#(location)", "variants": [{"variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "balance": \#(value)}], "debug": "auth=Bearer \#(backendToken)", "updated": "2026-12-05T03:00:00.000Z"}"#
                )
            default:
                return .init(404, #"{"developerMessage": "no such path", "errorType": "NOT_FOUND"}"#)
            }
        }
    }

    static let put =
        #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 42}], "externalUuid": "EXTERNAL"}"#

    /// Runs `body` with a recorder relaying to `vendorBase`, writing into `out`.
    static func recording(
        to vendorBase: String, out: String, routes: Set<String>? = nil, _ body: @Sendable (String) async throws -> Void
    ) async throws {
        try await withCurlClient(.init(timeout: .seconds(10))) { client in
            let recorder = Recorder(
                backend: "zettle-prod", baseURL: vendorBase, client: client,
                credentials: [("Authorization", "Bearer \(backendToken)")], secrets: [backendToken], directory: out,
                routes: routes, logger: quietLogger)
            try await LiveGateway.run(direct: recorder) { live in try await body(live.baseURL) }
        }
    }

    static func files(_ out: String) throws -> [String: String] {
        let folder = out + "/zettle"
        var texts: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            texts[name] = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
        }
        return texts
    }

    @Test("recorded cases hold no secret, pass when replayed, and a re-record rewrites only what it touched")
    func recordThenReplay() async throws {
        let out = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let balance = Balance()
        let vendor = Self.vendor(balance: balance)
        try await vendor.run { vendorBase in
            try await Self.recording(to: vendorBase, out: out) { recorder in
                let caller = [("Authorization", "Bearer \(Self.callerToken)")]
                let written = try await HTTPClient.shared.send(
                    .PUT, recorder + "/organizations/self/inventory",
                    body: Self.put.replacingOccurrences(of: "EXTERNAL", with: UUID().uuidString), headers: caller)
                #expect(written.status == 200, "\(written.text)")
                #expect(written.json?["variants"]?.arrayValue?.first?["balance"] == 196)
                let read = try await HTTPClient.shared.send(
                    .GET, recorder + "/organizations/self/inventory/locations/\(Self.location)", headers: caller)
                #expect(read.status == 200)
                #expect(read.json?["variants"]?.arrayValue?.first?["balance"] == 7)
                // The caller never sees the backend's credential either.
                #expect(!read.text.contains(Self.backendToken), "\(read.text)")
            }
            // The vendor got the backend's credentials, never the caller's.
            #expect(vendor.requests.count == 2)
            for request in vendor.requests {
                #expect(request.headers["authorization"] == "Bearer \(Self.backendToken)")
            }
            let first = try Self.files(out)
            #expect(first.count == 2, "\(first.keys.sorted())")
            for (name, text) in first {
                #expect(!text.contains(Self.backendToken), "\(name) holds the backend's token")
                #expect(!text.contains(Self.callerToken), "\(name) holds the caller's token")
            }

            // Replayed: every recorded case passes against a StockGate answering from them.
            let cases = try ContractCase.load(directory: out)
            #expect(cases.count == 2)
            let book = try ReplayBook(directory: out, logger: quietLogger)
            try await LiveGateway.run(direct: book) { replay in
                let client = CurlHTTPClient(configuration: .init(timeout: .seconds(10)))
                let runner = ContractRunner(client: client)
                for contract in cases {
                    let result = await runner.run(contract, baseURL: replay.baseURL)
                    #expect(result.failures.isEmpty, "\(contract.name): \(result.failures)")
                }
                // A client's own externalUuid and a new balance request are answered as recorded.
                let again = try await HTTPClient.shared.send(
                    .PUT, replay.baseURL + "/organizations/self/inventory",
                    body: Self.put.replacingOccurrences(of: "EXTERNAL", with: UUID().uuidString))
                #expect(again.status == 200)
                #expect(again.json?["variants"]?.arrayValue?.first?["balance"] == 196)
                // A request nobody recorded is refused in Zettle's envelope, naming the closest case.
                let unrecorded = try await HTTPClient.shared.send(
                    .PUT, replay.baseURL + "/organizations/self/inventory",
                    body: Self.put.replacingOccurrences(of: "42", with: "43"))
                #expect(unrecorded.status == 404)
                #expect(unrecorded.json?["developerMessage"]?.stringValue?.contains("recorded-") == true)
                await client.shutdown()
            }

            // Recorded again: the vendor's balance changed; only the read's case is rewritten.
            balance.value.withLock { $0 = 8 }
            try await Self.recording(to: vendorBase, out: out) { recorder in
                let read = try await HTTPClient.shared.send(
                    .GET, recorder + "/organizations/self/inventory/locations/\(Self.location)")
                #expect(read.json?["variants"]?.arrayValue?.first?["balance"] == 8)
            }
            let second = try Self.files(out)
            #expect(Set(second.keys) == Set(first.keys))
            let changed = second.keys.filter { second[$0] != first[$0] }
            #expect(changed.count == 1 && changed.first?.contains("-get-") == true, "\(changed)")
            let reread = try JSONParser.parse(Array(second[changed[0]]!.utf8))
            #expect(reread["response"]?["example"]?["body"]?["variants"]?.arrayValue?.first?["balance"] == 8)

            // Only the routes asked for are written; every request is still relayed.
            let only = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: only) }
            try await Self.recording(to: vendorBase, out: only, routes: ["inventory.update"]) { recorder in
                let read = try await HTTPClient.shared.send(
                    .GET, recorder + "/organizations/self/inventory/locations/\(Self.location)")
                #expect(read.status == 200)
                let write = try await HTTPClient.shared.send(
                    .PUT, recorder + "/organizations/self/inventory",
                    body: Self.put.replacingOccurrences(of: "EXTERNAL", with: UUID().uuidString))
                #expect(write.status == 200)
            }
            let kept = try Self.files(only)
            #expect(kept.count == 1 && kept.keys.first?.contains("-put-") == true, "\(kept.keys.sorted())")
        }
    }
}

/// Issue 32, point 5: a replay miss could not fall through to the vendor and be recorded.
@Suite("serve --replay DIR --record-missing")
struct RecordMissingTests {
    @Test("a miss is relayed to the vendor and recorded; the same request then replays without the vendor")
    func missIsRecorded() async throws {
        let vendor = RecordReplayTests.vendor(balance: RecordReplayTests.Balance())
        let out = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try await withCurlClient(.init(timeout: .seconds(10))) { client in
            try await vendor.run { vendorBase in
                let answerer = MissRecorder(
                    book: try ReplayBook(directory: out, logger: quietLogger),
                    makers: [
                        "zettle": {
                            Recorder(
                                backend: "zettle-prod", baseURL: vendorBase, client: client,
                                credentials: [("Authorization", "Bearer \(RecordReplayTests.backendToken)")],
                                secrets: [RecordReplayTests.backendToken], directory: out, logger: quietLogger)
                        }
                    ], logger: quietLogger)
                try await LiveGateway.run(direct: answerer) { live in
                    let path = "/organizations/self/inventory/locations/\(RecordReplayTests.location)"
                    let first = try await HTTPClient.shared.send(.GET, live.baseURL + path)
                    #expect(
                        first.status == 200
                            && first.text.replacingOccurrences(of: " ", with: "").contains(#""balance":7"#),
                        "\(first.text)")
                    #expect(!first.text.contains(RecordReplayTests.backendToken), "the vendor's echo is scrubbed")
                    #expect(try RecordReplayTests.files(out).count == 1)
                    let relayed = vendor.requests.count
                    let second = try await HTTPClient.shared.send(.GET, live.baseURL + path)
                    #expect(
                        second.status == 200
                            && second.text.replacingOccurrences(of: " ", with: "").contains(#""balance":7"#),
                        "\(second.text)")
                    #expect(vendor.requests.count == relayed, "replayed, not relayed again")
                }
            }
        }
    }
}
