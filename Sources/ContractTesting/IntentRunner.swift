import CurlHTTP
import Dialects
import Foundation
import Gateway
import HTTPTypes
import Ledger
import Logging
import StockCore

/// What one intent came to for one inbound dialect and one backend kind.
public struct IntentOutcome: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case passed
        case failed(String)
        /// The combination cannot express the intent (the client's dialect or the backend's
        /// cannot carry it): said, with the reason, and not counted as a failure.
        case skipped(String)
    }

    public var intent: String
    public var inbound: String
    public var backend: String
    public var verdict: Verdict

    public var label: String { "\(intent) \(inbound) → \(backend)" }

    public var line: String {
        switch verdict {
        case .passed: "PASS \(label)"
        case .failed(let why): "FAIL \(label): \(why)"
        case .skipped(let why): "SKIP \(label): \(why)"
        }
    }
}

extension [IntentOutcome] {
    public var summary: String {
        let passed = filter { $0.verdict == .passed }.count
        let skipped = filter { if case .skipped = $0.verdict { true } else { false } }.count
        return "\(passed) passed, \(count - passed - skipped) failed, \(skipped) skipped"
    }

    public var failed: Bool { contains { if case .failed = $0.verdict { true } else { false } } }
}

/// Runs intents through every inbound dialect against every backend kind, in process: the
/// embedded ledger, and each vendor dialect over HTTP to a second StockGate standing in for
/// that vendor. Each request is written by the inbound dialect's own client codec and its
/// answer read by it, as a client of that vendor would; the stock effect is read from the
/// ledger that holds the stock.
public struct IntentRunner: Sendable {
    public let catalog: Catalog
    public let client: CurlHTTPClient
    public let logger: Logger

    /// `embedded` and every dialect of the registry.
    public static var backendKinds: [String] { ["embedded"] + DialectRegistry.names }

    public init(catalog: Catalog, client: CurlHTTPClient, logger: Logger) {
        self.catalog = catalog
        self.client = client
        self.logger = logger
    }

    public func run(
        _ intents: [Intent], inbound: [String] = DialectRegistry.names, backends: [String] = IntentRunner.backendKinds,
        progress: @escaping @Sendable (IntentOutcome) -> Void = { _ in }
    ) async throws -> [IntentOutcome] {
        var outcomes: [IntentOutcome] = []
        for backend in backends {
            outcomes += try await run(intents, inbound: inbound, backend: backend, progress: progress)
        }
        return outcomes
    }

    /// One backend kind: its servers are started once for every intent and dialect.
    func run(
        _ intents: [Intent], inbound: [String], backend kind: String,
        progress: @escaping @Sendable (IntentOutcome) -> Void
    ) async throws -> [IntentOutcome] {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-intents-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let holder = try Ledger.open(directory: root + "/holder", catalog: catalog, logger: logger)
        defer { try? holder.close() }
        let configuration = GatewayConfiguration(host: "127.0.0.1", port: 0, dataDirectory: root + "/holder")
        let runAll: @Sendable (Int) async throws -> [IntentOutcome] = { port in
            var outcomes: [IntentOutcome] = []
            for intent in intents {
                for dialect in inbound {
                    let verdict = await self.run(intent, as: dialect, port: port, holder: holder, backend: kind)
                    let outcome = IntentOutcome(intent: intent.name, inbound: dialect, backend: kind, verdict: verdict)
                    progress(outcome)
                    outcomes.append(outcome)
                }
            }
            return outcomes
        }
        let standIn = Gateway(configuration: configuration, catalog: catalog, backend: holder, logger: logger)
        if kind == "embedded" {
            return try await GatewayServer.withRunning(standIn, logger: logger, runAll)
        }
        guard let codec = Backends.codec(dialect: DialectID(kind)) else {
            throw ContractCase.FormatError(description: "unknown backend kind '\(kind)'")
        }
        return try await GatewayServer.withRunning(standIn, logger: logger) { standInPort in
            let journal = try Ledger.open(directory: root + "/gateway", catalog: catalog, logger: logger)
            defer { try? journal.close() }
            let remote = RemoteBackend(
                name: "\(kind)-stand-in", baseURL: "http://127.0.0.1:\(standInPort)", codec: codec, client: client,
                auth: .none, catalog: catalog, journal: journal, logger: logger)
            var gatewayConfiguration = configuration
            gatewayConfiguration.dataDirectory = root + "/gateway"
            let gateway = Gateway(
                configuration: gatewayConfiguration, catalog: catalog, backend: remote, logger: logger)
            return try await GatewayServer.withRunning(gateway, logger: logger, runAll)
        }
    }

