import Configuration
import Foundation
import Logging
import StockCore

/// Why a `stockgate` command failed: one line for a person, and the exit status. Every
/// start-up failure (settings, config file, catalog, data directory) and every command's own
/// failure becomes one, and `main` prints it once.
public struct CommandError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    /// 2 for a usage or configuration problem (the default), 1 for a failure while running.
    public var exitCode: Int32

    public init(_ description: String, exitCode: Int32 = 2) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// What `stockgate serve` runs with, read in layers through swift-configuration: the flags
/// given, then `STOCKGATE_*` environment variables, then the `server` section of the config
/// file, then the defaults. A key `data_dir` is `--data-dir`, `STOCKGATE_DATA_DIR` and
/// `server.data_dir`; every `server` key of the file can be set in all three places.
public struct ServeSettings: Sendable {
    /// The options `stockgate serve` parsed, nil (or false) when not given.
    public struct Flags: Sendable {
        public var values: [String: String]
        public var enableTestReset: Bool
        public var allowAnonymous: Bool
        public var enableFaults: Bool
        public var enableWebhooks: Bool = false

        /// - Parameter values: by settings key (`host`, `port`, `data_dir`, `mappings`, `config`,
        ///   `log_level`); nil values are left out.
        public init(
            _ values: [String: String?], enableTestReset: Bool = false, allowAnonymous: Bool = false,
            enableFaults: Bool = false
        ) {
            self.values = values.compactMapValues { $0 }
            self.enableTestReset = enableTestReset
            self.allowAnonymous = allowAnonymous
            self.enableFaults = enableFaults
        }
    }

    /// The settings `stockgate serve` has a flag for.
    public static let flagKeys: Set<String> = [
        "host", "port", "data_dir", "mappings", "config", "log_level", "log_format", "database",
    ]

    public var configuration: GatewayConfiguration
    public var file: ConfigFile
    public var logLevel: Logger.Level
    /// `text` (swift-log's stream lines) or `json` (`LineLogHandler`).
    public var logFormat: String = "text"
    /// The contract cases the served OpenAPI documents take their examples from.
    public var contractTests: String = "contract-tests"
    /// `POST /stockgate/v1/test/reset` is served.
    public var testReset: Bool
    /// A directory of contract cases the vendor dialects are answered from (`--replay`), nil
    /// for the ledger.
    public var replay: String?
    /// `/stockgate/v1/test/faults` is served and its faults are played (issue 16).
    public var faults: Bool = false
    /// Zettle's Pusher API is served and its webhooks sent (issue 16).
    public var webhooks: Bool = false
    /// Who may call, with their secrets read.
    public var clients: [ClientAuthenticator.Client]
    /// Where the backends' `*_env` secrets are read.
    public var environment: [String: String]
    /// The shared PostgreSQL (`postgres://…`), or nil for the embedded SQLite ledger.
    public var database: String?
    /// Connections to it per instance.
    public var poolSize: Int

    /// Reads every layer and checks every value; nothing is opened or bound.
    public static func read(flags: Flags, environment: [String: String]) throws(CommandError) -> ServeSettings {
        let variables = environment.filter { $0.key.hasPrefix("STOCKGATE_") && !$0.value.isEmpty }
        var file = ConfigFile()
        if let path = layers(flags: flags.values, environment: variables, file: [:]).string(forKey: "config") {
            do {
                file = try ConfigFile.load(path: path)
            } catch {
                throw CommandError("\(error)")
            }
        }
        let reader = Reader(
            config: layers(
                flags: flags.values, environment: variables,
                file: file.server.merging(file.storage.filter { $0.key == "pool_size" || $0.key == "database" }) {
                    a, _ in a
                }),
            file: file)
        var database = reader.text("database")
        if database == nil, let variable = file.storage["database_env"] {
            guard let value = environment[variable], !value.isEmpty else {
                throw CommandError("storage.database_env: the environment variable \(variable) is not set")
            }
            database = value
        }
        if database == nil, let path = file.storage["database_file"] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandError("storage.database_file: cannot read \(path)")
            }
            database = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if let database, !(database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")) {
            throw CommandError(
                "database must be a postgres:// URL (from --database, STOCKGATE_DATABASE or storage.database)")
        }
        let poolSize = try reader.integer("pool_size", 1...1000) ?? 16

