import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import GatewayTestSupport
import StockCore
import Testing

/// Intent cases (issue 15): one movement stated once, rendered into every inbound dialect by
/// that dialect's own client codec and run against every backend kind — the embedded ledger
/// and each vendor dialect over HTTP to a StockGate standing in for the vendor.
@Suite("One intent, every dialect, every backend")
struct IntentTests {
    static let directory = StockGateProcess.repository.appendingPathComponent("contract-tests/intents").path

    static func run(_ intents: [Intent]) async throws -> [IntentOutcome] {
        try await withCurlClient(.init(timeout: .seconds(30))) { client in
            try await IntentRunner(catalog: demoCatalog, client: client, logger: quietLogger).run(intents)
        }
    }

    @Test("the repository's intents hold through every dialect and backend that can express them")
    func repositoryIntents() async throws {
        let intents = try Intent.load(directory: Self.directory, catalog: demoCatalog)
        #expect(intents.count >= 6)
        let outcomes = try await Self.run(intents)
        let kinds = IntentRunner.backendKinds.count * DialectRegistry.ids.count
        #expect(outcomes.count == intents.count * kinds)
        for outcome in outcomes {
            if case .failed = outcome.verdict { Issue.record("\(outcome.line)") }
        }
        // A restock and a sale mean the same in every dialect against every backend: 7 × 8, none skipped.
        for name in ["intents/restock-5.json", "intents/sale-2.json"] {
            let passed = outcomes.filter { $0.intent == name && $0.verdict == .passed }
            #expect(passed.count == kinds, "\(name): \(passed.count) of \(kinds)")
        }
        // Every intent holds somewhere, and every skip says why.
        for intent in intents {
            #expect(outcomes.contains { $0.intent == intent.name && $0.verdict == .passed }, "\(intent.name)")
        }
        for outcome in outcomes {
            if case .skipped(let why) = outcome.verdict { #expect(!why.isEmpty, "\(outcome.label)") }
        }
        // What cannot be expressed is skipped for the right reason: Open2b has no transfers
        // between two stock locations, StoreFeeder no fractions.
        let transfer = outcomes.first {
            $0.intent == "intents/transfer-3.json" && $0.backend == "open2b-v6" && $0.inbound == "stockgate"
        }
        #expect(
            transfer?.line.contains("a open2b-v6 backend cannot carry movement 0") == true,
            "\(String(describing: transfer))")
        let fraction = outcomes.first {
            $0.intent == "intents/fraction.json" && $0.inbound == "storefeeder" && $0.backend == "embedded"
        }
        #expect(fraction?.line.contains("whole quantities") == true, "\(String(describing: fraction))")
        // Issue 31: "set to 7, then sell 2" holds from both dialects with a level call to every
        // backend that can take a level, and is skipped, saying why, everywhere else.
        let level = outcomes.filter { $0.intent == "intents/set-7-then-sell-2.json" }
        let passed = Set(level.filter { $0.verdict == .passed }.map { "\($0.inbound)→\($0.backend)" })
        var wanted: Set<String> = []
        for inbound in ["stockgate", "storefeeder"] {
            for backend in ["embedded", "stockgate", "storefeeder", "zettle", "zettle-v3"] {
                wanted.insert("\(inbound)→\(backend)")
            }
        }
        #expect(passed == wanted, "\(passed.sorted())")
        let noCall = level.first { $0.inbound == "zettle" }
        #expect(noCall?.line.contains("has no level call") == true, "\(String(describing: noCall))")
        let noRead = level.first { $0.inbound == "stockgate" && $0.backend == "open2b-v6" }
        #expect(noRead?.line.contains("cannot read balances") == true, "\(String(describing: noRead))")
    }

    @Test("an intent whose expectation is wrong fails everywhere, naming what moved")
    func wrongExpectationFails() async throws {
        let wrong = try Intent.parse(
            Array(
                #"{"movements": [{"product": "tshirt-blue-m", "quantity": "5", "from": "supplier", "to": "shop-floor"}], "expect": {"changes": [{"product": "tshirt-blue-m", "location": "shop-floor", "change": "6"}]}}"#
                    .utf8), name: "wrong")
        let outcomes = try await Self.run([wrong])
        #expect(outcomes.count == IntentRunner.backendKinds.count * DialectRegistry.ids.count)
        for outcome in outcomes {
            #expect(
                outcome.verdict
                    == .failed("stock moved tshirt-blue-m@shop-floor 5, expected tshirt-blue-m@shop-floor 6"),
                "\(outcome.line)")
        }
        // Expecting a refusal of something every backend applies fails too.
        let refusal = try Intent.parse(
            Array(
                #"{"movements": [{"product": "mug-black", "quantity": "1", "from": "supplier", "to": "shop-floor"}], "expect": {"refused": true}}"#
                    .utf8), name: "refusal")
        let refused = try await Self.run([refusal])
        #expect(
            refused.allSatisfy { if case .failed(let why) = $0.verdict { why.hasPrefix("applied") } else { false } })
    }

    @Test("a malformed intent is refused naming the file and the problem")
    func malformed() {
        #expect { try Intent.parse(Array(#"{"movements": []}"#.utf8), name: "x.json") } throws: { error in
            "\(error)".contains("x.json: 'movements' must hold at least one movement")
        }
        #expect {
            try Intent.parse(
                Array(
                    #"{"movements": [{"product": "a", "from": "b", "to": "c", "quantity": "1"}], "expect": {}, "extra": 1}"#
                        .utf8), name: "y.json")
        } throws: { error in
            "\(error)".contains("y.json: unknown key 'extra'")
        }
    }
}
