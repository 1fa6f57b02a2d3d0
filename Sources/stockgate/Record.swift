import ArgumentParser
import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import Gateway
import Ledger
import Logging
import ServiceLifecycle
import StockCore

/// `stockgate record`: a relay to a real vendor that writes what it answered as contract
/// cases, which `stockgate serve --replay` answers from (docs/simulator.md).
struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relay requests to a configured backend and write each exchange as a contract case.",
        discussion: """
            Listens like `serve` and relays every request of a dialect's routes to the backend
            named by --backend (its base_url, TLS settings and credentials from --config) over
            libcurl, answering with what the backend answered. Each exchange of the routes named
            by --routes (default: all) is written to OUT/<dialect>/recorded-<route>-<method>-<hash>.json:
            credentials scrubbed (the backend's secrets are checked absent), UUIDs, times and
            identifiers of the answer turned into matchers, the answer as received kept for
            replay. Recording the same request again rewrites its file and no other.
            """)

    @Option(help: "The YAML configuration file that names the backend.")
    var config: String

    @Option(help: "The backend (its name in the configuration's backends list) to relay to.")
    var backend: String

    @Option(help: "The directory cases are written to (<out>/<dialect>/…).")
    var out: String

    @Option(help: "Comma-separated route names to write (e.g. inventory.update,rpc); every route by default.")
    var routes: String?

    @Flag(
        name: .customLong("data-as-matchers"),
        help:
            "Record the answers' data by its shape ($decimal for numbers, $each for lists), so the cases hold once the vendor's stock has moved."
    )
    var dataAsMatchers = false

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free port).")
    var port: Int?

    @Option(help: "Directory with products.csv and locations.csv (default ./mappings).")
    var mappings: String?

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    func run() async throws {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("stockgate-record-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let settings = try ServeSettings.read(
            flags: ServeSettings.Flags([
                "host": host, "port": port.map(String.init), "mappings": mappings, "config": config,
                "log_level": logLevel, "data_dir": scratch,
            ]),
            environment: ProcessInfo.processInfo.environment)
        LineLogHandler.bootstrap(format: settings.logFormat == "json" ? .json : .text, level: settings.logLevel)
        let logger = Logger(label: "stockgate.record")
        guard let target = settings.file.backends.first(where: { $0.name == backend }) else {
            let known = settings.file.backends.map(\.name).joined(separator: ", ")
            throw CommandError("--backend: no backend '\(backend)' in \(config) (backends: \(known))", exitCode: 64)
        }
        guard target.dialect != "embedded" else {
            throw CommandError("--backend: '\(backend)' is the embedded ledger; name a vendor's backend", exitCode: 64)
        }
        let wanted = try Self.routeNames(routes)
        let catalog = try Serve.loadCatalog(settings, logger: logger)
        let client = CurlHTTPClient()
        let recorder: Recorder
        let ledger: Ledger
        do {
            let access = try await Backends.directAccess(
                to: target, client: client, environment: settings.environment)
            let secrets = try target.auth.resolve(environment: settings.environment).secretValues
            recorder = Recorder(
                backend: target.name, baseURL: target.baseURL, client: access.client, credentials: access.headers,
                secrets: secrets + settings.clients.map(\.secret.value), directory: out, routes: wanted,
                dataAsMatchers: dataAsMatchers, logger: logger)
            ledger = try Ledger.open(directory: scratch, catalog: catalog, logger: Logger(label: "stockgate.ledger"))
        } catch {
            await client.shutdown()
            throw CommandError("\(error)")
        }
        let gateway = Gateway(
            configuration: settings.configuration, catalog: catalog, backend: ledger, logger: logger,
            clients: ClientAuthenticator(clients: settings.clients), direct: recorder)
        let server = GatewayServer.makeServer(gateway: gateway, logger: logger) { port in
            Serve.announce(host: settings.configuration.host, port: port, logger: logger)
        }
        logger.notice(
            "recording",
            metadata: [
                "backend": "\(target.name)", "dialect": "\(target.dialect)", "out": "\(out)",
                "routes": "\(wanted.map { $0.sorted().joined(separator: ",") } ?? "all")",
            ])
        let services = ServiceGroup(
            configuration: .init(
                services: [.init(service: client), .init(service: ledger), .init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await services.run()
    }

    /// The routes named, each checked against the dialects' route tables.
    static func routeNames(_ list: String?) throws -> Set<String>? {
        guard let list else { return nil }
        let names = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let known = Set(
            DialectRegistry.ids.flatMap { id in
                DialectRegistry.dialect(id)?.inboundCodec().routeDescriptions.map(\.name) ?? []
            })
        for name in names where !known.contains(name) {
            throw CommandError(
                "--routes: no route '\(name)' (routes: \(known.sorted().joined(separator: ", ")))", exitCode: 64)
        }
        return names
    }
}
