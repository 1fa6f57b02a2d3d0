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
    public static let serverKeys = Setting.all.filter { $0.place == .server }.map(\.key)

    /// The `server` section's scalars as written (typed and range-checked by `ServeSettings`,
    /// which knows every layer), with the line of each for messages.
    public var server: [String: String] = [:]
    public var serverLines: [String: Int] = [:]
    /// The `storage` section's scalars: `database` (a URL without a password), or
    /// `database_env` / `database_file` (where a URL with its password is read), and
    /// `pool_size`. `ServeSettings` layers them under `--database` / `STOCKGATE_DATABASE`.
    public var storage: [String: String] = [:]
    public static let storageKeys = Setting.all.filter { $0.place == .storage || $0.place == .storageFileOnly }.map(
        \.key)
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
    public func isStrict(_ dialect: DialectID) -> Bool {
        strictRoutes.contains(routes[dialect.rawValue] != nil ? dialect.rawValue : "default")
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
        public var dialects: Set<DialectID>
        public var secret: SecretSource
        public var roles: Set<Role> = []
    }

    public var clients: [Client] = []

    /// One entry of `clients`: its name, where its secret is read, its dialects and roles.
    static func parseClient(_ node: Node, inbound: Set<String>, file: String) throws -> Client {
        let client = try object(
            node, at: "clients[]", known: ["name", "dialects", "roles", "secret", "secret_env", "secret_file"],
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
        let secret: SecretSource
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
        return Client(name: name, dialects: Set(dialects.map { DialectID($0) }), secret: secret, roles: roles)
    }

    /// `node` as a mapping of `known` keys, read by the one tree reader (`TreeObject`); a
    /// problem becomes a line of this file's errors.
    static func object(_ node: Node, at path: String, known: Set<String>?, file: String) throws -> TreeObject<Node> {
        do {
            return try TreeObject(node, at: path, known: known)
        } catch {
            throw Self.error(error, file: file)
        }
    }

    /// A tree problem as `file:line: …`: an unknown top-level key is an unknown section.
    static func error(_ problem: TreeProblem, file: String) -> Error {
        let at = "\(file):\(problem.line ?? 1)"
        switch problem.kind {
        case .unknown:
            let what = problem.path.contains(".") || problem.path.contains("[") ? "key" : "section"
            return Error(description: "\(at): unknown \(what) '\(problem.path)'")
        case .missing: return Error(description: "\(at): '\(problem.path)' is required")
        case .invalid: return Error(description: "\(at): '\(problem.path)' \(problem.message)")
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
        let top = try object(
            node, at: "", known: ["server", "storage", "dialects", "backends", "routes", "clients"], file: file)
        var config = ConfigFile()
        config.path = file
        if let server = try section(top, "server", known: Set(serverKeys), file: file) {
            config.server = try scalars(server, file: file)
            for member in server.members { config.serverLines[member.key] = member.line ?? 0 }
        }
        if let storage = try section(top, "storage", known: Set(storageKeys), file: file) {
            config.storage = try scalars(storage, file: file)
            if let value = config.storage["database"], let url = URLComponents(string: value),
                url.password?.isEmpty == false
            {
                throw Error(
                    description:
                        "\(file):\(storage.line(of: "database") ?? 1): storage.database holds a password: use database_env or database_file"
                )
            }
        }
        if let dialects = try section(top, "dialects", known: nil, file: file) {
            config.dialects = try parseDialects(dialects, file: file)
        }
        for node in try list(top, "backends", file: file) {
            let backend = try BackendConfiguration.parse(node, file: file)
            guard backend.name != "embedded", !config.backends.contains(where: { $0.name == backend.name }) else {
                throw Error(description: "\(file): backend name '\(backend.name)' is taken")
            }
            config.backends.append(backend)
        }
        let inbound = Set(DialectRegistry.names)
        for node in try list(top, "clients", file: file) {
            config.clients.append(try parseClient(node, inbound: inbound, file: file))
        }
        if let routes = try section(top, "routes", known: nil, file: file) {
            try parseRoutes(routes, into: &config, file: file)
        }
        return config
    }

    static func section(
        _ top: TreeObject<Node>, _ key: String, known: Set<String>?, file: String
    ) throws -> TreeObject<Node>? {
        guard let node = top[key] else { return nil }
        return try object(node, at: key, known: known, file: file)
    }

    static func list(_ top: TreeObject<Node>, _ key: String, file: String) throws -> [Node] {
        do {
            return try top.list(key) ?? []
        } catch {
            throw Self.error(error, file: file)
        }
    }

    /// A section of single values (`server`, `storage`), as text.
    static func scalars(_ section: TreeObject<Node>, file: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for member in section.members {
            guard let value = member.value.scalar?.string else {
                throw Self.error(section.problem(member.key, "must be a single value"), file: file)
            }
            values[member.key] = value
        }
        return values
    }

    /// `dialects.<id>`: each dialect's own settings, checked by the dialect.
    static func parseDialects(_ dialects: TreeObject<Node>, file: String) throws -> [String: [String: String]] {
        var all: [String: [String: String]] = [:]
        for member in dialects.members {
            guard let dialect = DialectRegistry.dialect(named: member.key), !dialect.settingKeys.isEmpty else {
                throw Self.error(dialects.problem(member.key, "", .unknown), file: file)
            }
            let settings = try object(
                member.value, at: dialects.name(member.key), known: Set(dialect.settingKeys), file: file)
            var values: [String: String] = [:]
            for setting in settings.members {
                guard let value = setting.value.string else {
                    throw Self.error(settings.problem(setting.key, "must be a string"), file: file)
                }
                values[setting.key] = value
            }
            if let problem = dialect.problem(settings: values) { throw Error(description: "\(file): \(problem)") }
            all[member.key] = values
        }
        return all
    }

    /// `routes`: `dialect: backend`, or `dialect: {backend: name, strict: true}`.
    static func parseRoutes(_ routes: TreeObject<Node>, into config: inout ConfigFile, file: String) throws {
        let inbound = DialectRegistry.names + ["default"]
        for member in routes.members {
            let line = member.line ?? 1
            guard inbound.contains(member.key) else {
                throw Error(
                    description:
                        "\(file):\(line): routes: '\(member.key)' is not an inbound dialect (\(inbound.joined(separator: ", ")))"
                )
            }
            var named = member.value.string
            if member.value.mapping != nil {
                let options = try object(
                    member.value, at: routes.name(member.key), known: ["backend", "strict"], file: file)
                named = options["backend"]?.string
                do {
                    if try options.bool("strict") == true { config.strictRoutes.insert(member.key) }
                } catch {
                    throw Error(description: "\(file):\(error.line ?? line): \(error.path) must be true or false")
                }
            }
            guard let target = named, target == "embedded" || config.backends.contains(where: { $0.name == target })
            else {
                throw Error(
                    description:
                        "\(file):\(member.value.mark?.line ?? line): routes.\(member.key): no backend named '\(named ?? "")'"
                )
            }
            config.routes[member.key] = target
        }
    }

    /// Reads and parses a configuration file.
    public static func load(path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error(description: "\(path): cannot read the configuration file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }
}
