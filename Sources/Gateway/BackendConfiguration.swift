import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import Operations
import StockCore
import Yams

/// One backend of the configuration file's `backends` list.
///
/// ```yaml
/// backends:
///   - name: shop-zettle
///     dialect: zettle            # any id of DialectRegistry, or embedded
///     base_url: https://inventory.izettle.com
///     connect_timeout_ms: 5000   # default 5000
///     timeout_ms: 30000          # default 30000
///     verify_tls: true           # default true
///     ca_bundle: /etc/ssl/my-ca.pem
///     max_response_bytes: 8388608
///     zettle_organization: self  # Zettle: the {org} of the paths
///     colleqtive_app_user: gateway   # Colleqtive: AppUserName when the movement names no user
///     auth:
///       type: bearer             # none, bearer, header, oauth2_client_credentials, oauth2_password
///       token_env: ZETTLE_TOKEN  # every secret: <name>_env (a variable) or <name>_file (a file)
/// routes:
///   colleqtive: shop-zettle      # inbound dialect → backend name; unlisted dialects use `default`
///   default: embedded
/// ```
///
/// Auth keys per type: `bearer`: `token`; `header`: `name` and `value`; `oauth2_client_credentials`:
/// `token_url`, `client_id`, `client_secret`, optional `scope`; `oauth2_password`: `token_url`,
/// `username`, `password`, optional `client_id`. Secrets (`token`, `value`, `client_secret`,
/// `password`) are only ever read through `_env` or `_file`: a secret written in the file is refused.
public struct BackendConfiguration: Sendable, Equatable {
    public enum Auth: Sendable, Equatable {
        case none
        case bearer(token: SecretSource)
        case header(name: String, value: SecretSource)
        case clientCredentials(tokenURL: String, clientID: String, clientSecret: SecretSource, scope: String?)
        case password(tokenURL: String, username: String, password: SecretSource, clientID: String?)
    }

    public var name: String
    public var dialect: String
    public var baseURL: String
    public var connectTimeout: Duration
    public var timeout: Duration
    public var verifyTLS: Bool
    public var caBundle: String?
    public var maxResponseBytes: Int
    /// The dialect's own keys (its `Dialect.backendKeys`), e.g. `zettle_organization`.
    public var parameters: [String: String]
    public var auth: Auth

    public static var dialects: [String] { DialectRegistry.names + ["embedded"] }

    /// The dialect the backend speaks; nil for the embedded ledger.
    public var dialectID: DialectID? { dialect == "embedded" ? nil : DialectID(dialect) }

