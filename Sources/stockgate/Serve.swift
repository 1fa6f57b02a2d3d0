import ArgumentParser
import CurlHTTP
import Foundation
import Gateway
import Ledger
import Logging
import StockCore

/// `stockgate serve`: the gateway on the embedded ledger.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway (embedded SQLite ledger unless configured otherwise).",
        discussion: """
            Every option can also be set by an environment variable (STOCKGATE_HOST, STOCKGATE_PORT,
            STOCKGATE_DATA_DIR, STOCKGATE_MAPPINGS, STOCKGATE_CONFIG, STOCKGATE_LOG_LEVEL).
            Precedence: flag, then environment, then the config file, then the default.
            """)

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free port).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory of the ledger database (default ./.stockgate).")
    var dataDir: String?

    @Option(help: "Directory with products.csv and locations.csv (default ./mappings).")
    var mappings: String?

    @Option(help: "Optional YAML configuration file.")
    var config: String?

    @Flag(
        name: .customLong("enable-test-reset"),
        help:
            "Serve POST /stockgate/v1/test/reset, which empties the ledger (contract testing only, never in production)."
    )
    var enableTestReset = false

    @Flag(
        name: .customLong("allow-anonymous"),
        help: "Serve without client credentials on a non-loopback address (refused otherwise).")
    var allowAnonymous = false

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func setting(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        let levelText = setting(logLevel, "STOCKGATE_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ValidationError("unknown log level '\(levelText)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "stockgate")

        var configuration = GatewayConfiguration()
        var explicit = Set<String>()
        if let value = setting(host, "STOCKGATE_HOST") {
            configuration.host = value
            explicit.insert("host")
        }
        if let value = setting(port.map(String.init), "STOCKGATE_PORT") {
            guard let number = Int(value), (0...65535).contains(number) else {
                throw ValidationError("port must be 0 to 65535, got '\(value)'")
            }
            configuration.port = number
            explicit.insert("port")
        }
        if let value = setting(dataDir, "STOCKGATE_DATA_DIR") {
            configuration.dataDirectory = value
            explicit.insert("data-dir")
        }
        if let value = setting(mappings, "STOCKGATE_MAPPINGS") {
            configuration.mappingsDirectory = value
            explicit.insert("mappings")
        }
        var file = ConfigFile()
        if let path = setting(config, "STOCKGATE_CONFIG") {
            do {
                file = try ConfigFile.load(path: path)
                configuration.apply(file, explicitlySet: explicit)
            } catch {
                FileHandle.standardError.write(Data("stockgate: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }

        var clientList: [ClientAuthenticator.Client] = []
        do {
            for client in file.clients {
                clientList.append(.init(name: client.name, secret: try client.secret.read(), dialects: client.dialects))
            }
        } catch {
            FileHandle.standardError.write(Data("stockgate: client credentials: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let loopback =
            ["127.0.0.1", "::1", "localhost"].contains(configuration.host) || configuration.host.hasPrefix("127.")
        if clientList.isEmpty && !loopback && !(allowAnonymous || environment["STOCKGATE_ALLOW_ANONYMOUS"] == "1") {
            FileHandle.standardError.write(
                Data(
                    "stockgate: refusing to listen on \(configuration.host) with no client credentials configured (add 'clients' to the config, or pass --allow-anonymous)\n"
                        .utf8))
            throw ExitCode(2)
        }

        let catalog: Catalog
        do {
            catalog = try CatalogLoader.load(directory: configuration.mappingsDirectory)
        } catch {
            FileHandle.standardError.write(Data("stockgate: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        logger.info(
            "catalog loaded",
            metadata: [
                "products": "\(catalog.products.count)", "locations": "\(catalog.locations.count)",
                "mappings": "\(configuration.mappingsDirectory)",
            ])
        let ledger: Ledger
        do {
            ledger = try Ledger.open(
                directory: configuration.dataDirectory, catalog: catalog, logger: Logger(label: "stockgate.ledger"),
                idempotencyWindow: configuration.idempotencyTTL)
        } catch {
            FileHandle.standardError.write(Data("stockgate: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let resetAllowed = enableTestReset || environment["STOCKGATE_ENABLE_TEST_RESET"] == "1"
        if resetAllowed { logger.warning("test reset enabled: POST /stockgate/v1/test/reset empties the ledger") }
        let reset: (@Sendable () async throws -> Void)? = resetAllowed ? { @Sendable in try await ledger.reset() } : nil
        let metrics = GatewayMetrics()
        let backends: (fallback: any StockBackend, routes: [String: any StockBackend], clients: [CurlHTTPClient])
        do {
            // Every configured secret is scrubbed from what any backend's messages relay.
            let redactor = SecretRedactor(clientList.map(\.secret.value))
            backends = try Backends.make(
                file, catalog: catalog, embedded: ledger, logger: logger, metrics: metrics, redactor: redactor)
        } catch {
            FileHandle.standardError.write(Data("stockgate: \(error)\n".utf8))
            throw ExitCode(2)
        }
        for backend in file.backends {
            logger.info(
                "backend configured",
                metadata: [
                    "backend": "\(backend.name)", "dialect": "\(backend.dialect)", "base_url": "\(backend.baseURL)",
                ])
        }
        let gateway = Gateway(
            configuration: configuration, catalog: catalog, backend: backends.fallback, metrics: metrics,
            logger: logger,
            testReset: reset,
            routes: backends.routes, clients: ClientAuthenticator(clients: clientList))
        let host = configuration.host
        let app = GatewayServer.makeApplication(gateway: gateway, logger: logger) { port in
            logger.notice("StockGate listening", metadata: ["address": "\(host):\(port)"])
            // One line on standard output, whatever the log level: with `--port 0` it is how
            // a script (or a test) learns the port the kernel picked.
            FileHandle.standardOutput.write(Data("StockGate listening on http://\(host):\(port)\n".utf8))
        }
        // runService drains in-flight requests on SIGINT/SIGTERM before it returns.
        try await app.runService()
        for client in backends.clients { await client.shutdown() }
        try ledger.close()
        logger.notice("StockGate stopped")
    }
}
