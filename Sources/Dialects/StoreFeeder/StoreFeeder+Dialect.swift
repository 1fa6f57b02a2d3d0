import StockCore

extension StoreFeederCodec {
    public static let registration = Dialect(
        id: "storefeeder", catalogRules: catalogRules,
        inbound: { _ in StoreFeederCodec() },
        outbound: { _ in StoreFeederOutbound() },
        defaultWrite: { _ in ("POST", "/stocklocations/create-transfers") })
}
