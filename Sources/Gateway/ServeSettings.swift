import Configuration
import Foundation
import Logging
import Simulator
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
        public var recordMissing: Bool = false

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
    public static let flagKeys = Set(Setting.all.filter(\.hasFlag).map(\.key))

    /// Each setting's value as read from its layers (flag, variable, file), by key; unset ones
    /// are absent. What `check` lists and what a reload compares.
    public var effective: [String: String] = [:]

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
    /// With `replay`: a miss is relayed to the dialect's backend and recorded (`MissRecorder`).
    public var recordMissing: Bool = false
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
        for (key, source) in [
            ("database_env", file.storage["database_env"].map(SecretSource.environment)),
            ("database_file", file.storage["database_file"].map(SecretSource.file)),
        ] where database == nil {
            guard let source else { continue }
            do {
                database = try source.read(environment: environment).value
            } catch {
                throw CommandError("storage.\(key): \(error)")
            }
        }
        if let database, !(database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")) {
            throw CommandError(
                "database must be a postgres:// URL (from --database, STOCKGATE_DATABASE or storage.database)")
        }
        let poolSize = try reader.integer("pool_size") ?? 16

        var configuration = GatewayConfiguration()
        if let host = reader.text("host") { configuration.host = host }
        if let port = try reader.integer("port") { configuration.port = port }
        if let directory = reader.text("data_dir") { configuration.dataDirectory = directory }
        if let directory = reader.text("mappings") { configuration.mappingsDirectory = directory }
        if let bytes = try reader.integer("max_body_bytes") { configuration.maxBodyBytes = bytes }
        if let depth = try reader.integer("max_json_depth") { configuration.maxJSONDepth = depth }
        if let values = try reader.integer("max_json_values") {
            configuration.maxJSONValues = values
        }
        if let hours = try reader.seconds("idempotency_ttl_hours") {
            configuration.idempotencyTTL = .seconds(hours * 3600)
        }
        if let items = try reader.integer("max_batch_items") { configuration.maxBatchItems = items }
        if let count = try reader.integer("max_concurrent_requests") {
            configuration.maxConcurrentRequests = count
        }
        if let count = try reader.integer("max_connections") { configuration.maxConnections = count }
        if let address = reader.text("admin_listen") {
            guard GatewayConfiguration.hostAndPort(address) != nil else {
                throw CommandError(
                    "admin_listen must be host:port, such as 127.0.0.1:9901, got '\(address)' (from \(reader.places("admin_listen")))"
                )
            }
            configuration.adminListen = address
        }
        if let count = try reader.integer("auth_failures_per_minute") {
            configuration.authFailuresPerMinute = count
        }
        if let seconds = try reader.seconds("drain_timeout_seconds") { configuration.drainTimeout = .seconds(seconds) }
        if let list = reader.text("webhook_allowed_networks") {
            switch DestinationPolicy.parse(list) {
            case .success(let policy): configuration.webhookDestinations = policy
            case .failure(let error):
                throw CommandError(
                    "webhook_allowed_networks: '\(error.entry)' is not a network such as 10.0.0.0/8 or 127.0.0.1 (from \(reader.places("webhook_allowed_networks")))"
                )
            }
        }
        if let seconds = try reader.seconds("request_timeout_seconds") {
            configuration.requestTimeout = .seconds(seconds)
        }
        if let seconds = try reader.seconds("idle_timeout_seconds") { configuration.idleTimeout = .seconds(seconds) }
        if let seconds = try reader.seconds("drain_delay_seconds") {
            configuration.drainDelay = .seconds(seconds)
        }
        for (dialect, settings) in file.dialects { configuration.dialectSettings[dialect] = settings }

        let logLevel = Logger.Level(rawValue: try reader.choice("log_level") ?? "info") ?? .info
        let logFormat = try reader.choice("log_format") ?? "text"

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
        settings.recordMissing = flags.recordMissing || reader.flag("record_missing")
        if settings.recordMissing && settings.replay == nil {
            throw CommandError("record_missing needs replay: a directory to record the missing answers into")
        }
        settings.effective = reader.effective(flags: flags)
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

        /// Every place `key` can be given, for a message.
        func places(_ key: String) -> String {
            let setting = Setting.named(key)
            let flag = setting.hasFlag ? "\(setting.flag), " : ""
            let line = file.serverLines[key].map { ", \(file.path):\($0)" } ?? ""
            return "\(flag)\(setting.variable)" + (setting.fileKey.map { " or \($0)\(line)" } ?? "")
        }

        /// Each setting's value from its layers; the `enable_*` and `allow_anonymous` flags as
        /// `on` when set by flag or variable.
        func effective(flags: Flags) -> [String: String] {
            var values: [String: String] = [:]
            for setting in Setting.all where setting.place != .storageFileOnly {
                if setting.kind == .flag {
                    let given =
                        switch setting.key {
                        case "enable_test_reset": flags.enableTestReset
                        case "enable_faults": flags.enableFaults
                        case "enable_webhooks": flags.enableWebhooks
                        case "record_missing": flags.recordMissing
                        case "allow_anonymous": flags.allowAnonymous
                        default: false
                        }
                    values[setting.key] = given || flag(setting.key) ? "on" : "off"
                } else if let value = text(setting.key) {
                    values[setting.key] = value
                }
            }
            for key in ["database_env", "database_file"] { values[key] = file.storage[key] }
            return values
        }

        /// One of the setting's choices (lower-cased).
        func choice(_ key: String) throws(CommandError) -> String? {
            guard let value = text(key)?.lowercased() else { return nil }
            guard case .choice(let choices) = Setting.named(key).kind, choices.contains(value) else {
                let choices = if case .choice(let all) = Setting.named(key).kind { all } else { [String]() }
                throw CommandError(
                    "\(key) must be \(Self.oneOf(choices)), got '\(value)' (from \(places(key)))")
            }
            return value
        }

        static func oneOf(_ choices: [String]) -> String {
            choices.count < 2
                ? choices.joined() : choices.dropLast().joined(separator: ", ") + " or " + choices.last!
        }

        func integer(_ key: String) throws(CommandError) -> Int? {
            guard case .integer(let range) = Setting.named(key).kind else {
                preconditionFailure("\(key) is not an integer setting")
            }
            guard let value = text(key) else { return nil }
            guard let number = Int(value), range.contains(number) else {
                throw CommandError(
                    "\(key) must be an integer \(range.lowerBound) to \(range.upperBound), got '\(value)' (from \(places(key)))"
                )
            }
            return number
        }

        func seconds(_ key: String) throws(CommandError) -> Double? {
            guard case .seconds(let allowZero) = Setting.named(key).kind else {
                preconditionFailure("\(key) is not a duration setting")
            }
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
