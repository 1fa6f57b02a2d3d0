/// Every setting `stockgate serve` reads, named once: its key, where it may be given (a flag,
/// its `STOCKGATE_*` variable, a section of the config file), its type and range, its default,
/// whether it is a secret and whether SIGHUP applies it. Reading (`ServeSettings`), `serve
/// --help`, `check`'s listing, the reload's restart-only warning, the config file's known keys
/// and docs/configuration.md's table (`SettingsTableTests`) all come from this list.
public struct Setting: Sendable {
    public enum Kind: Sendable, Equatable {
        case text
        case integer(ClosedRange<Int>)
        /// A number of seconds (or hours, for `idempotency_ttl_hours`): > 0, or ≥ 0.
        case seconds(allowZero: Bool)
        case choice([String])
        /// On when `1`, `true` or `yes`.
        case flag
    }

    /// Where it may be written besides its variable.
    public enum Place: Sendable, Equatable {
        /// A flag, the variable and the file's `server` section.
        case server
        /// The variable and the file's `storage` section (`pool_size`; `database` has a flag too).
        case storage
        /// The file's `storage` section only (where a secret is read from).
        case storageFileOnly
        /// A flag and the variable only.
        case command
    }

    public let key: String
    public let place: Place
    public let kind: Kind
    /// The default as documented (nil: unset).
    public let defaultValue: String?
    /// One line: `--help` and the docs' table.
    public let summary: String
    /// `serve` has a flag for it.
    public let hasFlag: Bool
    /// Never printed (`check` says only that it is set).
    public let secret: Bool
    /// SIGHUP applies it; otherwise a change waits for a restart (and the reload says so).
    public let reloadable: Bool

    public var flag: String { "--" + key.replacingOccurrences(of: "_", with: "-") }
    public var variable: String { "STOCKGATE_" + key.uppercased() }
    /// `server.port`, `storage.pool_size`, nil when the file cannot hold it.
    public var fileKey: String? {
        switch place {
        case .server: "server." + key
        case .storage, .storageFileOnly: "storage." + key
        case .command: nil
        }
    }

    init(
        _ key: String, _ place: Place, _ kind: Kind, default defaultValue: String?, flag: Bool = false,
        secret: Bool = false, reloadable: Bool = false, _ summary: String
    ) {
        self.key = key
        self.place = place
        self.kind = kind
        self.defaultValue = defaultValue
        self.summary = summary
        self.hasFlag = flag
        self.secret = secret
        self.reloadable = reloadable
    }
}

