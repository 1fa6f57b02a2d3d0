import StockCore

extension ColleqtiveCodec {
    public static let registration = Dialect(
        id: "colleqtive", backendKeys: ["colleqtive_app_user"], catalogRules: catalogRules,
        inbound: { _ in ColleqtiveCodec() },
        outbound: { ColleqtiveOutbound(parameters: $0) },
        defaultWrite: { catalog in
            ("POST", "/api/v2/public/stores/\(catalog.colleqtiveStores.first ?? "1")/storeproductlocation/movement")
        })
}

extension BackendParameters {
    /// The acting user sent as `AppUserName` when a movement names none (`colleqtive_app_user`).
    public var colleqtiveAppUser: String? { self["colleqtive_app_user"] }
}
