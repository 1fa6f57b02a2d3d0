import HTTPTypes
import Synchronization

/// Who may call: the clients of the configuration, each with a secret and the dialects it
/// may use. With no client configured every caller is let in (and `serve` refuses to bind
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
        public var dialects: Set<String>

        public init(name: String, secret: Secret, dialects: Set<String>) {
            self.name = name
            self.secret = secret
            self.dialects = dialects
        }
    }

    public let clients: [Client]
    /// Bearer tokens handed out by `POST /Token` (StoreFeeder's password grant), by client.
    public let tokens = IssuedTokens()

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

    /// Decides for a request of `dialect` with these headers.
    public func decide(dialect: String, headers: HTTPFields) -> Decision {
        guard !clients.isEmpty else { return .allowed(client: nil) }
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
        if presented == nil, let key = headers[HTTPField.Name("X-Key")!] { presented = Array(key.utf8) }
        guard let presented else { return .unauthenticated }
        var match: Client?
        for client in clients {
            // Every client is compared, whatever matched before.
            if Self.constantTimeEquals(presented, Array(client.secret.value.utf8)) && match == nil { match = client }
        }
        if match == nil, let name = tokens.client(for: String(decoding: presented, as: UTF8.self)) {
            match = clients.first { $0.name == name }
        }
        guard let match else { return .unauthenticated }
        return match.dialects.contains(dialect) ? .allowed(client: match.name) : .forbidden(client: match.name)
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

/// Access tokens issued by the password grant (`POST /Token`), each for one client until it
/// expires. Kept in memory: after a restart a client is answered 401 and fetches a new one,
/// as OAuth clients do.
public final class IssuedTokens: Sendable {
    /// The vendor's lifetime: StoreFeeder's `/Token` answers `expires_in: 1209599` (14 days).
    public static let lifetime = 1_209_599
    private let tokens = Mutex<[String: (client: String, expires: ContinuousClock.Instant)]>([:])

    public init() {}

    /// A new random token for `client`.
    public func issue(for client: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let token = (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
        let expires = ContinuousClock.now + .seconds(Self.lifetime)
        tokens.withLock { known in
            let now = ContinuousClock.now
            known = known.filter { $0.value.expires > now }  // forget expired ones
            known[token] = (client, expires)
        }
        return token
    }

    /// The client a token was issued to, while it is valid.
    public func client(for token: String) -> String? {
        tokens.withLock { known in
            guard let entry = known[token], entry.expires > ContinuousClock.now else { return nil }
            return entry.client
        }
    }
}
