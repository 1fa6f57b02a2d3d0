import Dialects
import Foundation
import StockCore
import Yams

/// Reading the configuration file.
///
/// The YAML file given with `--config` may hold a `server` section; every key is optional
/// and a flag or a `STOCKGATE_*` variable given on the command line wins over it:
///
/// ```yaml
/// server:
///   host: 127.0.0.1          # STOCKGATE_HOST,      --host
///   port: 8080               # STOCKGATE_PORT,      --port
///   data_dir: ./.stockgate   # STOCKGATE_DATA_DIR,  --data-dir
///   mappings: ./mappings     # STOCKGATE_MAPPINGS,  --mappings
///   max_body_bytes: 4194304  # largest request body accepted (413 above)
///   max_json_depth: 32       # deepest JSON nesting accepted (400 above)
///   max_json_values: 100000  # most values one JSON body may hold (413 above)
///   idempotency_ttl_hours: 24  # how long a write's answer is kept for repeats of its key
///   max_batch_items: 1000    # most movements in one request (each dialect may allow fewer)
///   max_concurrent_requests: 512  # more at once are answered 429
///   max_connections: 10000        # more open at once are answered 503 (lowered to the descriptor budget)
///   request_timeout_seconds: 30   # a body slower than this is answered 408
///   idle_timeout_seconds: 60      # idle keep-alive connections are closed after this
///   drain_delay_seconds: 0        # on SIGTERM: /readyz 503 at once, listener closed after this
///   drain_timeout_seconds: 30     # then requests in hand get this long; connections still open are closed
///   log_format: text              # or json: one object per line, millisecond UTC timestamps
///   auth_failures_per_minute: 10  # failed credential checks an address may make before 429
///   admin_listen: 127.0.0.1:9901  # health, metrics, console and journal here, not on the traffic port
///   webhook_allowed_networks: ""  # CIDRs webhooks may reach besides public addresses: 127.0.0.1/32, 10.0.0.0/8
/// ```
///
/// ```yaml
/// dialects:
///   zettle:
///     organization_uuid: 0b7c8a3e-…   # answered besides `self` in /organizations/{org}/…
/// ```
///
/// Unknown keys are refused, so a typo does not pass silently. Later sections (`backends`,
/// `routes`, `clients`) come with the features that use them.
public struct ConfigFile: Sendable, Equatable {
    /// The keys of the `server` section; `ServeSettings` reads each under its flag and its
    /// `STOCKGATE_*` variable.
    public static let serverKeys: [String] = [
        "host", "port", "data_dir", "mappings", "max_body_bytes", "max_json_depth", "max_json_values",
        "idempotency_ttl_hours", "max_batch_items", "max_concurrent_requests", "max_connections",
        "request_timeout_seconds", "idle_timeout_seconds", "drain_delay_seconds", "drain_timeout_seconds", "log_format",
        "webhook_allowed_networks", "auth_failures_per_minute", "admin_listen",
    ]

    /// The `server` section's scalars as written (typed and range-checked by `ServeSettings`,
    /// which knows every layer), with the line of each for messages.
    public var server: [String: String] = [:]
    public var serverLines: [String: Int] = [:]
    /// The `storage` section's scalars: `database` (a URL without a password), or
    /// `database_env` / `database_file` (where a URL with its password is read), and
    /// `pool_size`. `ServeSettings` layers them under `--database` / `STOCKGATE_DATABASE`.
    public var storage: [String: String] = [:]
    public static let storageKeys = ["database", "database_env", "database_file", "pool_size"]
    /// The file's path as given, for messages.
    public var path = "config"

    /// Each dialect's `dialects.<id>` settings, as strings; the keys each accepts are its
    /// `Dialect.settingKeys`, checked by its `Dialect.problem(settings:)`.
    public var dialects: [String: [String: String]] = [:]
    /// Remote backends (see `BackendConfiguration`).
    public var backends: [BackendConfiguration] = []
    /// Inbound dialect (or `default`) → backend name; `embedded` is the built-in ledger.
    public var routes: [String: String] = [:]
    /// Routes (inbound dialect or `default`) with `strict: true`: a movement whose data the
    /// backend would drop or cut short is refused instead of sent.
    public var strictRoutes: Set<String> = []

    /// Whether movements of an inbound dialect go out on a strict route.
    public func isStrict(_ dialect: String) -> Bool {
        strictRoutes.contains(routes[dialect] != nil ? dialect : "default")
    }

