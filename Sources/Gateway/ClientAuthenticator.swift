import Crypto
import Dialects
import Foundation
import HTTPTypes
import StockCore

/// What a route needs of its caller (every route declares one: `Destination.requirement`).
public enum Requirement: Sendable, Equatable {
    /// Health: answered to anyone, always.
    case anyone
    /// Any configured client (the OpenAPI documents).
    case anyClient
    /// A client allowed this dialect's stock.
    case dialect(DialectID)
    /// A client holding this role.
    case role(Role)

    /// A dialect's API (never opened by a browser's Basic credentials).
    public var isDialect: Bool {
        if case .dialect = self { return true }
        return false
    }
}

/// What a client may do besides moving stock in its dialects. A client holds the roles its
/// configuration lists (`roles: [metrics, operator]`), and may hold no dialect at all — a
/// Prometheus scraper gets `metrics` and nothing else.
public enum Role: String, Sendable, CaseIterable, Hashable {
    /// `GET /metrics`.
    case metrics
    /// The operator page and the journal's settle (`POST /stockgate/v1/journal/{id}/settle`).
    case `operator`
    /// The test reset and the fault API, where they are enabled.
    case test
}

/// Who may call: the clients of the configuration, each with a secret, the dialects it
/// may use and its roles. With no client configured every caller is let in (and `serve` refuses to bind
/// to anything but loopback unless `--allow-anonymous`).
///
/// A client presents its secret as `Authorization: Bearer <secret>` (or the bare secret as the
/// whole `Authorization` value, as Colleqtive's SDK sends it) in every dialect, or as
/// `X-Key: <secret>` (Open2b's header). Secrets are compared in constant time, against every
/// client, so the time taken says nothing about which one came close.
public struct ClientAuthenticator: Sendable {
    public struct Client: Sendable {
        public var name: String
        public var secret: Secret
        /// The dialects whose stock it may read and move.
        public var dialects: Set<DialectID>
        /// What it may do besides stock (`Role`).
        public var roles: Set<Role>

        public init(name: String, secret: Secret, dialects: Set<DialectID>, roles: Set<Role> = []) {
            self.name = name
            self.secret = secret
            self.dialects = dialects
            self.roles = roles
        }
    }

    public let clients: [Client]

    public init(clients: [Client] = []) {
        self.clients = clients
    }

    /// The client whose name and secret these are (the password grant's user name and password).
    public func client(name: String, secret: String) -> Client? {
        var match: Client?
        for client in clients {
            // Every client is compared, whatever matched before.
            let same = Self.constantTimeEquals(Array(secret.utf8), Array(client.secret.value.utf8))
            if same && client.name == name && match == nil { match = client }
        }
        return match
    }

    public var isOpen: Bool { clients.isEmpty }

    public enum Decision: Sendable, Equatable {
        case allowed(client: String?)
        /// No credentials, or credentials nobody has.
        case unauthenticated
        /// A known client, but not for this dialect.
        case forbidden(client: String)
    }

    /// A bearer token for `client` from `POST /Token` (StoreFeeder's password grant).
    public func issueToken(for client: String, now: Date = Date()) -> String {
        let secret = clients.first { $0.name == client }?.secret.value ?? ""
        return IssuedTokens.sign(
            client: client, expires: Int64(now.timeIntervalSince1970) + Int64(IssuedTokens.lifetime), secret: secret)
    }

    /// Decides for a request of `dialect` with these headers.
    public func decide(dialect: DialectID, headers: HTTPFields, now: Date = Date()) -> Decision {
        decide(.dialect(dialect), headers: headers, now: now)
    }

