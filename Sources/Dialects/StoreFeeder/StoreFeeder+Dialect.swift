import StockCore

extension StoreFeederCodec {
    public static let registration = Dialect(
        id: "storefeeder",
        inbound: { _ in StoreFeederCodec() },
        outbound: { _ in StoreFeederOutbound() },
        defaultWrite: { _ in ("POST", "/stocklocations/create-transfers") })
}
