import StockCore

extension Open2bCodec {
    public static let registrationV6 = registration(.v6)
    public static let registrationV3 = registration(.v3)

    static func registration(_ version: Version) -> Dialect {
        Dialect(
            id: DialectID(version.rawValue), catalogRules: version == .v6 ? catalogRules : nil,
            inbound: { _ in Open2bCodec(version: version) },
            outbound: { _ in Open2bOutbound(version: version) },
            defaultWrite: { _ in ("POST", version.prefix + "/commerce.movements.create") })
    }
}