    /// A client allowed to call, with the dialects it may use and its roles.
    ///
    /// ```yaml
    /// clients:
    ///   - name: pos-terminals
    ///     dialects: [zettle]            # or [all]
    ///     secret_env: POS_TOKEN         # or secret_file: /run/secrets/pos
    ///   - name: prometheus
    ///     roles: [metrics]              # metrics, operator, test; no dialect: no stock
    ///     secret_file: /run/secrets/scrape
    /// ```
    public struct Client: Sendable, Equatable {
        public var name: String
        public var dialects: Set<String>
        public var secret: BackendConfiguration.SecretSource
        public var roles: Set<Role> = []
    }

    public var clients: [Client] = []

    /// One entry of `clients`: its name, where its secret is read, its dialects and roles.
    static func parseClient(_ node: Node, inbound: Set<String>, file: String) throws -> Client {
        guard let client = node.mapping else {
            throw Error(description: "\(file): each client must be a mapping")
        }
        try rejectUnknown(
            client, known: ["name", "dialects", "roles", "secret", "secret_env", "secret_file"],
            prefix: "clients[].",
            file: file)
        guard let name = client["name"]?.string, !name.isEmpty else {
            throw Error(description: "\(file):\(node.mark?.line ?? 0): a client needs a name")
        }
        if client["secret"] != nil {
            throw Error(
                description:
                    "\(file): client '\(name)': secret must not be written in the file: use secret_env or secret_file"
            )
        }
        let secret: BackendConfiguration.SecretSource
        if let variable = client["secret_env"]?.string {
            secret = .environment(variable)
        } else if let path = client["secret_file"]?.string {
            secret = .file(path)
        } else {
            throw Error(description: "\(file): client '\(name)' needs secret_env or secret_file")
        }
        let listed = client["dialects"]?.sequence?.compactMap(\.string) ?? []
        let dialects = listed.contains("all") ? inbound : Set(listed)
        guard dialects.isSubset(of: inbound) else {
            throw Error(
                description:
                    "\(file): client '\(name)': dialects must list some of \(inbound.sorted().joined(separator: ", ")) or all"
            )
        }
        var roles: Set<Role> = []
        for text in client["roles"]?.sequence?.compactMap(\.string) ?? [] {
            guard let role = Role(rawValue: text) else {
                throw Error(
                    description:
                        "\(file): client '\(name)': unknown role '\(text)' (roles are \(Role.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            roles.insert(role)
        }
        guard !dialects.isEmpty || !roles.isEmpty else {
            throw Error(description: "\(file): client '\(name)' needs dialects, roles or both")
        }
        return Client(name: name, dialects: dialects, secret: secret, roles: roles)
    }

    static func rejectUnknown(_ mapping: Node.Mapping, known: Set<String>, prefix: String, file: String) throws {
        for key in mapping.keys.compactMap(\.string) where !known.contains(key) {
            throw Error(description: "\(file):\(line(of: key, in: mapping)): unknown key '\(prefix)\(key)'")
        }
    }

    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public init(server: [String: String] = [:], dialects: [String: [String: String]] = [:]) {
        self.server = server
        self.dialects = dialects
    }

    /// Parses the YAML text of a configuration file.
    public static func parse(_ yaml: String, file: String = "config") throws -> ConfigFile {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw Error(description: "\(file): not valid YAML: \(error)")
        }
        guard let node else { return ConfigFile() }
        guard let mapping = node.mapping else { throw Error(description: "\(file): the top level must be a mapping") }
        for key in mapping.keys.compactMap(\.string)
        where !["server", "storage", "dialects", "backends", "routes", "clients"].contains(key) {
            throw Error(description: "\(file):\(line(of: key, in: mapping)): unknown section '\(key)'")
        }
        var config = ConfigFile()
        config.path = file
        if let serverNode = mapping["server"] {
            guard let serverMapping = serverNode.mapping else {
                throw Error(description: "\(file): 'server' must be a mapping")
            }
            try rejectUnknown(serverMapping, known: Set(serverKeys), prefix: "server.", file: file)
            for (keyNode, valueNode) in serverMapping {
                let key = keyNode.string ?? ""
                guard let value = valueNode.scalar?.string else {
                    throw Error(
                        description: "\(file):\(keyNode.mark?.line ?? 0): 'server.\(key)' must be a single value")
                }
                config.server[key] = value
                config.serverLines[key] = keyNode.mark?.line ?? 0
            }
        }
        if let storageNode = mapping["storage"] {
            guard let storageMapping = storageNode.mapping else {
                throw Error(description: "\(file): 'storage' must be a mapping")
            }
            try rejectUnknown(storageMapping, known: Set(storageKeys), prefix: "storage.", file: file)
            for (keyNode, valueNode) in storageMapping {
                let key = keyNode.string ?? ""
                guard let value = valueNode.scalar?.string else {
                    throw Error(
                        description: "\(file):\(keyNode.mark?.line ?? 0): 'storage.\(key)' must be a single value")
                }
                if key == "database", let url = URLComponents(string: value), url.password?.isEmpty == false {
                    throw Error(
                        description:
                            "\(file):\(keyNode.mark?.line ?? 0): storage.database holds a password: use database_env or database_file"
                    )
                }
                config.storage[key] = value
            }
        }
        if let dialectsNode = mapping["dialects"] {
            guard let dialectsMapping = dialectsNode.mapping else {
                throw Error(description: "\(file): 'dialects' must be a mapping")
            }
            for key in dialectsMapping.keys.compactMap(\.string) {
                guard let dialect = DialectRegistry.dialect(key), !dialect.settingKeys.isEmpty else {
                    throw Error(
                        description: "\(file):\(line(of: key, in: dialectsMapping)): unknown key 'dialects.\(key)'")
                }
                guard let settings = dialectsMapping[key]?.mapping else {
                    throw Error(description: "\(file): 'dialects.\(key)' must be a mapping")
                }
                var values: [String: String] = [:]
                for (nameNode, valueNode) in settings {
                    let name = nameNode.string ?? ""
                    guard dialect.settingKeys.contains(name) else {
                        throw Error(
                            description:
                                "\(file):\(line(of: name, in: settings)): unknown key 'dialects.\(key).\(name)'")
                    }
                    guard let value = valueNode.string else {
                        throw Error(
                            description:
                                "\(file):\(line(of: name, in: settings)): 'dialects.\(key).\(name)' must be a string")
                    }
                    values[name] = value
                }
                if let problem = dialect.problem(settings: values) { throw Error(description: "\(file): \(problem)") }
                config.dialects[key] = values
            }
        }
        if let backendsNode = mapping["backends"] {
            guard let list = backendsNode.sequence else {
                throw Error(description: "\(file): 'backends' must be a list")
            }
            for node in list {
                let backend = try BackendConfiguration.parse(node, file: file)
                guard backend.name != "embedded", !config.backends.contains(where: { $0.name == backend.name }) else {
                    throw Error(description: "\(file): backend name '\(backend.name)' is taken")
                }
                config.backends.append(backend)
            }
        }
        if let clientsNode = mapping["clients"] {
            guard let list = clientsNode.sequence else { throw Error(description: "\(file): 'clients' must be a list") }
            let inbound = Set(DialectRegistry.ids)
            for node in list { config.clients.append(try parseClient(node, inbound: inbound, file: file)) }
        }
        if let routesNode = mapping["routes"] {
            guard let routes = routesNode.mapping else {
                throw Error(description: "\(file): 'routes' must be a mapping")
            }
            let inbound = DialectRegistry.ids + ["default"]
            for (keyNode, valueNode) in routes {
                guard let dialect = keyNode.string, inbound.contains(dialect) else {
                    throw Error(
                        description:
                            "\(file):\(keyNode.mark?.line ?? 0): routes: '\(keyNode.string ?? "")' is not an inbound dialect (\(inbound.joined(separator: ", ")))"
                    )
                }
                // `dialect: backend`, or `dialect: {backend: name, strict: true}`.
                var named = valueNode.string
                if let options = valueNode.mapping {
                    try rejectUnknown(options, known: ["backend", "strict"], prefix: "routes.\(dialect).", file: file)
                    named = options["backend"]?.string
                    if let strict = options["strict"] {
                        guard let flag = strict.bool else {
                            throw Error(
                                description:
                                    "\(file):\(strict.mark?.line ?? 0): routes.\(dialect).strict must be true or false")
                        }
                        if flag { config.strictRoutes.insert(dialect) }
                    }
                }
                guard let target = named,
                    target == "embedded" || config.backends.contains(where: { $0.name == target })
                else {
                    throw Error(
                        description:
                            "\(file):\(valueNode.mark?.line ?? 0): routes.\(dialect): no backend named '\(named ?? "")'"
                    )
                }
                config.routes[dialect] = target
            }
        }
        return config
    }

    static func line(of key: String, in mapping: Node.Mapping) -> Int {
        for (keyNode, _) in mapping where keyNode.string == key {
            return keyNode.mark?.line ?? 1
        }
        return 1
    }

    /// Reads and parses a configuration file.
    public static func load(path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error(description: "\(path): cannot read the configuration file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }
}
