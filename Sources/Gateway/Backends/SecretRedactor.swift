import Synchronization

/// Removes secrets from text a backend wrote before it reaches a caller or a log.
///
/// A backend's error text is untrusted input: a misconfigured or hostile one may quote the
/// request it got, headers included, so a vendor message relayed as is could hand the
/// caller our bearer token, `X-Key` or OAuth access token. Every configured secret (backend
/// credentials, client secrets) and every token fetched at run time is registered here, and
/// `redact` replaces each occurrence, as is or form-encoded, before a vendor message is
/// relayed; the message is also capped in length.
public final class SecretRedactor: Sendable {
    /// Longest vendor message relayed, in characters.
    public static let maxMessageLength = 500
    /// Shorter values are not searched for: they would mangle ordinary words.
    static let minSecretLength = 4

    private let secrets = Mutex<[String]>([])

    public init(_ secrets: [String] = []) {
        for secret in secrets { add(secret) }
    }

    /// Registers a secret (and its form-encoded spelling).
    public func add(_ secret: String) {
        guard secret.utf8.count >= Self.minSecretLength else { return }
        let forms = Set([secret, BackendAuthenticator.formEncode(secret)])
        secrets.withLock { known in
            for form in forms where !known.contains(form) { known.append(form) }
            // Longest first, so a secret containing another is removed whole.
            known.sort { $0.utf8.count > $1.utf8.count }
        }
    }

    /// `text` without any registered secret, cut to `limit` characters.
    public func redact(_ text: String, limit: Int = SecretRedactor.maxMessageLength) -> String {
        var result = text
        for secret in secrets.withLock({ $0 }) where result.contains(secret) {
            result = result.replacing(secret, with: "[redacted]")
        }
        if result.count > limit { result = String(result.prefix(limit)) + "…" }
        return result
    }
}
