import Dialects
import Foundation
import HTTPTypes
import StockCore

/// StoreFeeder's OAuth2 password grant, `POST /Token`: a StoreFeeder client pointed at StockGate
/// gets its bearer token here, for a configured client (user name = client name, password =
/// its secret).
enum TokenEndpoint {
    /// Failed grants count against the caller's address and the user name tried
    /// (`AuthThrottle`): past the limit a name is answered 429 whatever the password.
    static func answer(body: [UInt8]?, gateway: Gateway, throttle: AuthThrottle, peer: String) -> CodecResponse {
        let text = body.map { String(decoding: $0, as: UTF8.self) } ?? ""
        let form = QueryString.parse(text)
        func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
        guard field("grant_type") == "password" else {
            return .json(.badRequest, ["error": "unsupported_grant_type"])
        }
        let username = field("username") ?? ""
        let user = "user:" + username
        if let wait = throttle.blocked(user) {
            var refusal = CodecResponse.json(
                .tooManyRequests,
                [
                    "error": "invalid_grant",
                    "error_description": .string("Too many failed attempts for this user name; try again later."),
                ])
            refusal.headers[.retryAfter] = String(max(1, wait.nanoseconds / 1_000_000_000))
            return refusal
        }
        let name: String
        if gateway.clients.isOpen {
            name = username  // no clients configured: every caller is let in anyway
        } else if let client = gateway.clients.client(name: username, secret: field("password") ?? ""),
            client.dialects.contains(StoreFeederCodec.dialect)
        {
            name = client.name
        } else {
            throttle.failed(peer)
            throttle.failed(user)
            return .json(
                .badRequest, ["error": "invalid_grant", "error_description": "The user name or password is incorrect."])
        }
        // `.issued` and `.expires` as the OAuth password grant of the stack StoreFeeder runs on
        // answers them (RFC 1123 dates, what `DateTimeOffset.ToString("r")` writes): a client that
        // caches its token by `.expires` fetches a new one only when it runs out (issue 31).
        let issued = Date()
        let expires = issued.addingTimeInterval(Double(IssuedTokens.lifetime))
        var answer = CodecResponse.json(
            .ok,
            [
                "access_token": .string(gateway.clients.issueToken(for: name, now: issued)), "token_type": "bearer",
                "expires_in": .integer(IssuedTokens.lifetime), "userName": .string(username),
                ".issued": .string(Timestamp.imfFixdate(issued)), ".expires": .string(Timestamp.imfFixdate(expires)),
            ])
        answer.headers[.cacheControl] = "no-store"
        answer.headers[.contentType] = "application/json; charset=utf-8"
        return answer
    }
}
