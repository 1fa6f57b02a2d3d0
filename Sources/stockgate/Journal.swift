import ArgumentParser
import CurlHTTP
import Foundation
import Gateway
import Operations
import StockCore

/// Where a running gateway is, and its client credentials: what `journal` and `reconcile` share.
struct GatewayAccess: ParsableArguments {
    @Option(help: "The running gateway (default http://127.0.0.1:8080).")
    var url: String = "http://127.0.0.1:8080"

    @Option(
        name: .customLong("token-env"),
        help: ArgumentHelp(
            "When the gateway has clients: a variable holding a client secret allowed the stockgate dialect.",
            valueName: "variable"))
    var tokenEnv: String?

    func headers() throws -> [(name: String, value: String)] {
        try tokenEnv.map { [try Self.bearer(fromVariable: $0)] } ?? []
    }

    /// `Authorization: Bearer <the variable's value>` (`--token-env`).
    static func bearer(fromVariable name: String) throws -> (name: String, value: String) {
        do {
            return ("Authorization", "Bearer \(try SecretSource.environment(name).read().value)")
        } catch {
            throw CommandError("--token-env: \(error)")
        }
    }

    /// Runs `body` with a reconciler on the gateway, its HTTP client shut down after.
    func with<T>(_ body: (Reconciler) async throws -> T) async throws -> T {
        let client = CurlHTTPClient(configuration: .init(timeout: .seconds(30)))
        do {
            let result = try await body(Reconciler(client: client, gatewayURL: url, headers: try headers()))
            await client.shutdown()
            return result
        } catch let error as Reconciler.Failure {
            await client.shutdown()
            throw CommandError(error.description, exitCode: 1)
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

/// `stockgate journal`: the journal of forwarded movements, from a running gateway.
struct Journal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List forwarded movements from a running gateway's journal, by state and backend.",
        discussion: """
            One line per movement: id, state, backend, created, product, quantity, from → to, request
            id, idempotency key. 'sent' rows are unknown outcomes: the backend may or may not have
            applied them; 'stockgate reconcile' settles them.
            """)

    @OptionGroup var access: GatewayAccess

    @Option(help: "Only this state: sent (unknown outcome), applied, failed, reversed.")
    var state: String?

    @Option(help: "Only this backend's movements (its name in the configuration).")
    var backend: String?

    @Option(help: "At most this many rows (1 to 1000).")
    var limit: Int = 1000

    @Flag(help: "JSON lines instead of text.")
    var json = false

    func run() async throws {
        if let state, MovementState(rawValue: state) == nil {
            throw CommandError(
                "--state must be one of \(MovementState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(state)'"
            )
        }
        let rows = try await access.with { try await $0.rows(state: state, backend: backend, limit: limit) }
        for row in rows {
            if json {
                let object: JSONValue = [
                    "id": .integer(row.id), "state": .string(row.state), "backend": .string(row.backend),
                    "createdAt": .string(row.createdAt), "product": .string(row.product),
                    "quantity": .string(row.quantity), "from": .string(row.from), "to": .string(row.to),
                    "requestId": .string(row.requestID),
                    "idempotencyKey": row.idempotencyKey.map(JSONValue.string) ?? .null,
                    "failure": row.failure.map(JSONValue.string) ?? .null,
                ]
                print(JSONWriter.string(object))
            } else {
                print(row.line)
            }
        }
        if !json { FileHandle.standardError.write(Data("\(rows.count) movement(s)\n".utf8)) }
    }
}

/// `stockgate reconcile`: settles unknown outcomes, or records a person's decision.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Settle forwarded movements whose outcome is unknown (journal state 'sent').",
        discussion: """
            Asks each StockGate backend of --config what it recorded under each row's request id and
            settles the row applied (found) or failed (not found after --older-than); lists what no
            backend can tell (vendor APIs cannot be asked about one forward) for a person, whose
            decision 'stockgate reconcile --settle ID --as applied|failed' records. Exit 0 when
            nothing is left undecided, 1 when some rows wait for a person.
            """)

    @OptionGroup var access: GatewayAccess

    @Option(help: "The gateway's configuration file: its backends, to ask them.")
    var config: String?

    @Option(help: "Settle a row not found at its backend as failed only after this many seconds.")
    var olderThan: Int = 60

    @Option(help: "Record a decision about this journal row (with --as).")
    var settle: Int64?

    @Option(name: .customLong("as"), help: "applied or failed.")
    var decision: String?

    func run() async throws {
        if let settle {
            guard let decision, ["applied", "failed"].contains(decision) else {
                throw CommandError("--settle needs --as applied or --as failed")
            }
            let row = try await access.with { try await $0.settle(id: settle, as: decision) }
            print(row.line)
            return
        }
        guard let config else { throw CommandError("reconcile needs --config FILE (the backends to ask), or --settle") }
        let file: ConfigFile
        do {
            file = try ConfigFile.load(path: config)
        } catch {
            throw CommandError("\(error)")
        }
        let seconds = olderThan
        let report = try await access.with { reconciler in
            try await reconciler.reconcile(
                backends: file.backends.map { $0.reconcilable(client: reconciler.client) },
                olderThan: .seconds(seconds))
        }
        for id in report.applied { print("\(id)\tapplied (the backend holds it)") }
        for id in report.failed { print("\(id)\tfailed (the backend holds nothing of it)") }
        for (row, why) in report.undecided {
            print("\(row.line)\n\tdecide: \(why); then stockgate reconcile --settle \(row.id) --as applied|failed")
        }
        FileHandle.standardError.write(
            Data(
                "\(report.applied.count) settled applied, \(report.failed.count) settled failed, \(report.undecided.count) left for a person\n"
                    .utf8))
        if !report.undecided.isEmpty { throw ExitCode(1) }
    }
}
