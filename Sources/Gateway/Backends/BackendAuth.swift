import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import StockCore

/// How the gateway authenticates to a backend. Secrets come from the environment or files
/// named in the configuration, never from its text; none is ever logged or put in an error.
public enum BackendAuthMethod: Sendable, Equatable {
    case none
    /// `Authorization: Bearer <token>`.
    case bearer(token: Secret)
    /// A header of its own, e.g. Open2b's `X-Key`.
    case header(name: String, value: Secret)
    /// OAuth2 client credentials (Colleqtive): token URL, client id and secret, scope.
    case clientCredentials(tokenURL: String, clientID: String, clientSecret: Secret, scope: String?)
    /// OAuth2 password grant (StoreFeeder `POST /Token`).
    case password(tokenURL: String, username: String, password: Secret, clientID: String?)
}

extension BackendAuthMethod {
    /// The secret values of the method (what must never reach a caller or a log).
    public var secretValues: [String] {
        switch self {
        case .none: return []
        case .bearer(let token): return [token.value]
        case .header(_, let value): return [value.value]
        case .clientCredentials(_, _, let secret, _): return [secret.value]
        case .password(_, _, let password, _): return [password.value]
        }
    }
}

/// A secret value, read once at start. Its description never shows the value.
public struct Secret: Sendable, Equatable, CustomStringConvertible {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<secret>" }
}

/// Supplies the credentials of one backend and keeps OAuth2 tokens until shortly before
/// they expire; a 401 from the backend makes it fetch a new one once.
actor BackendAuthenticator {
    let method: BackendAuthMethod
    let client: CurlHTTPClient
    let backendName: String
    /// Learns each access token fetched, so a backend quoting it back is redacted.
    let redactor: SecretRedactor
    private var token: (value: String, expires: ContinuousClock.Instant)?
    /// The headers of fixed credentials (none, a bearer token, a header of its own), made once:
    /// read without an `await` on every forward. Nil for OAuth2, whose token `headers(refresh:)`
    /// fetches and caches, and for a header name that is not one (the configuration refuses it).
    nonisolated let fixedHeaders: HTTPFields?

    init(method: BackendAuthMethod, client: CurlHTTPClient, backendName: String, redactor: SecretRedactor) {
        self.method = method
        self.client = client
        self.backendName = backendName
        self.redactor = redactor
        switch method {
        case .none: fixedHeaders = [:]
        case .bearer(let token): fixedHeaders = [.authorization: "Bearer " + token.value]
        case .header(let name, let value): fixedHeaders = HTTPField.Name(name).map { [$0: value.value] }
        case .clientCredentials, .password: fixedHeaders = nil
        }
        for secret in method.secretValues { redactor.add(secret) }
    }

    /// Whether a 401 is worth one more try with a fresh token.
    nonisolated var refreshes: Bool {
        switch method {
        case .clientCredentials, .password: return true
        default: return false
        }
    }

    /// The headers to add to a request; `refresh` drops a cached token first. Fixed
    /// credentials are answered without entering the actor (no hop on every request).
    nonisolated func headers(refresh: Bool) async throws -> HTTPFields {
        if let fixed = fixedHeaders { return fixed }
        // The configuration refuses a name that is not a header name.
        if case .header = method { throw GatewayError.internalError("bad auth header name") }
        return try await tokenHeaders(refresh: refresh)
    }

    /// A cached token, or a fresh one from the token endpoint.
    private func tokenHeaders(refresh: Bool) async throws -> HTTPFields {
        if refresh { token = nil }
        if let token, ContinuousClock.now < token.expires { return [.authorization: "Bearer " + token.value] }
        let fresh = try await fetchToken()
        redactor.add(fresh.value)
        token = fresh
        return [.authorization: "Bearer " + fresh.value]
    }

    private func fetchToken() async throws -> (value: String, expires: ContinuousClock.Instant) {
        let url: String
        var form: [(String, String)]
        switch method {
        case .clientCredentials(let tokenURL, let clientID, let secret, let scope):
            url = tokenURL
            form = [("grant_type", "client_credentials"), ("client_id", clientID), ("client_secret", secret.value)]
            if let scope { form.append(("scope", scope)) }
        case .password(let tokenURL, let username, let password, let clientID):
            url = tokenURL
            form = [("grant_type", "password"), ("username", username), ("password", password.value)]
            if let clientID { form.append(("client_id", clientID)) }
        default:
            throw GatewayError.internalError("no token endpoint")
        }
        let body = form.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        let response: CurlResponse
        do {
            response = try await client.execute(
                CurlRequest(
                    method: .post, url: url, headerFields: [.contentType: "application/x-www-form-urlencoded"],
                    body: Array(body.utf8)))
        } catch {
            throw GatewayError(
                code: .unavailable,
                message:
                    "the token endpoint of backend \(backendName) is unreachable (\((error as? CurlError)?.code.description ?? "error"))"
            )
        }
        guard response.status == 200, let json = try? JSONParser.parse(response.body),
            let accessToken = json["access_token"]?.stringValue, !accessToken.isEmpty
        else {
            // The answer may echo what was sent: report the status only.
            throw GatewayError(
                code: .backendFailure,
                message:
                    "the token endpoint of backend \(backendName) refused the credentials (HTTP \(response.status))")
        }
        // The token endpoint's word is untrusted: a lifetime outside a second to a day (or not
        // a finite number) is taken as the nearest bound, never turned into an overflowing Duration.
        let stated = json["expires_in"]?.numberText.flatMap { Double($0) } ?? 3600
        let lifetime = stated.isFinite ? min(max(stated, 1), 86_400) : 3600
        // Renew a little before the end, so a token never expires in flight.
        let margin = min(60, lifetime / 10)
        return (accessToken, ContinuousClock.now + .milliseconds(Int64(max(1, lifetime - margin) * 1000)))
    }

    static func formEncode(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                output.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: " "): output.append("+")
            default: output += String(format: "%%%02X", byte)
            }
        }
        return output
    }
}
