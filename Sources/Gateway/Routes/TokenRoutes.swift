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

    /// A refused grant (or too many of them) is `invalid_grant`; the rest of what is refused
    /// before the grant is read is an invalid request.
    static let oauthEnvelope = Envelope(
        refuse: { error in
            .json(
                error.code.httpStatus,
                [
                    "error": error.code == .tooManyRequests ? "invalid_grant" : "invalid_request",
                    "error_description": .string(error.message),
                ])
        },
        unauthenticated: Envelope.gateway("this needs").unauthenticated)
}