    /// One intent sent as a client of `dialect` to the gateway at `port`.
    func run(
        _ intent: Intent, as dialect: String, port: Int, holder: Ledger, backend: String
    ) async
        -> IntentOutcome.Verdict
    {
        guard let clientCodec = DialectRegistry.dialect(named: dialect)?.outboundCodec() else {
            return .failed("unknown dialect '\(dialect)'")
        }
        if let reason = intent.skip[backend] ?? intent.skip[dialect] { return .skipped(reason) }
        let batch = MoveBatch(items: intent.movements, atomicity: intent.atomic ? .allOrNothing : .perItem)
        // A level is said only by a dialect with a level call; it lands only where the backend
        // can take one (docs/levels.md).
        if intent.movements.contains(where: { $0.level != nil }) {
            if !clientCodec.capabilities.nativeLevels {
                return .skipped("a \(dialect) client has no level call (docs/levels.md)")
            }
            if backend != "embedded", let codec = Backends.codec(dialect: DialectID(backend)) {
                for (index, item) in intent.movements.enumerated() {
                    if case .refused(let error) = LevelTreatment.of(item, codec: codec) {
                        return .skipped("a \(backend) backend cannot take level \(index): \(error.message)")
                    }
                }
            }
        }
        // What the backend's own dialect cannot carry is refused there by design: said, not failed.
        if backend != "embedded", let codec = Backends.codec(dialect: DialectID(backend)),
            let (index, error) = MovePlan.make(batch, codec: codec, catalog: catalog).refusals.min(by: {
                $0.key < $1.key
            })
        {
            return .skipped("a \(backend) backend cannot carry movement \(index): \(error.message)")
        }
        let plan = MovePlan.make(batch, codec: clientCodec, catalog: catalog)
        if let (index, error) = plan.refusals.min(by: { $0.key < $1.key }) {
            return .skipped("a \(dialect) client cannot send movement \(index): \(error.message)")
        }
        if intent.atomic && plan.chunks.count > 1 {
            return .skipped(
                "a \(dialect) client sends these movements in \(plan.chunks.count) requests: not all-or-nothing")
        }
        let products = Array(Set(intent.movements.map(\.product) + intent.setup.map(\.product))).sorted()
        do {
            if !intent.setup.isEmpty {
                _ = try await holder.move(
                    MoveBatch(items: intent.setup, atomicity: .allOrNothing),
                    facts: RequestFacts(dialect: "intent-setup", requestID: "setup"))
            }
            let before = try await balances(holder, products)
            var items: [BatchOutcome.Item] = []
            var answers: [String] = []
            for chunk in plan.chunks {
                let movements = chunk.map { intent.movements[$0] }
                let request = try clientCodec.moveRequest(
                    movements, catalog: catalog, idempotencyKey: nil, atomic: intent.atomic)
                let response = try await client.execute(
                    CurlRequest(
                        request.head, url: "http://127.0.0.1:\(port)" + request.path, body: request.body,
                        timeout: .seconds(30)))
                answers.append("\(response.status) \(String(decoding: response.body.prefix(300), as: UTF8.self))")
                items += clientCodec.moveResult(
                    OutboundResponse(status: response.status, body: response.body), items: movements, catalog: catalog)
            }
            let after = try await balances(holder, products)
            var moved: [String: Quantity] = [:]
            for (key, quantity) in after where quantity != before[key, default: .zero] {
                moved[key] = quantity - before[key, default: .zero]
            }
            return verdict(intent, items: items, moved: moved, after: after, answers: answers, dialect: dialect)
        } catch {
            return .failed("error: \(error)")
        }
    }

    /// The intent's expectation against what the client read from its answers and how stock
    /// moved at the holder.
    func verdict(
        _ intent: Intent, items: [BatchOutcome.Item], moved: [String: Quantity], after: [String: Quantity] = [:],
        answers: [String], dialect: String
    ) -> IntentOutcome.Verdict {
        let failures = items.compactMap { item -> GatewayError? in
            if case .failed(let error) = item { return error } else { return nil }
        }
        let allApplied = items.allSatisfy { if case .applied = $0 { true } else { false } }
        switch intent.expectation {
        case .changes(let expected):
            if !allApplied {
                let why = failures.first.map { "\($0.code): \($0.message)" } ?? "not applied"
                return .failed(
                    "the \(dialect) answer reads as refused (\(why)); answered \(answers.joined(separator: "; "))")
            }
            var wanted: [String: Quantity] = [:]
            for change in expected where change.change != .zero {
                let key = "\(change.product)@\(change.location)"
                wanted[key] = wanted[key, default: .zero] + change.change
            }
            guard moved == wanted else {
                return .failed("stock moved \(Self.text(moved)), expected \(Self.text(wanted))")
            }
            return .passed
        case .levels(let expected):
            if !allApplied {
                let why = failures.first.map { "\($0.code): \($0.message)" } ?? "not applied"
                return .failed(
                    "the \(dialect) answer reads as refused (\(why)); answered \(answers.joined(separator: "; "))")
            }
            for level in expected {
                let held = after["\(level.product)@\(level.location)", default: .zero]
                if held != level.change {
                    return .failed(
                        "\(level.product)@\(level.location) holds \(held) afterwards, expected \(level.change)")
                }
            }
            return .passed
        case .refused:
            if allApplied {
                return .failed("applied, expected a refusal; answered \(answers.joined(separator: "; "))")
            }
            guard moved.isEmpty else { return .failed("refused, but stock moved \(Self.text(moved))") }
            return .passed
        }
    }

    func balances(_ ledger: Ledger, _ products: [String]) async throws -> [String: Quantity] {
        var result: [String: Quantity] = [:]
        for balance in try await ledger.balances(BalanceQuery(products: products)) {
            result["\(balance.product)@\(balance.location)"] = balance.quantity
        }
        return result
    }

    static func text(_ changes: [String: Quantity]) -> String {
        changes.isEmpty
            ? "nowhere" : changes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}
