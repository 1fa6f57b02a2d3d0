import CurlHTTP
import Dialects
import Foundation
import Logging
import Operations
import StockCore

/// Builds the backends and routes of a configuration.
public enum Backends {
    /// The outbound codec of a backend dialect.
    public static func codec(
        dialect: DialectID, parameters: BackendParameters = BackendParameters()
    ) -> (any OutboundCodec)? {
        DialectRegistry.dialect(dialect)?.outboundCodec(parameters)
    }

    /// The backend for unrouted dialects and the routed ones, with secrets read now.
    /// - Parameters:
    ///   - file: the parsed configuration.
    ///   - embedded: the embedded ledger, also the journal of forwarded movements.
    ///   - client: the process's HTTP client; each backend gets its own timeouts and TLS
    ///     settings on its engine (one thread, one connection pool), and its owner stops it.
    ///   - environment: where `*_env` secrets are read.
    ///   - redactor: learns every backend secret (and the clients' secrets, added by the caller),
    ///     shared by all backends so none relays another's secret either.
    public static func make(
        _ file: ConfigFile, catalog: Catalog, embedded: any Storage, client: CurlHTTPClient, logger: Logger,
        metrics: GatewayMetrics? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
        redactor: SecretRedactor = SecretRedactor()
    ) throws -> (fallback: any StockBackend, routes: [DialectID: any StockBackend]) {
        var byName: [String: any StockBackend] = ["embedded": embedded]
        for backend in file.backends {
            guard let dialect = backend.dialectID else {
                byName[backend.name] = embedded
                continue
            }
            let parameters = BackendParameters(backend.parameters)
            guard let codec = codec(dialect: dialect, parameters: parameters) else { continue }
            let (backendClient, auth) = try access(backend, client: client, environment: environment)
            byName[backend.name] = RemoteBackend(
                name: backend.name, baseURL: backend.baseURL, codec: codec, client: backendClient, auth: auth,
                catalog: catalog,
                journal: embedded, logger: logger, metrics: metrics, redactor: redactor,
                strictDialects: Set(
                    DialectRegistry.ids.filter {
                        file.isStrict($0) && (file.routes[$0.rawValue] ?? file.routes["default"]) == backend.name
                    }))
        }
        let fallback = file.routes["default"].flatMap { byName[$0] } ?? embedded
        var routes: [DialectID: any StockBackend] = [:]
        for (dialect, name) in file.routes where dialect != "default" {
            routes[DialectID(dialect)] = byName[name]
        }
        return (fallback, routes)
    }
}

extension Backends {
    /// A backend's own engine settings (timeouts, TLS, answer size) and its auth with secrets read.
    static func access(
        _ backend: BackendConfiguration, client: CurlHTTPClient, environment: [String: String]
    ) throws -> (CurlHTTPClient, BackendAuthMethod) {
        let configured = client.configured(
            .init(
                connectTimeout: backend.connectTimeout, timeout: backend.timeout,
                maxResponseBytes: backend.maxResponseBytes, verifyTLS: backend.verifyTLS,
                caBundlePath: backend.caBundle))
        do {
            return (configured, try backend.auth.resolve(environment: environment))
        } catch {
            throw ConfigFile.Error(description: "backend '\(backend.name)': \(error)")
        }
    }

    /// The client and credentials a configured backend is called with (an OAuth2 token is
    /// fetched now), for tools that call the backend directly: `contract-test --backend`.
    public static func directAccess(
        to backend: BackendConfiguration, client: CurlHTTPClient,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> (client: CurlHTTPClient, headers: [(name: String, value: String)]) {
        let (configured, method) = try access(backend, client: client, environment: environment)
        let authenticator = BackendAuthenticator(
            method: method, client: configured, backendName: backend.name, redactor: SecretRedactor())
        let fields = try await authenticator.headers(refresh: false)
        return (configured, fields.map { ($0.name.rawName, $0.value) })
    }
}
