import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import StockCore
import StoreTestSupport
import Testing

/// Every case of `contract-tests/`, each against a fresh in-process StockGate.
@Suite("Contract suite")
struct ContractSuiteTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("contract-tests").path

    static let cases: [ContractCase] = (try? ContractCase.load(directory: directory)) ?? []
    /// One client for every case; it lives as long as the test process (never dropped, so
    /// never shut down).
    static let client = CurlHTTPClient()

    @Test("every case file loads: a file that does not fails here, instead of the suite quietly running fewer cases")
    func everyFileLoads() throws {
        let loaded = try ContractCase.load(directory: Self.directory)
        // Intent cases (`intents/`) have their own loader and suite (`IntentTests`).
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.directory).filter {
            $0.hasSuffix(".json") && !$0.hasPrefix("intents/")
        }
        #expect(loaded.count == files.count, "\(files.count) case files, \(loaded.count) loaded")
        #expect(Self.cases.count == files.count)
    }

    @Test("the suite holds at least 20 cases for each vendor dialect")
    func coverage() throws {
        let loaded = try ContractCase.load(directory: Self.directory)
        for dialect in DialectRegistry.ids where dialect != "stockgate" {
            #expect(loaded.filter { $0.dialect == dialect }.count >= 20, "\(dialect)")
        }
    }

    @Test("contract case", arguments: cases.map(\.name))
    func contractCase(_ name: String) async throws {
        let contract = try #require(Self.cases.first { $0.name == name })
        let target = InProcessTarget(catalog: demoCatalog, logger: quietLogger)
        let result = try await target.run(contract, runner: ContractRunner(client: Self.client))
        #expect(result.passed, "\(result.failure ?? "")")
    }

    @Test(
        "contract case on PostgreSQL", .enabled(if: postgresURL != nil, postgresMissing), arguments: cases.map(\.name))
    func contractCaseOnPostgres(_ name: String) async throws {
        let contract = try #require(Self.cases.first { $0.name == name })
        let target = InProcessTarget(catalog: demoCatalog, logger: quietLogger)
        let result = try await withStore(.postgres, catalog: demoCatalog) { store in
            try await target.run(contract, runner: ContractRunner(client: Self.client), storage: store)
        }
        #expect(result.passed, "\(result.failure ?? "")")
    }

    @Test("the matcher reports differences and accepts matchers")
    func matcher() throws {
        let actual = try JSONParser.parse(#"{"id": 7, "items": [1, 2], "name": "x", "extra": true}"#)
        #expect(
            JSONMatcher.mismatch(
                expected: try JSONParser.parse(
                    #"{"id": {"$type": "integer"}, "items": [1, 2.0], "name": {"$pattern": "[a-z]"}, "extra": true}"#),
                actual: actual, subset: false) == nil)
        #expect(
            JSONMatcher.mismatch(expected: try JSONParser.parse(#"{"id": 7}"#), actual: actual, subset: true) == nil)
        #expect(
            JSONMatcher.mismatch(expected: try JSONParser.parse(#"{"id": 7}"#), actual: actual, subset: false) != nil)
        #expect(
            JSONMatcher.mismatch(
                expected: try JSONParser.parse(#"{"id": 8, "items": [1, 2], "name": "x", "extra": true}"#),
                actual: actual, subset: false) == "$.id: 7, expected 8")
        #expect(
            JSONMatcher.mismatch(
                expected: try JSONParser.parse(#"{"name": {"$pattern": "y+"}}"#), actual: actual, subset: true) != nil)
    }

    @Test(
        "inventory matchers: decimals with scale and precision, UUIDs, vendor timestamps, arrays by each, contains, any order",
        arguments: [
            (#"{"$decimal": true}"#, #""12.50""#, true), (#"{"$decimal": true}"#, "12.5", true),
            (#"{"$decimal": true}"#, #""12,5""#, false), (#"{"$decimal": {"scale": 2}}"#, #""1.005""#, false),
            (#"{"$decimal": {"scale": 2}}"#, #""-1.05""#, true), (#"{"$decimal": {"precision": 3}}"#, "1234", false),
            (#"{"$decimal": {"precision": 3}}"#, "0.12", true),
            (#"{"$uuid": true}"#, #""89ac1e4a-5f0f-11ec-bf63-0242ac130002""#, true),
            (#"{"$uuid": true}"#, #""89ac1e4a5f0f11ecbf630242ac130002""#, false),
            (#"{"$timestamp": "iso8601"}"#, #""2026-12-02T01:05:05.591Z""#, true),
            (#"{"$timestamp": "iso8601"}"#, #""02/12/2026""#, false),
            (#"{"$timestamp": "http"}"#, #""Wed, 02 Dec 2026 00:58:36 GMT""#, true),
            (#"{"$timestamp": "epoch-millis"}"#, "1764637505591", true),
            (#"{"$each": {"$type": "integer"}}"#, "[1, 2, 3]", true),
            (#"{"$each": {"$type": "integer"}}"#, "[1, 2.5]", false),
            (#"{"$contains": [2]}"#, "[1, 2, 3]", true), (#"{"$contains": [{"a": 1}]}"#, #"[{"a": 2}]"#, false),
            (#"{"$unordered": [3, 1, 2]}"#, "[1, 2, 3]", true), (#"{"$unordered": [1, 1, 2]}"#, "[1, 2, 2]", false),
            (#"{"$unordered": [1, 2]}"#, "[1, 2, 3]", false),
        ])
    func inventoryMatchers(_ expected: String, _ actual: String, _ matches: Bool) throws {
        let problems = JSONMatcher.mismatches(
            expected: try JSONParser.parse(Array(expected.utf8)), actual: try JSONParser.parse(Array(actual.utf8)),
            subset: false)
        #expect(problems.isEmpty == matches, "\(expected) vs \(actual): \(problems)")
    }
}