    /// Decides for a route needing `requirement`: anyone for `.anyone`; otherwise the client
    /// the credentials name, allowed when it holds what is required. Credentials: a bearer token
    /// (a client's secret or a `/Token` access token), the bare secret as the whole
    /// `Authorization` value, `X-Key`, or — for reading the gateway's own pages only
    /// (`basicAllowed`: GET or HEAD, not a dialect's API) — HTTP Basic with the client's name and
    /// secret, which a browser keeps and would send along with a cross-site request that changes
    /// something.
    public func decide(
        _ requirement: Requirement, headers: HTTPFields, basicAllowed: Bool = false, now: Date = Date()
    ) -> Decision {
        guard !clients.isEmpty, requirement != .anyone else { return .allowed(client: nil) }
        guard let match = authenticated(headers, basicAllowed: basicAllowed, now: now) else { return .unauthenticated }
        let allowed: Bool =
            switch requirement {
            case .anyone, .anyClient: true
            case .dialect(let dialect): match.dialects.contains(dialect)
            case .role(let role): match.roles.contains(role)
            }
        return allowed ? .allowed(client: match.name) : .forbidden(client: match.name)
    }

    /// The client these headers' credentials belong to.
    func authenticated(_ headers: HTTPFields, basicAllowed: Bool, now: Date) -> Client? {
        if let authorization = headers[.authorization], authorization.count > 6,
            authorization.prefix(6).lowercased() == "basic "
        {
            guard basicAllowed,
                let decoded = Data(
                    base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
                let pair = String(data: decoded, encoding: .utf8), let colon = pair.firstIndex(of: ":")
            else { return nil }
            return client(name: String(pair[..<colon]), secret: String(pair[pair.index(after: colon)...]))
        }
        var presented: [UInt8]?
        if let authorization = headers[.authorization] {
            let prefix = "bearer "
            if authorization.count > prefix.count, authorization.lowercased().hasPrefix(prefix) {
                presented = Array(authorization.utf8.dropFirst(prefix.utf8.count))
            } else if !authorization.isEmpty {
                // The whole value is the token: Colleqtive's SDK (colleqtive-sdk 0.1.1,
                // `_client.py` `_bearer`) sends `Authorization: <token>` without a scheme.
                presented = Array(authorization.utf8)
            }
        }
        if presented == nil, let key = headers[.apiKey] { presented = Array(key.utf8) }
        guard let presented else { return nil }
        var match: Client?
        for client in clients {
            // Every client is compared, whatever matched before.
            if Self.constantTimeEquals(presented, Array(client.secret.value.utf8)) && match == nil { match = client }
        }
        if match == nil {
            match = IssuedTokens.client(of: String(decoding: presented, as: UTF8.self), among: clients, now: now)
        }
        return match
    }

    /// Equal bytes, taking time that depends only on the lengths.
    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count)
        let length = max(lhs.count, rhs.count)
        for index in 0..<length {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}

/// Access tokens of the password grant (`POST /Token`), each for one client until it expires.
///
/// Signed, not stored: `sg1.<client name, base64url>.<expiry, Unix seconds>.<HMAC-SHA256 of
/// both under the client's own secret, hex>`. Any instance configured with the same clients
/// accepts a token another instance issued (a StoreFeeder client behind a load balancer keeps
/// working whichever instance it reaches), a restart loses none, and changing a client's secret
/// revokes every token issued under the old one.
public enum IssuedTokens {
    /// The vendor's lifetime: StoreFeeder's `/Token` answers `expires_in: 1209599` (14 days).
    public static let lifetime = 1_209_599
    static let prefix = "sg1."

    static func sign(client: String, expires: Int64, secret: String) -> String {
        let name = Data(client.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let payload = prefix + name + "." + String(expires)
        return payload + "." + mac(payload, secret: secret)
    }

    static func mac(_ payload: String, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data(payload.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    /// The configured client a token was issued to, while it is valid; nil for anything else.
    static func client(
        of token: String, among clients: [ClientAuthenticator.Client], now: Date
    ) -> ClientAuthenticator.Client? {
        guard token.hasPrefix(prefix), token.utf8.count < 1024 else { return nil }
        let parts = token.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let expires = Int64(parts[1]), expires > Int64(now.timeIntervalSince1970) else {
            return nil
        }
        var base64 = parts[0].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let nameData = Data(base64Encoded: base64), let name = String(data: nameData, encoding: .utf8),
            let client = clients.first(where: { $0.name == name })
        else { return nil }
        let payload = prefix + parts[0] + "." + parts[1]
        let expected = Array(mac(payload, secret: client.secret.value).utf8)
        return ClientAuthenticator.constantTimeEquals(Array(parts[2].utf8), expected) ? client : nil
    }
}