        var configuration = GatewayConfiguration()
        if let host = reader.text("host") { configuration.host = host }
        if let port = try reader.integer("port", 0...65535) { configuration.port = port }
        if let directory = reader.text("data_dir") { configuration.dataDirectory = directory }
        if let directory = reader.text("mappings") { configuration.mappingsDirectory = directory }
        if let bytes = try reader.integer("max_body_bytes", 1...Int(Int32.max)) { configuration.maxBodyBytes = bytes }
        if let depth = try reader.integer("max_json_depth", 1...1000) { configuration.maxJSONDepth = depth }
        if let values = try reader.integer("max_json_values", 1...Int(Int32.max)) {
            configuration.maxJSONValues = values
        }
        if let hours = try reader.seconds("idempotency_ttl_hours") { configuration.idempotencyTTL = hours * 3600 }
        if let items = try reader.integer("max_batch_items", 1...1_000_000) { configuration.maxBatchItems = items }
        if let count = try reader.integer("max_concurrent_requests", 1...1_000_000) {
            configuration.maxConcurrentRequests = count
        }
        if let count = try reader.integer("max_connections", 1...10_000_000) { configuration.maxConnections = count }
        if let address = reader.text("admin_listen") {
            guard GatewayConfiguration.hostAndPort(address) != nil else {
                throw CommandError(
                    "admin_listen must be host:port, such as 127.0.0.1:9901, got '\(address)' (from \(reader.places("admin_listen")))"
                )
            }
            configuration.adminListen = address
        }
        if let count = try reader.integer("auth_failures_per_minute", 1...1_000_000) {
            configuration.authFailuresPerMinute = count
        }
        if let seconds = try reader.seconds("drain_timeout_seconds") { configuration.drainTimeout = seconds }
        if let list = reader.text("webhook_allowed_networks") {
            switch DestinationPolicy.parse(list) {
            case .success(let policy): configuration.webhookDestinations = policy
            case .failure(let error):
                throw CommandError(
                    "webhook_allowed_networks: '\(error.entry)' is not a network such as 10.0.0.0/8 or 127.0.0.1 (from \(reader.places("webhook_allowed_networks")))"
                )
            }
        }
        if let seconds = try reader.seconds("request_timeout_seconds") { configuration.requestTimeout = seconds }
        if let seconds = try reader.seconds("idle_timeout_seconds") { configuration.idleTimeout = seconds }
        if let seconds = try reader.seconds("drain_delay_seconds", allowZero: true) {
            configuration.drainDelay = seconds
        }
        for (dialect, settings) in file.dialects { configuration.dialectSettings[dialect] = settings }

        let levelText = reader.text("log_level") ?? "info"
        guard let logLevel = Logger.Level(rawValue: levelText.lowercased()) else {
            throw CommandError(
                "log_level must be trace, debug, info, notice, warning, error or critical, got '\(levelText)'")
        }

        let logFormat = reader.text("log_format")?.lowercased() ?? "text"
        guard ["text", "json"].contains(logFormat) else {
            throw CommandError(
                "log_format must be text or json, got '\(logFormat)' (from \(reader.places("log_format")))")
        }

        var clients: [ClientAuthenticator.Client] = []
        for client in file.clients {
            do {
                clients.append(
                    .init(
                        name: client.name, secret: try client.secret.read(environment: environment),
                        dialects: client.dialects, roles: client.roles))
            } catch {
                throw CommandError("client credentials: \(error)")
            }
        }
        let host = configuration.host
        let loopback = ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
        let anonymous = flags.allowAnonymous || reader.flag("allow_anonymous")
        if clients.isEmpty && !loopback && !anonymous {
            throw CommandError(
                "refusing to listen on \(host) with no client credentials configured (add 'clients' to the config, or pass --allow-anonymous)"
            )
        }
        var settings = ServeSettings(
            configuration: configuration, file: file, logLevel: logLevel,
            testReset: flags.enableTestReset || reader.flag("enable_test_reset"), clients: clients,
            environment: environment, database: database, poolSize: poolSize)
        settings.logFormat = logFormat
        if let directory = reader.text("contract_tests") { settings.contractTests = directory }
        settings.replay = reader.text("replay")
        settings.faults = flags.enableFaults || reader.flag("enable_faults")
        settings.webhooks = flags.enableWebhooks || reader.flag("enable_webhooks")
        return settings
    }

    /// Flags over `STOCKGATE_*` variables over the file's `server` section, each key scoped
    /// under `stockgate` so that `data_dir` is the variable `STOCKGATE_DATA_DIR`.
    static func layers(flags: [String: String], environment: [String: String], file: [String: String]) -> ConfigReader {
        func provider(_ name: String, _ values: [String: String]) -> InMemoryProvider {
            var entries: [AbsoluteConfigKey: ConfigValue] = [:]
            for (key, value) in values {
                entries[AbsoluteConfigKey(["stockgate", key])] = ConfigValue(.string(value), isSecret: false)
            }
            return InMemoryProvider(name: name, values: entries)
        }
        return ConfigReader(providers: [
            provider("flags", flags),
            EnvironmentVariablesProvider(environmentVariables: environment),
            provider("config file", file),
        ]).scoped(to: "stockgate")
    }

    /// Typed reads with one message format naming every place a value can come from.
    struct Reader {
        let config: ConfigReader
        let file: ConfigFile

        func text(_ key: String) -> String? { config.string(forKey: ConfigKey(key)) }

        func flag(_ key: String) -> Bool { ["1", "true", "yes"].contains(text(key)?.lowercased() ?? "") }

        func places(_ key: String) -> String {
            let flag = ServeSettings.flagKeys.contains(key) ? "--\(key.replacingOccurrences(of: "_", with: "-")), " : ""
            let line = file.serverLines[key].map { ", \(file.path):\($0)" } ?? ""
            let section = ConfigFile.storageKeys.contains(key) ? "storage" : "server"
            return "\(flag)STOCKGATE_\(key.uppercased()) or \(section).\(key)\(line)"
        }

        func integer(_ key: String, _ range: ClosedRange<Int>) throws(CommandError) -> Int? {
            guard let value = text(key) else { return nil }
            guard let number = Int(value), range.contains(number) else {
                throw CommandError(
                    "\(key) must be an integer \(range.lowerBound) to \(range.upperBound), got '\(value)' (from \(places(key)))"
                )
            }
            return number
        }

        func seconds(_ key: String, allowZero: Bool = false) throws(CommandError) -> Double? {
            guard let value = text(key) else { return nil }
            guard let number = Double(value), number.isFinite, allowZero ? number >= 0 : number > 0,
                number <= 10_000_000
            else {
                let bound = allowZero ? "0 or more" : "greater than 0"
                throw CommandError("\(key) must be a number \(bound), got '\(value)' (from \(places(key)))")
            }
            return number
        }
    }
}
