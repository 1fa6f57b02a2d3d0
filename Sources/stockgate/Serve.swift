import ArgumentParser
import ContractTesting
import CurlHTTP
import Dialects
import Foundation
import Gateway
import Ledger
import Logging
import NIOCore
import Operations
import PostgresStore
import ServiceLifecycle
import Simulator
import StockCore
import Synchronization
import UnixSignals

/// `stockgate serve`: the gateway on the embedded ledger.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway (embedded SQLite ledger unless configured otherwise).",
        discussion: """
            Every option, and every key of the config file's server section, can also be set by its
            environment variable: \(Setting.variablesHelp) (a switch by 1, true or yes).
            Precedence: flag, then environment, then the config file, then the default. \
            `stockgate check` lists each setting's value; docs/configuration.md has the table.
            """)

    @Option(help: ArgumentHelp(Setting.named("host").help))
    var host: String?

    @Option(help: ArgumentHelp(Setting.named("port").help))
    var port: Int?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp(Setting.named("data_dir").help))
    var dataDir: String?

    @Option(help: ArgumentHelp(Setting.named("mappings").help))
    var mappings: String?

    @Option(help: ArgumentHelp(Setting.named("database").help))
    var database: String?

    @Option(name: .customLong("contract-tests"), help: ArgumentHelp(Setting.named("contract_tests").help))
    var contractTests: String?

    @Option(help: ArgumentHelp(Setting.named("replay").help))
    var replay: String?

    @Option(help: ArgumentHelp(Setting.named("config").help))
    var config: String?

    @Flag(name: .customLong("enable-test-reset"), help: ArgumentHelp(Setting.named("enable_test_reset").help))
    var enableTestReset = false

    @Flag(name: .customLong("enable-faults"), help: ArgumentHelp(Setting.named("enable_faults").help))
    var enableFaults = false

    @Flag(name: .customLong("enable-webhooks"), help: ArgumentHelp(Setting.named("enable_webhooks").help))
    var enableWebhooks = false

    @Flag(name: .customLong("allow-anonymous"), help: ArgumentHelp(Setting.named("allow_anonymous").help))
    var allowAnonymous = false

    @Flag(name: .customLong("record-missing"), help: ArgumentHelp(Setting.named("record_missing").help))
    var recordMissing = false

    @Option(name: .customLong("log-level"), help: ArgumentHelp(Setting.named("log_level").help))
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp(Setting.named("log_format").help))
    var logFormat: String?

    var flags: ServeSettings.Flags {
        var flags = ServeSettings.Flags(
            [
                "host": host, "port": port.map(String.init), "data_dir": dataDir, "mappings": mappings,
                "config": config, "log_level": logLevel, "log_format": logFormat, "database": database,
                "contract_tests": contractTests, "replay": replay,
            ], enableTestReset: enableTestReset, allowAnonymous: allowAnonymous, enableFaults: enableFaults)
        flags.enableWebhooks = enableWebhooks
        flags.recordMissing = recordMissing
        return flags
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        Self.suggestEventLoops(environment: environment)
        var read = try ServeSettings.read(flags: flags, environment: environment)
        LineLogHandler.bootstrap(format: read.logFormat == "json" ? .json : .text, level: read.logLevel)
        let logger = Logger(label: "stockgate")
        read.configuration.maxConnections = try Self.connectionBudget(read, logger: logger)
        let settings = read
        let catalog = try Self.loadCatalog(settings, logger: logger)
        let (storage, storageService) = try await Self.openStorage(settings, catalog: catalog, logger: logger)
        let client = CurlHTTPClient()
        let gateway: Gateway
        let metrics = GatewayMetrics()
        metrics.configurationLoaded()
        // Kept across reloads, as the metrics are.
        let faults = settings.faults ? FaultSchedule() : nil
        // Once the store runs, what was committed and never queued (a crash in between) is sent;
        // a message id is queued once, so on PostgreSQL every instance may look.
        let pusher = Self.makePusher(
            settings, storage: storage, catalog: catalog, client: client, metrics: metrics, logger: logger)
        do {
            gateway = try Self.makeGateway(
                settings, catalog: catalog, storage: storage, client: client, metrics: metrics, faults: faults,
                pusher: pusher, logger: logger)
        } catch {
            await client.shutdown()
            try? (storage as? Ledger)?.close()
            throw error
        }
        let server = Self.makeServer(settings, gateway: gateway, logger: logger)
        // SIGINT/SIGTERM shut the services down in reverse order: the server drains its
        // requests, then the store closes (the ledger file, or the database pool), then the
        // HTTP client stops.
        let drainDelay = settings.configuration.drainDelay
        var parts: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: client), .init(service: storageService), .init(service: server),
        ]
        // Stops delivering webhooks after the server drained, before the store closes.
        if let pusher { parts.insert(.init(service: pusher), at: 2) }
        // The span exporter stops last: it sends what the drained requests recorded.
        if let tracing = try Self.tracingService(environment: settings.environment, logger: logger) {
            parts.insert(.init(service: tracing), at: 0)
        }
        let services = ServiceGroup(
            configuration: .init(
                services: parts,
                gracefulShutdownSignals: drainDelay > .zero ? [.sigint] : [.sigterm, .sigint], logger: logger))
        // Trapped before the server announces itself: from then on SIGHUP reloads, never kills.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloader = Reloader(
            flags: flags, started: settings, storage: storage, client: client, metrics: metrics, faults: faults,
            pusher: pusher, live: server.live, logger: logger)
        try await Self.run(
            services, live: server.live, reloader: reloader, hangups: hangups, settings: settings, logger: logger)
        logger.notice("StockGate stopped")
    }

    /// The server, announcing its addresses; a warning when it listens beyond loopback.
    static func makeServer(_ settings: ServeSettings, gateway: Gateway, logger: Logger) -> GatewayHTTPServer {
        let host = settings.configuration.host
        if !(["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")) {
            // StockGate speaks plain HTTP: on a network, credentials and stock travel readable.
            logger.warning(
                "listening beyond loopback without TLS: terminate TLS in front (nginx, HAProxy, a load balancer); docs/operations.md",
                metadata: ["host": "\(host)"])
        }
        return GatewayServer.makeServer(
            gateway: gateway, logger: logger,
            onServerRunning: { port in Self.announce(host: settings.configuration.host, port: port, logger: logger) },
            onAdminRunning: { port in
                let host = settings.configuration.adminListen.flatMap(GatewayConfiguration.hostAndPort)?.0 ?? "?"
                let shown = host.contains(":") ? "[\(host)]" : host
                FileHandle.standardOutput.write(Data("StockGate admin listening on http://\(shown):\(port)\n".utf8))
            })
    }

    /// Runs the services until a signal stops them: SIGHUP reloads, SIGTERM drains first when
    /// a drain delay is set; a listening address that cannot be had is one line and exit 1.
    static func run(
        _ services: ServiceGroup, live: ServedGateway, reloader: Reloader, hangups: UnixSignalsSequence,
        settings: ServeSettings, logger: Logger
    ) async throws {
        let drainDelay = settings.configuration.drainDelay
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await services.run() }
                tasks.addTask {
                    for await _ in hangups { reloader.reload() }
                }
                if drainDelay > .zero {
                    // SIGTERM: readiness fails first, new connections are still served for the
                    // delay, then the shutdown above runs (listener closed, requests drained).
                    let terms = await UnixSignalsSequence(trapping: .sigterm)
                    tasks.addTask {
                        for await _ in terms {
                            live.beginDraining()
                            logger.notice(
                                "SIGTERM: draining", metadata: ["drain_delay_seconds": "\(drainDelay.timeInterval)"])
                            try? await Task.sleep(for: drainDelay)
                            await services.triggerGracefulShutdown()
                        }
                    }
                }
                try await tasks.next()
                tasks.cancelAll()
            }
        } catch let error as IOError where [EADDRINUSE, EACCES, EADDRNOTAVAIL].contains(error.errnoCode) {
            let address = "\(settings.configuration.host):\(settings.configuration.port)"
            let why =
                switch error.errnoCode {
                case EADDRINUSE: "the address is already in use (another process listens there)"
                case EACCES: "permission denied (ports below 1024 need privileges)"
                default: "the host is not an address of this machine"
                }
            throw CommandError("cannot listen on \(address): \(why)", exitCode: 1)
        }
    }

    static func loadCatalog(_ settings: ServeSettings, logger: Logger) throws(CommandError) -> Catalog {
        let directory = settings.configuration.mappingsDirectory
        let catalog: Catalog
        do {
            catalog = try CatalogLoader.load(directory: directory)
        } catch {
            throw CommandError(error.description)
        }
        logger.info(
            "catalog loaded",
            metadata: [
                "products": "\(catalog.products.count)", "locations": "\(catalog.locations.count)",
                "mappings": "\(directory)",
            ])
        return catalog
    }

    /// The embedded SQLite ledger, or the shared PostgreSQL with its migrations applied first
    /// (on a connection of their own, so the server never serves an older schema).
    static func openStorage(
        _ settings: ServeSettings, catalog: Catalog, logger: Logger
    ) async throws(CommandError) -> (any Storage, any Service) {
        guard let url = settings.database else {
            let ledger = try openLedger(settings, catalog: catalog)
            return (ledger, ledger)
        }
        guard let location = PostgresStore.Location(url: url) else {
            throw CommandError("database: '\(url.prefix(11))…' is not a postgres:// URL")
        }
        let databaseLogger = Logger(label: "stockgate.database")
        let place = "\(location.host):\(location.port)/\(location.database ?? location.username)"
        let migrator = PostgresStore(location: location, catalog: catalog, poolSize: 1, logger: databaseLogger)
        do {
            let applied = try await migrator.whileRunning { try await migrator.migrate() }
            logger.info(
                "database ready",
                metadata: [
                    "database": "\(place)", "migrations_applied": "\(applied)",
                    "schema": "\(PostgresStore.schemaVersion)",
                ])
        } catch {
            // "Unreachable" may be a login the server refused: say what it said (SQLSTATE).
            let cause = await migrator.diagnose().map { " (\($0))" } ?? ""
            throw CommandError("cannot prepare the database at \(place): \(error)\(cause)")
        }
        let store = PostgresStore(
            location: location, catalog: catalog, poolSize: settings.poolSize, logger: databaseLogger,
            idempotencyWindow: settings.configuration.idempotencyTTL.timeInterval)
        return (store, store)
    }

    static func openLedger(_ settings: ServeSettings, catalog: Catalog) throws(CommandError) -> Ledger {
        do {
            return try Ledger.open(
                directory: settings.configuration.dataDirectory, catalog: catalog,
                logger: Logger(label: "stockgate.ledger"),
                idempotencyWindow: settings.configuration.idempotencyTTL.timeInterval)
        } catch {
            throw CommandError("\(error)")
        }
    }

    /// The pipeline: backends and routes from the configuration, the embedded ledger the
    /// default and the journal, every configured secret scrubbed from what backends relay.
    static func makeGateway(
        _ settings: ServeSettings, catalog: Catalog, storage: any Storage, client: CurlHTTPClient,
        metrics: GatewayMetrics, faults: FaultSchedule? = nil, pusher: PusherHub? = nil, logger: Logger
    ) throws(CommandError) -> Gateway {
        let backends: (fallback: any StockBackend, routes: [DialectID: any StockBackend])
        do {
            backends = try Backends.make(
                settings.file, catalog: catalog, embedded: storage, client: client, logger: logger, metrics: metrics,
                environment: settings.environment, redactor: SecretRedactor(settings.clients.map(\.secret.value)))
        } catch {
            throw CommandError("\(error)")
        }
        for backend in settings.file.backends {
            logger.info(
                "backend configured",
                metadata: [
                    "backend": "\(backend.name)", "dialect": "\(backend.dialect)", "base_url": "\(backend.baseURL)",
                ])
        }
        if settings.testReset {
            logger.warning("test reset enabled: POST /stockgate/v1/test/reset empties the ledger")
        }
        if faults != nil {
            logger.warning("faults enabled: the faults scheduled at /stockgate/v1/test/faults are played")
        }
        if pusher != nil {
            logger.notice("webhooks enabled: Zettle's Pusher API is served and InventoryBalanceChanged is sent")
        }
        var replay: ReplayBook?
        if let directory = settings.replay {
            do {
                replay = try ReplayBook(directory: directory, logger: Logger(label: "stockgate.replay"))
            } catch {
                throw CommandError("replay: \(error)")
            }
            logger.notice(
                "replaying recorded answers",
                metadata: [
                    "directory": "\(directory)", "exchanges": "\(replay?.count ?? 0)",
                    "dialects": "\(replay?.dialects.joined(separator: ",") ?? "")",
                ])
        }
        var configuration = settings.configuration
        configuration.running = settings.runningDescription
        var testReset: (@Sendable () async throws -> Void)?
        if settings.testReset { testReset = { try await storage.reset() } }
        return Gateway(
            configuration: configuration, catalog: catalog, backend: backends.fallback, metrics: metrics,
            logger: logger, testReset: testReset,
            routes: backends.routes, clients: ClientAuthenticator(clients: settings.clients), faults: faults,
            openAPI: OpenAPI.Cache(casesDirectory: settings.contractTests, configuration: settings.configuration)
                .document, pusher: pusher,
            direct: replay.map { direct($0, settings, client: client, logger: logger) })
    }

    /// Zettle's Pusher API with `--enable-webhooks`: its subscriptions and undelivered messages
    /// kept in the store (the ledger's file, or the shared database), so a restart forgets
    /// neither and the instances of one database share them.
    static func makePusher(
        _ settings: ServeSettings, storage: any LedgerStore, catalog: Catalog, client: CurlHTTPClient,
        metrics: GatewayMetrics, logger: Logger
    ) -> PusherHub? {
        guard settings.webhooks else { return nil }
        return PusherHub(
            client: client,
            organization: settings.configuration.dialectSettings[ZettleCodec.dialect.rawValue]?["organization_uuid"],
            destinations: settings.configuration.webhookDestinations, metrics: metrics,
            state: storage as? any WebhookStateStore, ownsStore: storage is Ledger, recovery: (storage, catalog),
            logger: logger)
    }

    /// What answers in place of the pipeline: the recorded cases, and with `--record-missing`
    /// the configured backends for what they miss (`MissRecorder`).
    static func direct(
        _ book: ReplayBook, _ settings: ServeSettings, client: CurlHTTPClient, logger: Logger
    ) -> any DirectAnswerer {
        guard settings.recordMissing, let directory = settings.replay else { return book }
        var makers: [String: @Sendable () async throws -> Recorder] = [:]
        let secrets = settings.clients.map(\.secret.value)
        for backend in settings.file.backends where backend.dialect != "embedded" {
            let environment = settings.environment
            makers[backend.dialect] = {
                let access = try await Backends.directAccess(to: backend, client: client, environment: environment)
                let own = try backend.auth.resolve(environment: environment).secretValues
                return Recorder(
                    backend: backend.name, baseURL: backend.baseURL, client: access.client,
                    credentials: access.headers, secrets: own + secrets, directory: directory,
                    logger: Logger(label: "stockgate.record"))
            }
        }
        logger.notice(
            "recording what the cases miss", metadata: ["dialects": "\(makers.keys.sorted().joined(separator: ","))"])
        return MissRecorder(book: book, makers: makers, logger: Logger(label: "stockgate.replay"))
    }

    /// Event loops for the server: one per core but one, which is left to the curl thread and
    /// the ledger's commit thread (at least one loop). On this project's 2-core machines one loop
    /// beside them spent less CPU per request than two in nine of ten alternated cells (read
    /// and write, 1 to 64 connections; BENCHMARKS.md): two loops and the curl thread took turns
    /// on two cores, and each turn is a thread switch. `NIO_SINGLETON_GROUP_LOOP_COUNT`, SwiftNIO's
    /// own variable, still decides when it holds a number (SwiftNIO ignores anything else, and so
    /// does this: empty counts as unset). Set before anything uses NIO's singletons, and once:
    /// SwiftNIO stops the process on a second setting.
    static func suggestEventLoops(environment: [String: String]) {
        guard environment["NIO_SINGLETON_GROUP_LOOP_COUNT"].flatMap(Int.init) == nil,
            !loopsSuggested.exchange(true, ordering: .relaxed)
        else { return }
        NIOSingletons.groupLoopCountSuggestion = max(1, System.coreCount - 1)
    }
    private static let loopsSuggested = Atomic<Bool>(false)

    /// The client connections the descriptor limit allows (`ConnectionBudget`): never run out of
    /// descriptors (libdispatch traps when it cannot open /proc); client connections get what
    /// the limit leaves after backends, the database and the process, at most the configured.
    static func connectionBudget(_ settings: ServeSettings, logger: Logger) throws -> Int {
        let budget: ConnectionBudget
        do {
            budget = try ConnectionBudget(
                configured: settings.configuration.maxConnections,
                descriptorLimit: ConnectionBudget.raiseDescriptorLimit(),
                backendConnections: CurlHTTPClient.Configuration().maxTotalConnections,
                databaseConnections: settings.database == nil ? 0 : settings.poolSize)
        } catch {
            throw CommandError(error.description, exitCode: 1)
        }
        if budget.maxConnections < settings.configuration.maxConnections {
            logger.notice(
                "max_connections lowered to what the descriptor limit allows",
                metadata: [
                    "max_connections": "\(budget.maxConnections)", "descriptor_limit": "\(budget.descriptorLimit)",
                    "reserved": "\(budget.reserved)",
                ])
        }
        return budget.maxConnections
    }

    /// One line on standard output, whatever the log level: with `--port 0` it is how a
    /// script (or a test) learns the port the kernel picked.
    static func announce(host: String, port: Int, logger: Logger) {
        logger.notice("StockGate listening", metadata: ["address": "\(host):\(port)"])
        FileHandle.standardOutput.write(Data("StockGate listening on http://\(host):\(port)\n".utf8))
    }
}
