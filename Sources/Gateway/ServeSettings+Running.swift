import Foundation
import Operations
import StockCore

extension ServeSettings {
    /// The running configuration as an operator may read it (`GET /stockgate/v1/config`, the
    /// `operator` role): every setting with its value (a secret only as `(set)`), the backends
    /// (base URLs without user info, the auth method's kind, never its secret), the routes,
    /// the clients (names, dialects, roles; never a secret).
    public var runningDescription: JSONValue {
        var settings = JSONObject()
        for setting in Setting.all {
            if let given = effective[setting.key] {
                settings[setting.key] = .string(setting.secret ? "(set)" : given)
            } else {
                settings[setting.key] = setting.defaultValue.map { .string($0) } ?? .null
            }
        }
        let backends = file.backends.map { backend -> JSONValue in
            let auth: String =
                switch backend.auth {
                case .none: "none"
                case .bearer: "bearer"
                case .header(let name, _): "header \(name)"
                case .clientCredentials: "oauth2_client_credentials"
                case .password: "oauth2_password"
                }
            return [
                "name": .string(backend.name), "dialect": .string(backend.dialect),
                "base_url": .string(OperatorPage.withoutUserInfo(backend.baseURL)), "auth": .string(auth),
                "timeout_ms": .integer(Int(backend.timeout.components.seconds * 1000)),
                "verify_tls": .bool(backend.verifyTLS),
            ]
        }
        var routes = JSONObject()
        for (dialect, backend) in file.routes.sorted(by: { $0.key < $1.key }) { routes[dialect] = .string(backend) }
        let clients = self.clients.sorted { $0.name < $1.name }.map { client -> JSONValue in
            [
                "name": .string(client.name), "dialects": .array(client.dialects.sorted().map { .string($0.rawValue) }),
                "roles": .array(client.roles.map(\.rawValue).sorted().map(JSONValue.string)),
            ]
        }
        return [
            "version": .string(BuildInfo.description),
            "config_file": .optional(file.path == "config" ? nil : file.path),
            "settings": .object(settings), "backends": .array(backends), "routes": .object(routes),
            "strict_routes": .array(file.strictRoutes.sorted().map(JSONValue.string)), "clients": .array(clients),
            "database": .optional(database.map(Self.withoutPassword)),
        ]
    }

    /// `postgres://user:secret@host/db` → `postgres://user@host/db`.
    static func withoutPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return url
        }
        let userInfo = url[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + String(url[at...])
    }
}
