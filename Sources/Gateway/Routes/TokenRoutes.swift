import Dialects
import StockCore

/// StoreFeeder's OAuth2 password grant, `POST /Token` (`TokenEndpoint`): open to anyone, since
/// the grant is the credential check; refusals in OAuth's envelope (RFC 6749 §5.2).
struct TokenRoutes: RouteCollection {
    func routes(for gateway: Gateway) -> [ServedRoute] {
        [
            ServedRoute(
                [.post], "/Token", requirement: .anyone, dialect: StoreFeederCodec.dialect, name: "token",
                readsBody: true,
                envelope: Self.oauthEnvelope
            ) { request in
                .answer(
                    TokenEndpoint.answer(
                        body: request.body, gateway: gateway, throttle: request.throttle,
                        peer: request.connection.peer))
            }
        ]
    }

    /// OAuth's envelope, as StoreFeeder's clients read it (`StoreFeederToken.refusal`).
    static let oauthEnvelope = Envelope(
        refuse: { StoreFeederToken.refusal($0) }, unauthenticated: Envelope.gateway("this needs").unauthenticated)
}
