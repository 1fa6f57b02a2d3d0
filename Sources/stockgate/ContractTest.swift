import ArgumentParser
import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import Gateway
import Logging
import StockCore

/// `stockgate contract-test`: runs the contract cases against a URL or an in-process gateway.
struct ContractTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract-test",
        abstract: "Run the contract-test cases against a URL, or an in-process StockGate per case.",
        discussion: """
            Prints one line per case and a closing 'N passed, N failed'; exits 1 when a case fails.
            Against --target, setup moves and balance checks use the target's /stockgate/v1 API, and
            each case starts with POST /stockgate/v1/test/reset (run the target with
            --enable-test-reset) unless --no-reset is given.
            """)

    @Argument(help: "Directory of cases, one folder per dialect (default ./contract-tests).")
    var directory: String = "./contract-tests"

    @Option(help: "Only the cases of this dialect.")
    var dialect: String?

    @Option(help: "Base URL of the server under test (default: a fresh in-process StockGate per case).")
    var target: String?

    @Flag(
        name: .customLong("no-reset"),
        help: "With --target: do not empty the target before each case (cases that assume empty stock may fail).")
    var noReset = false

    @Option(help: "Write a JUnit XML report to this file.")
    var junit: String?

    @Option(help: "Catalog directory for the in-process gateway (default ./mappings).")
    var mappings: String = "./mappings"

    @Flag(
        help:
            "Print what each pair of dialects loses of a movement (the client's fields a backend does not receive whole), found by running the codecs on the --mappings catalog, and exit."
    )
    var losses = false

    @Flag(
        help:
            "Run the intent cases of DIR/intents: each rendered into every inbound dialect (or --dialect) and run against every backend kind in process, asserting the same stock effect."
    )
    var intents = false

    func run() async throws {
        if intents {
            try await runIntents()
            return
        }
        if losses {
            do {
                print(LossReport.markdown(catalog: try CatalogLoader.load(directory: mappings)), terminator: "")
            } catch {
                throw CommandError("\(error.description)")
            }
            return
        }
        let cases: [ContractCase]
        do {
            cases = try ContractCase.load(directory: directory, dialect: dialect)
        } catch {
            throw CommandError("\(error)")
        }
        var logger = Logger(label: "stockgate.contract")
        logger.logLevel = .warning
        // The runner's HTTP client, shut down before returning (one curl thread).
        let client = CurlHTTPClient(configuration: .init(maxResponseBytes: 32 * 1024 * 1024))
        do {
            try await run(cases, runner: ContractRunner(client: client), logger: logger)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    func runIntents() async throws {
        let loaded: [Intent]
        let catalog: Catalog
        do {
            loaded = try Intent.load(directory: (directory as NSString).appendingPathComponent("intents"))
            catalog = try CatalogLoader.load(directory: mappings)
        } catch {
            throw CommandError("\(error)", exitCode: 2)
        }
        let inbound = dialect.map { [$0] } ?? DialectRegistry.ids
        if let dialect, DialectRegistry.dialect(dialect) == nil {
            throw CommandError(
                "unknown dialect '\(dialect)' (\(DialectRegistry.ids.joined(separator: ", ")))", exitCode: 2)
        }
        guard !loaded.isEmpty else { throw CommandError("no intent cases in \(directory)/intents", exitCode: 2) }
        var logger = Logger(label: "stockgate.intents")
        logger.logLevel = .critical
        let client = CurlHTTPClient(configuration: .init(maxResponseBytes: 32 * 1024 * 1024))
        let outcomes: [IntentOutcome]
        do {
            outcomes = try await IntentRunner(catalog: catalog, client: client, logger: logger).run(
                loaded, inbound: inbound, progress: { print($0.line) })
        } catch {
            await client.shutdown()
            throw CommandError("\(error)", exitCode: 2)
        }
        await client.shutdown()
        print(outcomes.summary)
        if outcomes.failed { throw ExitCode(1) }
    }

    func run(_ cases: [ContractCase], runner: ContractRunner, logger: Logger) async throws {
        var results: [ContractResult] = []
        let inProcess: InProcessTarget?
        if target == nil {
            do {
                inProcess = InProcessTarget(catalog: try CatalogLoader.load(directory: mappings), logger: logger)
            } catch {
                throw CommandError("\(error.description)")
            }
        } else {
            inProcess = nil
        }
        let base = target.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        if let base {
            do {
                try await runner.checkReachable(base)
            } catch {
                throw CommandError("cannot reach \(base): \(error)")
            }
        }
        for contract in cases {
            let result: ContractResult
            if let base {
                result = await runner.run(contract, baseURL: base, reset: !noReset)
            } else {
                do {
                    result = try await inProcess!.run(contract, runner: runner)
                } catch {
                    result = ContractResult(name: contract.name, failure: "error: \(error)", seconds: 0)
                }
            }
            print(result.passed ? "PASS \(result.name)" : "FAIL \(result.name): \(result.failure!)")
            results.append(result)
        }
        print(results.summary)
        if let junit {
            try results.junit().write(toFile: junit, atomically: true, encoding: .utf8)
        }
        if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
}
