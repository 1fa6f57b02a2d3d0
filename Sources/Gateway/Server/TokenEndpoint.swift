import Dialects
import Foundation
import HTTPTypes
import StockCore

/// StoreFeeder's OAuth2 password grant, `POST /Token`: a StoreFeeder client pointed at StockGate
/// gets its bearer token here, for a configured client (user name = client name, password =
/// its secret).
enum TokenEndpoint {
    /// Failed grants count against the caller's address and the user name tried
    /// (`AuthThrottle`): past the limit a name is answered 429 whatever the password. The
    /// form and the answers are StoreFeeder's (`StoreFeederToken`); who gets a token is decided
    /// here.
    static func answer(body: [UInt8]?, gateway: Gateway, throttle: AuthThrottle, peer: String) -> CodecResponse {
        let grant: StoreFeederToken.Grant
        switch StoreFeederToken.grant(body ?? []) {
        case .success(let asked): grant = asked
        case .failure(let refusal): return refusal.response
        }
        let user = "user:" + grant.username
        if let wait = throttle.blocked(user) {
            return StoreFeederToken.tooManyAttempts(retryAfter: max(1, Int(wait.nanoseconds / 1_000_000_000)))
        }
        let name: String
        if gateway.clients.isOpen {
            name = grant.username  // no clients configured: every caller is let in anyway
        } else if let client = gateway.clients.client(name: grant.username, secret: grant.password),
            client.dialects.contains(StoreFeederCodec.dialect)
        {
            name = client.name
        } else {
            throttle.failed(peer)
            throttle.failed(user)
            return StoreFeederToken.invalidGrant
        }
        let issued = Date()
        return StoreFeederToken.issued(
            token: gateway.clients.issueToken(for: name, now: issued), username: grant.username,
            lifetime: IssuedTokens.lifetime, at: issued)
    }
}
