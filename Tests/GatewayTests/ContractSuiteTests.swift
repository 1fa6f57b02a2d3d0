import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import GRDB
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import StoreTestSupport
import Testing

/// Every case of `contract-tests/`, each against a fresh in-process StockGate.
@Suite("Contract suite")
struct ContractSuiteTests {
    static let directory = StockGateProcess.repository.appendingPathComponent("contract-tests").path

    static let cases: [ContractCase] = (try? ContractCase.load(directory: directory)) ?? []
    /// One client for every case; it lives as long as the test process (never dropped, so
    /// never shut down).
    static let client = CurlHTTPClient()

    @Test("every case file loads: a file that does not fails here, instead of the suite quietly running fewer cases")
    func everyFileLoads() throws {
        let loaded = try ContractCase.load(directory: Self.directory)
        // Intent cases (`intents/`) have their own loader and suite (`IntentTests`), and so have
        // the vendors' answers for replay (`replay/`, `ReplayMatrixTests`).
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.directory).filter {
            $0.hasSuffix(".json") && !$0.hasPrefix("intents/") && !$0.hasPrefix("fixtures/")
                && !$0.hasPrefix("replay/")
        }
        #expect(loaded.count == files.count, "\(files.count) case files, \(loaded.count) loaded")
        #expect(Self.cases.count == files.count)
    }

    @Test("the suite holds at least 20 cases for each vendor dialect")
    func coverage() throws {
        let loaded = try ContractCase.load(directory: Self.directory)
        for dialect in DialectRegistry.ids where dialect != "stockgate" {
            #expect(loaded.filter { $0.dialect == dialect.rawValue }.count >= 20, "\(dialect)")
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

    @Test("steps: a case holds steps or one request, captures are substituted with their JSON type")
    func steps() throws {
        #expect {
            try ContractCase.parse(
                Array(
                    #"{"steps": [{"request": {"method": "GET", "path": "/"}, "response": {"status": 200}}], "request": {}}"#
                        .utf8),
                name: "x", dialect: "stockgate")
        } throws: { error in "\(error)".contains("'steps' or 'request' and 'response', not both") }
        let two = try ContractCase.parse(
            Array(
                #"{"steps": [{"request": {"method": "POST", "path": "/a"}, "response": {"status": 200, "body": {"id": {"$capture": "id"}}}}, {"request": {"method": "GET", "path": "/b/${id}", "body": {"ids": ["${id}"], "text": "n ${id}"}}, "response": {"status": 200}}]}"#
                    .utf8), name: "y", dialect: "stockgate")
        #expect(two.steps.count == 2 && two.needs.isEmpty)
        let captured = JSONMatcher.captures(
            expected: try #require(two.steps[0].expected.body), actual: try JSONParser.parse(#"{"id": 42}"#))
        #expect(captured == ["id": .number("42")])
        let body = JSONMatcher.substitute(try #require(two.steps[1].request.bodyJSON), captured)
        #expect(body == (try JSONParser.parse(#"{"ids": [42], "text": "n 42"}"#)))
        #expect(JSONMatcher.substitute(two.steps[1].request.path, captured) == "/b/42")
    }

    @Test("a setup may name fixtures; an unknown one is refused naming the known ones")
    func fixtures() throws {
        let fixtures = try ContractCase.loadFixtures(directory: Self.directory)
        let shared = try #require(fixtures["mugs-on-the-floor"])
        let mixed = try ContractCase.parse(
            Array(
                #"{"setup": ["mugs-on-the-floor", {"product": "socks", "quantity": "1", "from": "supplier", "to": "shop-floor"}], "request": {"method": "GET", "path": "/"}, "response": {"status": 200}}"#
                    .utf8), name: "x", dialect: "stockgate", fixtures: fixtures)
        #expect(mixed.setup.count == shared.count + 1 && Array(mixed.setup.prefix(shared.count)) == shared)
        #expect(mixed.needs == [.canonicalAPI, .reset])
        #expect {
            try ContractCase.parse(
                Array(
                    #"{"setup": "nope", "request": {"method": "GET", "path": "/"}, "response": {"status": 200}}"#.utf8),
                name: "y", dialect: "stockgate", fixtures: fixtures)
        } throws: { error in "\(error)".contains("setup names no fixture 'nope' (fixtures/: mugs-on-the-floor)") }
    }

    @Test("the ledger invariant holds after real moves and names a balance that disagrees with the journal")
    func ledgerInvariant() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        let facts = RequestFacts(dialect: "test", requestID: "r")
        _ = try await ledger.move(
            MoveBatch(
                items: [
                    Movement(product: "mug-black", quantity: Quantity(10), from: "supplier", to: "shop-floor"),
                    Movement(product: "mug-black", quantity: Quantity(3), from: "shop-floor", to: "back-room"),
                ], atomicity: .allOrNothing), facts: facts)
        let sale = try await ledger.move(
            MoveBatch(
                items: [Movement(product: "mug-black", quantity: Quantity(2), from: "shop-floor", to: "sold")],
                atomicity: .allOrNothing), facts: facts)
        _ = try await ledger.delete(ids: sale.succeeded.compactMap(\.id), facts: facts)  // reversed, and its reversal
        #expect(try await LedgerInvariant.violations(in: ledger) == [])
        try ledger.close()
        // A balance changed behind the journal's back.
        let database = try DatabaseQueue(path: directory + "/ledger.sqlite")
        try await database.write { db in
            try db.execute(
                sql: "UPDATE balance SET quantity = '8' WHERE product = 'mug-black' AND location = 'shop-floor'")
        }
        try database.close()
        let reopened = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        defer { try? reopened.close() }
        #expect(
            try await LedgerInvariant.violations(in: reopened) == [
                "ledger invariant: mug-black@shop-floor is 8, the journal sums to 7"
            ])
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
