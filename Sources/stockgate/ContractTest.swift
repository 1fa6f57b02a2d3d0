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
            Prints one line per case (every difference of a failed case) and a closing 'N passed,
            N failed, N skipped'. Exit codes: 0 when no case failed (skipped cases do not fail), 1
            when one did, 2 when the run could not start (bad options, no case selected, target
            unreachable). Against --target, setup moves and balance checks use the target's
            /stockgate/v1 API and each case starts with POST /stockgate/v1/test/reset (run the
            target with --enable-test-reset); a case needing what the target lacks (its 'needs',
            or setup/balances) is skipped with the reason.
            """)

    @Argument(help: "Directory of cases, one folder per dialect (default ./contract-tests).")
    var directory: String = "./contract-tests"

    @Option(help: "Only the cases of this dialect.")
    var dialect: String?

    @Option(help: "Base URL of the server under test (default: a fresh in-process StockGate per case).")
    var target: String?

    @Flag(
        name: .customLong("no-reset"),
        help: "With --target: do not empty the target before each case; cases that need an empty target are skipped.")
    var noReset = false

    @Option(help: "Write a JUnit XML report to this file.")
    var junit: String?

    @Option(
        help:
            "Run against this backend of --config, in its dialect with its credentials: only cases whose sideEffects are none or compensated; members the vendor answers that a case does not name are reported as drift."
    )
    var backend: String?

    @Option(help: "The configuration file that defines --backend.")
    var config: String?

    @Option(help: "Only the cases whose name (dialect/file.json) contains this text.")
    var filter: String?

    @Flag(name: .customLong("fail-fast"), help: "Stop at the first failed case.")
    var failFast = false

    @Option(
        help:
            "Cases run at once: in process each has its own StockGate; against a target, cases that reset it run one at a time first, the rest together."
    )
    var jobs: Int = 1

    @Flag(
        help:
            "Rewrite each failed case's file to what the target answered (status, body — matchers that still match are kept — and balance changes); review the diff before committing."
    )
    var update = false

    @Option(help: "Output on standard output: text (default), json, junit or github (workflow commands).")
    var format: String = "text"

    @Option(
        name: .customLong("header"),
        help: ArgumentHelp("A header sent with every request, 'Name: value' (repeatable).", valueName: "header"))
    var headers: [String] = []

    @Option(
        name: .customLong("token-env"),
        help: ArgumentHelp(
            "Send 'Authorization: Bearer <token>' with every request, the token read from this environment variable.",
            valueName: "variable"))
    var tokenEnv: String?

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

    @Option(
        name: .customLong("diff"), parsing: .upToNextOption,
        help:
            "OLD NEW: what changed between two OpenAPI documents or two recordings directories, per operation; exit 1 on a breaking change."
    )
    var diff: [String] = []

    func run() async throws {
        if !diff.isEmpty { return try runDiff() }
        try refuseWhatTheModeIgnores()
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
        guard ["text", "json", "junit", "github"].contains(format) else {
            throw CommandError("--format must be text, json, junit or github, got '\(format)'", exitCode: 64)
        }
        if let dialect, DialectRegistry.dialect(named: dialect) == nil {
            throw CommandError(
                "--dialect: unknown dialect '\(dialect)' (\(DialectRegistry.names.joined(separator: ", ")))",
                exitCode: 64
            )
        }
        let vendor = try vendorBackend()
        let cases = try selectedCases(loading: vendor?.dialect ?? dialect)
        var logger = Logger(label: "stockgate.contract")
        logger.logLevel = .warning
        let extra = try extraHeaders()
        // The runner's HTTP client, shut down before returning (one curl thread).
        let client = CurlHTTPClient(configuration: .init(maxResponseBytes: 32 * 1024 * 1024))
        do {
            if let vendor {
                let access: (client: CurlHTTPClient, headers: [(name: String, value: String)])
                do {
                    access = try await Backends.directAccess(to: vendor, client: client)
                } catch {
                    throw CommandError("backend '\(vendor.name)': \(error)")
                }
                try await run(
                    cases, runner: ContractRunner(client: access.client, headers: access.headers + extra),
                    logger: logger, vendorURL: vendor.baseURL)
            } else {
                try await run(cases, runner: ContractRunner(client: client, headers: extra), logger: logger)
            }
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
    }

    /// `--backend NAME`: the remote backend of `--config` whose vendor the cases run against.
    func vendorBackend() throws -> BackendConfiguration? {
        guard let backend else { return nil }
        guard target == nil else { throw CommandError("--backend and --target exclude each other", exitCode: 64) }
        guard let config else {
            throw CommandError("--backend needs --config FILE, where the backend is defined", exitCode: 64)
        }
        let file: ConfigFile
        do {
            file = try ConfigFile.load(path: config)
        } catch {
            throw CommandError("\(error)")
        }
        guard let found = file.backends.first(where: { $0.name == backend }), found.dialect != "embedded" else {
            let names = file.backends.filter { $0.dialect != "embedded" }.map(\.name)
            throw CommandError("no remote backend named '\(backend)' in \(config) (\(names.joined(separator: ", ")))")
        }
        if let dialect, dialect != found.dialect {
            throw CommandError("backend '\(backend)' speaks \(found.dialect), not \(dialect)")
        }
        return found
    }

    /// The cases of `directory` for `loading` (a dialect), narrowed by `--filter`; none is an error.
    func selectedCases(loading: String?) throws -> [ContractCase] {
        var cases: [ContractCase]
        do {
            cases = try ContractCase.load(directory: directory, dialect: loading)
        } catch {
            throw CommandError("\(error)")
        }
        if let filter { cases = cases.filter { $0.name.contains(filter) } }
        guard !cases.isEmpty else {
            // A typo in a selection must not pass CI green.
            let selection = [dialect.map { "--dialect \($0)" }, filter.map { "--filter \($0)" }].compactMap { $0 }
            throw CommandError(
                "no case selected in \(directory)"
                    + (selection.isEmpty ? "" : " by \(selection.joined(separator: " "))"))
        }
        return cases
    }

    /// `--header` and `--token-env`: what every request of the run carries.
    func extraHeaders() throws -> [(name: String, value: String)] {
        var extra: [(name: String, value: String)] = []
        for header in headers {
            guard let colon = header.firstIndex(of: ":"), !header[..<colon].isEmpty else {
                throw CommandError("--header must be 'Name: value', got '\(header)'", exitCode: 64)
            }
            extra.append(
                (
                    String(header[..<colon]),
                    String(header[header.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                ))
        }
        if let tokenEnv { extra.append(try GatewayAccess.bearer(fromVariable: tokenEnv)) }
        return extra
    }

    /// `--intents` and `--losses` have one output of their own: an option they would not honour
    /// is refused (exit 2), never silently ignored (issue 32).
    func refuseWhatTheModeIgnores() throws {
        guard intents || losses else { return }
        let mode = intents ? "--intents" : "--losses"
        var inapplicable: [String] = []
        if format != "text" { inapplicable.append("--format") }
        if junit != nil { inapplicable.append("--junit") }
        if filter != nil { inapplicable.append("--filter") }
        if target != nil { inapplicable.append("--target") }
        if backend != nil { inapplicable.append("--backend") }
        if update { inapplicable.append("--update") }
        if intents && losses { inapplicable.append("--losses") }
        guard inapplicable.isEmpty else {
            throw CommandError(
                "\(mode) does not take \(inapplicable.joined(separator: ", ")): it prints its own report",
                exitCode: 64)
        }
    }

    func runIntents() async throws {
        let loaded: [Intent]
        let catalog: Catalog
        do {
            catalog = try CatalogLoader.load(directory: mappings)
            loaded = try Intent.load(
                directory: (directory as NSString).appendingPathComponent("intents"), catalog: catalog)
        } catch {
            throw CommandError("\(error)", exitCode: 2)
        }
        let inbound = dialect.map { [$0] } ?? DialectRegistry.names
        if let dialect, DialectRegistry.dialect(named: dialect) == nil {
            throw CommandError(
                "--dialect: unknown dialect '\(dialect)' (\(DialectRegistry.names.joined(separator: ", ")))",
                exitCode: 64
            )
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

    func run(_ cases: [ContractCase], runner: ContractRunner, logger: Logger, vendorURL: String? = nil) async throws {
        var results: [ContractResult] = []
        let (base, inProcess, capabilities) = try await prepareTarget(
            runner: runner, logger: logger, vendorURL: vendorURL)
        // One case, against the target or a fresh in-process StockGate of its own.
        let (reset, offered) = (!noReset, capabilities)
        let runOne: @Sendable (ContractCase) async -> ContractResult = { contract in
            if let base {
                return await runner.run(contract, baseURL: base, reset: reset, capabilities: offered)
            }
            do {
                return try await inProcess!.run(contract, runner: runner)
            } catch {
                return ContractResult(name: contract.name, failure: "error: \(error)", seconds: 0)
            }
        }
        // In process every case has its own server, so all may run at once; against one target,
        // cases that reset it run one at a time first, then the ones that need no reset together.
        let serial = base == nil ? [] : cases.indices.filter { cases[$0].needs.contains(.reset) && capabilities.reset }
        let parallel = cases.indices.filter { !serial.contains($0) }
        var byIndex: [Int: ContractResult] = [:]
        var stopped = false
        let progress = format != "text" && isatty(STDERR_FILENO) != 0
        func finish(_ index: Int, _ result: ContractResult) throws {
            let result = try updated(result)
            if format == "text" {
                printLine(result)
            } else if progress {
                FileHandle.standardError.write(
                    Data("\r[\(byIndex.count + 1)/\(cases.count)] \(result.name)\u{1B}[K".utf8))
            }
            byIndex[index] = result
            if failFast && result.failed { stopped = true }
        }
        for index in serial where !stopped { try finish(index, await runOne(cases[index])) }
        var pending = parallel[...]
        try await withThrowingTaskGroup(of: (Int, ContractResult).self) { group in
            func startNext() {
                guard !stopped, let index = pending.popFirst() else { return }
                let contract = cases[index]
                group.addTask { (index, await runOne(contract)) }
            }
            for _ in 0..<max(1, jobs) { startNext() }
            while let (index, result) = try await group.next() {
                try finish(index, result)
                startNext()
            }
        }
        if progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        results = byIndex.keys.sorted().compactMap { byIndex[$0] }
        try report(results)
        if results.contains(where: \.failed) { throw ExitCode(1) }
    }

    /// Where the cases run: a URL (`--target`, a vendor) checked reachable and asked what it
    /// offers, or StockGate in process.
    func prepareTarget(
        runner: ContractRunner, logger: Logger, vendorURL: String?
    ) async throws -> (base: String?, inProcess: InProcessTarget?, capabilities: TargetCapabilities) {
        let base = (vendorURL ?? target).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        guard let base else {
            do {
                let catalog = try CatalogLoader.load(directory: mappings)
                return (nil, InProcessTarget(catalog: catalog, logger: logger), .all)
            } catch {
                throw CommandError("\(error.description)")
            }
        }
        do {
            try await runner.checkReachable(base)
        } catch {
            throw CommandError("cannot reach \(base): \(error)")
        }
        // A real vendor is never sent StockGate's reset, nor asked for StockGate's API.
        let capabilities = vendorURL != nil ? .vendor : await runner.capabilities(base, allowReset: !noReset)
        return (base, nil, capabilities)
    }

    /// With `--update`, a failed case rewritten to what was answered.
    func updated(_ result: ContractResult) throws -> ContractResult {
        guard update && result.failed && !result.answers.isEmpty else { return result }
        var result = result
        let path = (directory as NSString).appendingPathComponent(result.name)
        do {
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            try ContractCase.updated(Array(original), with: result).write(
                toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw CommandError("cannot update \(path): \(error)", exitCode: 1)
        }
        result.notes.append("updated \(path): \(result.failures.count) difference(s) written into the case")
        result.failures = []
        return result
    }

    /// One case's line in the text format.
    func printLine(_ result: ContractResult) {
        if let reason = result.skipped {
            print("SKIP \(result.name): \(reason)")
        } else if result.failed {
            print("FAIL \(result.name)")
            for failure in result.failures { print("    \(failure)") }
        } else {
            print("PASS \(result.name)")
        }
        for note in result.notes { print("    \(note)") }
    }

    /// The run's report in `--format`, and `--junit FILE`.
    func report(_ results: [ContractResult]) throws {
        switch format {
        case "json": print(results.json(), terminator: "")
        case "junit": print(results.junit(), terminator: "")
        case "github": print(results.github(directory: directory), terminator: "")
        default: print(results.summary)
        }
        if let junit {
            try results.junit().write(toFile: junit, atomically: true, encoding: .utf8)
        }
    }

    /// `--diff OLD NEW`: breaking changes first; exit 1 when there is one.
    func runDiff() throws {
        guard diff.count == 2 else {
            throw CommandError("--diff takes two paths, OLD and NEW, got \(diff.count)", exitCode: 64)
        }
        let changes: [OpenAPIDiff.Change]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: diff[0], isDirectory: &isDirectory), isDirectory.boolValue {
            do {
                changes = OpenAPIDiff.changes(
                    oldCases: try ContractCase.load(directory: diff[0], dialect: nil),
                    newCases: try ContractCase.load(directory: diff[1], dialect: nil),
                    configuration: GatewayConfiguration())
            } catch {
                throw CommandError("--diff: \(error)")
            }
        } else {
            func read(_ path: String) throws -> JSONValue {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CommandError("--diff: cannot read \(path)")
                }
                do {
                    return try JSONParser.parse(Array(data))
                } catch {
                    throw CommandError("--diff: \(path) is not a JSON OpenAPI document: \(error)")
                }
            }
            changes = OpenAPIDiff.changes(old: try read(diff[0]), new: try read(diff[1]))
        }
        for change in changes { print(change.description) }
        let breaking = changes.filter(\.breaking).count
        print("\(breaking) breaking, \(changes.count - breaking) compatible")
        if breaking > 0 { throw ExitCode(1) }
    }
}
