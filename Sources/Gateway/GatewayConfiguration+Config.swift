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
///   request_timeout_seconds: 30   # a body slower than this is answered 408
///   idle_timeout_seconds: 60      # idle keep-alive connections are closed after this
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
    public struct Server: Sendable, Equatable, Decodable {
        public var host: String?
        public var port: Int?
        public var dataDir: String?
        public var mappings: String?
        public var maxBodyBytes: Int?
        public var maxJsonDepth: Int?
        public var maxJsonValues: Int?
        public var idempotencyTTLHours: Double?
        public var maxBatchItems: Int?
        public var maxConcurrentRequests: Int?
        public var requestTimeoutSeconds: Double?
        public var idleTimeoutSeconds: Double?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case maxBatchItems = "max_batch_items"
            case maxConcurrentRequests = "max_concurrent_requests"
            case requestTimeoutSeconds = "request_timeout_seconds"
            case idleTimeoutSeconds = "idle_timeout_seconds"
            case idempotencyTTLHours = "idempotency_ttl_hours"
            case host, port
            case dataDir = "data_dir"
            case mappings
            case maxBodyBytes = "max_body_bytes"
            case maxJsonDepth = "max_json_depth"
            case maxJsonValues = "max_json_values"
        }
    }

    public var server: Server?

    /// Each dialect's `dialects.<id>` settings, as strings; the keys each accepts are its
    /// `Dialect.settingKeys`, checked by its `Dialect.problem(settings:)`.
    public var dialects: [String: [String: String]] = [:]
    /// Remote backends (see `BackendConfiguration`).
    public var backends: [BackendConfiguration] = []
    /// Inbound dialect (or `default`) → backend name; `embedded` is the built-in ledger.
    public var routes: [String: String] = [:]

    /// A client allowed to call, with the dialects it may use.
    ///
    /// ```yaml
    /// clients:
    ///   - name: pos-terminals
    ///     dialects: [zettle]            # or [all]
    ///     secret_env: POS_TOKEN         # or secret_file: /run/secrets/pos
    /// ```
    public struct Client: Sendable, Equatable {
        public var name: String
        public var dialects: Set<String>
        public var secret: BackendConfiguration.SecretSource
    }

    public var clients: [Client] = []

    static func rejectUnknown(_ mapping: Node.Mapping, known: Set<String>, prefix: String, file: String) throws {
        for key in mapping.keys.compactMap(\.string) where !known.contains(key) {
            throw Error(description: "\(file):\(line(of: key, in: mapping)): unknown key '\(prefix)\(key)'")
        }
    }

    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    public init(server: Server? = nil, dialects: [String: [String: String]] = [:]) {
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
        where !["server", "dialects", "backends", "routes", "clients"].contains(key) {
            throw Error(description: "\(file):\(line(of: key, in: mapping)): unknown section '\(key)'")
        }
        var config = ConfigFile()
        if let serverNode = mapping["server"] {
            guard let serverMapping = serverNode.mapping else {
                throw Error(description: "\(file): 'server' must be a mapping")
            }
            let known = Set(Server.CodingKeys.allCases.map(\.rawValue))
            for key in serverMapping.keys.compactMap(\.string) where !known.contains(key) {
                throw Error(description: "\(file):\(line(of: key, in: serverMapping)): unknown key 'server.\(key)'")
            }
            do {
                config.server = try YAMLDecoder().decode(Server.self, from: serverNode)
            } catch {
                throw Error(description: "\(file): invalid 'server' section: \(error)")
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
            for node in list {
                guard let client = node.mapping else {
                    throw Error(description: "\(file): each client must be a mapping")
                }
                try rejectUnknown(
                    client, known: ["name", "dialects", "secret", "secret_env", "secret_file"], prefix: "clients[].",
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
                guard !dialects.isEmpty, dialects.isSubset(of: inbound) else {
                    throw Error(
                        description:
                            "\(file): client '\(name)': dialects must list some of \(inbound.sorted().joined(separator: ", ")) or all"
                    )
                }
                config.clients.append(Client(name: name, dialects: dialects, secret: secret))
            }
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
                guard let target = valueNode.string,
                    target == "embedded" || config.backends.contains(where: { $0.name == target })
                else {
                    throw Error(
                        description:
                            "\(file):\(valueNode.mark?.line ?? 0): routes.\(dialect): no backend named '\(valueNode.string ?? "")'"
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

extension GatewayConfiguration {
    /// Applies the file's `server` section under whatever the caller set explicitly.
    public mutating func apply(_ file: ConfigFile, explicitlySet: Set<String>) {
        for (dialect, settings) in file.dialects { self.dialectSettings[dialect] = settings }
        guard let server = file.server else { return }
        if let host = server.host, !explicitlySet.contains("host") { self.host = host }
        if let port = server.port, !explicitlySet.contains("port") { self.port = port }
        if let dir = server.dataDir, !explicitlySet.contains("data-dir") { self.dataDirectory = dir }
        if let dir = server.mappings, !explicitlySet.contains("mappings") { self.mappingsDirectory = dir }
        if let bytes = server.maxBodyBytes { self.maxBodyBytes = bytes }
        if let depth = server.maxJsonDepth { self.maxJSONDepth = depth }
        if let values = server.maxJsonValues { self.maxJSONValues = values }
        if let hours = server.idempotencyTTLHours, hours > 0 { self.idempotencyTTL = hours * 3600 }
        if let items = server.maxBatchItems, items > 0 { self.maxBatchItems = items }
        if let count = server.maxConcurrentRequests, count > 0 { self.maxConcurrentRequests = count }
        if let seconds = server.requestTimeoutSeconds, seconds > 0 { self.requestTimeout = seconds }
        if let seconds = server.idleTimeoutSeconds, seconds > 0 { self.idleTimeout = seconds }
    }
}
