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
}
