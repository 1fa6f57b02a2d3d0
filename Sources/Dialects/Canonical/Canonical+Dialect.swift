import StockCore

extension CanonicalCodec {
    /// StockGate's own API, inbound and as a backend (another StockGate).
    public static let registration = Dialect(
        id: "stockgate",
        inbound: { _ in CanonicalCodec() },
        outbound: { _ in CanonicalOutbound() },
        defaultWrite: { _ in ("POST", "/stockgate/v1/movements") })
}