extension Setting {
    /// Every setting, in the order `--help`, `check` and the docs list them.
    public static let all: [Setting] = [
        Setting("host", .server, .text, default: "127.0.0.1", flag: true, "address to listen on"),
        Setting(
            "port", .server, .integer(0...65535), default: "8080", flag: true, "port to listen on (0 picks a free one)"),
        Setting("data_dir", .server, .text, default: "./.stockgate", flag: true, "where the ledger database lives"),
        Setting(
            "mappings", .server, .text, default: "./mappings", flag: true, reloadable: true,
            "the catalog directory (products.csv, locations.csv)"),
        Setting("config", .command, .text, default: nil, flag: true, "the YAML configuration file"),
        Setting(
            "log_level", .command, .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]),
            default: "info", flag: true, "swift-log level"),
        Setting(
            "log_format", .server, .choice(["text", "json"]), default: "text", flag: true,
            "text, or json: one object per line"),
        Setting(
            "database", .storage, .text, default: nil, flag: true, secret: true,
            "a shared PostgreSQL (postgres://user@host:port/db) instead of the embedded SQLite ledger"),
        Setting(
            "database_env", .storageFileOnly, .text, default: nil,
            "the environment variable holding the database URL (with its password)"),
        Setting(
            "database_file", .storageFileOnly, .text, default: nil,
            "the file holding the database URL (with its password)"),
        Setting("pool_size", .storage, .integer(1...1000), default: "16", "database connections per instance"),
        Setting(
            "max_body_bytes", .server, .integer(1...Int(Int32.max)), default: "4194304",
            "larger request bodies get 413"),
        Setting(
            "max_json_depth", .server, .integer(1...1000), default: "32", reloadable: true,
            "deeper JSON bodies are refused"),
        Setting(
            "max_json_values", .server, .integer(1...Int(Int32.max)), default: "100000", reloadable: true,
            "most values one JSON body may hold (413 above)"),
        Setting(
            "idempotency_ttl_hours", .server, .seconds(allowZero: false), default: "24",
            "how long an Idempotency-Key's answer is kept"),
        Setting(
            "max_batch_items", .server, .integer(1...1_000_000), default: "1000", reloadable: true,
            "most movements in one request"),
        Setting(
            "max_concurrent_requests", .server, .integer(1...1_000_000), default: "512", reloadable: true,
            "requests handled at once; more get 429"),
        Setting(
            "max_connections", .server, .integer(1...10_000_000), default: "10000",
            "client connections open at once; more get 503 (lowered to the descriptor budget)"),
        Setting(
            "request_timeout_seconds", .server, .seconds(allowZero: false), default: "30",
            "a body, read or not, slower than this gets 408"),
        Setting(
            "idle_timeout_seconds", .server, .seconds(allowZero: false), default: "60",
            "a connection waiting longer for its next request is closed"),
        Setting(
            "drain_delay_seconds", .server, .seconds(allowZero: true), default: "0",
            "on SIGTERM, how long readiness fails before the listener closes"),
        Setting(
            "drain_timeout_seconds", .server, .seconds(allowZero: false), default: "30",
            "a shutdown waits at most this long for requests in hand"),
        Setting(
            "auth_failures_per_minute", .server, .integer(1...1_000_000), default: "10",
            "failed credential checks a minute per address (and /Token user name) before 429"),
        Setting(
            "admin_listen", .server, .text, default: nil,
            "host:port of the admin listener (health, metrics, console, journal)"),
        Setting(
            "webhook_allowed_networks", .server, .text, default: nil,
            "CIDRs webhooks may reach besides public addresses"),
        Setting(
            "contract_tests", .command, .text, default: "contract-tests", flag: true, reloadable: true,
            "the contract cases the OpenAPI documents take their examples from"),
        Setting(
            "replay", .command, .text, default: nil, flag: true, reloadable: true,
            "answer the vendor dialects from the recorded cases under this directory"),
        Setting(
            "record_missing", .command, .flag, default: "off", flag: true,
            "with replay: a request no case answers goes to its dialect's configured backend and is recorded"),
        Setting(
            "enable_test_reset", .command, .flag, default: "off", flag: true,
            "serve POST /stockgate/v1/test/reset (contract testing only)"),
        Setting(
            "enable_faults", .command, .flag, default: "off", flag: true,
            "serve /stockgate/v1/test/faults and play its faults (testing only)"),
        Setting(
            "enable_webhooks", .command, .flag, default: "off", flag: true,
            "serve Zettle's Pusher API and send its webhooks"),
        Setting(
            "allow_anonymous", .command, .flag, default: "off", flag: true, reloadable: true,
            "listen beyond loopback without configured clients"),
    ]

    /// The setting named `key` (every key the code reads is listed: a missing one is a bug).
    public static func named(_ key: String) -> Setting {
        guard let setting = all.first(where: { $0.key == key }) else {
            preconditionFailure("no setting '\(key)' in Setting.all")
        }
        return setting
    }

    /// `--help`'s text: the summary and the default.
    public var help: String {
        summary + (defaultValue.map { " (default \($0))" } ?? "")
    }

    /// The `STOCKGATE_*` variables, for `serve --help`.
    public static var variablesHelp: String {
        all.filter { $0.place != .storageFileOnly }.map(\.variable).joined(separator: ", ")
    }

    /// `check`'s listing: each setting's value, where it came from is the layers' order; a
    /// secret only said to be set.
    public static func listing(_ effective: [String: String]) -> [String] {
        all.map { setting in
            let value: String
            if let given = effective[setting.key] {
                value = setting.secret ? "(set)" : given
            } else {
                value = setting.defaultValue.map { "\($0) (default)" } ?? "(unset)"
            }
            return "setting \(setting.key) = \(value)"
        }
    }

    /// docs/configuration.md's table of settings.
    public static var markdownTable: String {
        var lines = [
            "| setting | flag | variable | file | default | SIGHUP | meaning |", "|---|---|---|---|---|---|---|",
        ]
        for setting in all {
            let cells = [
                "`\(setting.key)`", setting.hasFlag ? "`\(setting.flag)`" : "—",
                setting.place == .storageFileOnly ? "—" : "`\(setting.variable)`",
                setting.fileKey.map { "`\($0)`" } ?? "—", setting.defaultValue.map { "`\($0)`" } ?? "unset",
                setting.reloadable ? "applied" : "restart", setting.summary,
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