    static func parse(_ node: Node, file: String) throws -> BackendConfiguration {
        guard let mapping = node.mapping else {
            throw ConfigFile.Error(description: "\(file): each backend must be a mapping")
        }
        let common: Set<String> = [
            "name", "dialect", "base_url", "connect_timeout_ms", "timeout_ms", "verify_tls", "ca_bundle",
            "max_response_bytes", "auth",
        ]
        // A dialect's own keys are known only on a backend of that dialect.
        let own = Set(DialectRegistry.dialect(named: mapping["dialect"]?.string ?? "")?.backendKeys ?? [])
        _ = try ConfigFile.object(node, at: "backends[]", known: common.union(own), file: file)
        func string(_ key: String) -> String? { mapping[key]?.string }
        guard let name = string("name"), !name.isEmpty else {
            throw ConfigFile.Error(description: "\(file):\(node.mark?.line ?? 0): a backend needs a name")
        }
        func fail(_ message: String) -> ConfigFile.Error {
            ConfigFile.Error(description: "\(file): backend '\(name)': \(message)")
        }
        guard let dialect = string("dialect"), dialects.contains(dialect) else {
            let given = string("dialect").map { ", got '\($0)'" } ?? ""
            throw fail("dialect must be one of \(dialects.joined(separator: ", "))\(given)")
        }
        let baseURL = string("base_url") ?? ""
        if dialect != "embedded" {
            guard baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://") else {
                throw fail("base_url must be an http:// or https:// URL")
            }
        }
        func integer(_ key: String, default value: Int) throws -> Int {
            guard let node = mapping[key] else { return value }
            guard let number = node.int, number > 0 else { throw fail("\(key) must be a positive integer") }
            return number
        }
        var auth = Auth.none
        if let authNode = mapping["auth"] {
            auth = try parseAuth(authNode, fail: fail, file: file)
        }
        return BackendConfiguration(
            name: name, dialect: dialect, baseURL: baseURL,
            connectTimeout: .milliseconds(try integer("connect_timeout_ms", default: 5000)),
            timeout: .milliseconds(try integer("timeout_ms", default: 30000)),
            verifyTLS: mapping["verify_tls"]?.bool ?? true, caBundle: string("ca_bundle"),
            maxResponseBytes: try integer("max_response_bytes", default: 8 * 1024 * 1024),
            parameters: own.reduce(into: [:]) { values, key in values[key] = string(key) }, auth: auth)
    }

    static func parseAuth(_ node: Node, fail: (String) -> ConfigFile.Error, file: String) throws -> Auth {
        guard let mapping = node.mapping else { throw fail("auth must be a mapping") }
        func string(_ key: String) -> String? { mapping[key]?.string }
        func required(_ key: String) throws -> String {
            guard let value = string(key), !value.isEmpty else { throw fail("auth.\(key) is required") }
            return value
        }
        func secret(_ key: String) throws -> SecretSource {
            if mapping[key] != nil {
                throw fail("auth.\(key) must not be written in the file: use \(key)_env or \(key)_file")
            }
            if let variable = string(key + "_env") { return .environment(variable) }
            if let path = string(key + "_file") { return .file(path) }
            throw fail("auth needs \(key)_env or \(key)_file")
        }
        let type = string("type") ?? "none"
        let secrets = ["token", "value", "client_secret", "password"]
        let allowed = Set(["type", "name", "token_url", "client_id", "scope", "username"])
            .union(secrets.flatMap { [$0, $0 + "_env", $0 + "_file"] })
        _ = try ConfigFile.object(node, at: "auth", known: allowed, file: file)
        switch type {
        case "none": return .none
        case "bearer": return .bearer(token: try secret("token"))
        case "header":
            let name = try required("name")
            guard HTTPField.Name(name) != nil else { throw fail("auth.name '\(name)' is not an HTTP header name") }
            return .header(name: name, value: try secret("value"))
        case "oauth2_client_credentials":
            return .clientCredentials(
                tokenURL: try required("token_url"), clientID: try required("client_id"),
                clientSecret: try secret("client_secret"), scope: string("scope"))
        case "oauth2_password":
            return .password(
                tokenURL: try required("token_url"), username: try required("username"),
                password: try secret("password"),
                clientID: string("client_id"))
        default:
            throw fail("auth.type must be none, bearer, header, oauth2_client_credentials or oauth2_password")
        }
    }
}

extension BackendConfiguration.Auth {
    /// The auth method with its secrets read.
    public func resolve(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> BackendAuthMethod
    {
        switch self {
        case .none: return .none
        case .bearer(let token): return .bearer(token: try token.read(environment: environment))
        case .header(let name, let value): return .header(name: name, value: try value.read(environment: environment))
        case .clientCredentials(let url, let id, let secret, let scope):
            return .clientCredentials(
                tokenURL: url, clientID: id, clientSecret: try secret.read(environment: environment), scope: scope)
        case .password(let url, let username, let password, let id):
            return .password(
                tokenURL: url, username: username, password: try password.read(environment: environment), clientID: id)
        }
    }
}

extension BackendConfiguration {
    /// This backend as `Reconciler` reaches it: called with `client`'s engine, its own
    /// settings and its credentials (read from `environment`).
    public func reconcilable(
        client: CurlHTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Reconciler.Backend {
        let backend = self
        return Reconciler.Backend(name: name, dialect: dialectID, baseURL: baseURL) {
            try await Backends.directAccess(to: backend, client: client, environment: environment)
        }
    }
}
