/// Every dialect StockGate speaks, inbound and as a backend: the one list the gateway, the
/// backends, `translate`, configuration checks and the tests read.
public enum DialectRegistry {
    public static let all: [Dialect] = [
        CanonicalCodec.registration,
        ColleqtiveCodec.registration,
        StoreFeederCodec.registration,
        Open2bCodec.registrationV6,
        Open2bCodec.registrationV3,
        ZettleCodec.registration,
        ZettleV3Codec.registration,
    ]

    /// The ids, in registry order.
    public static var ids: [String] { all.map(\.id) }

    public static func dialect(_ id: String) -> Dialect? { all.first { $0.id == id } }
}
