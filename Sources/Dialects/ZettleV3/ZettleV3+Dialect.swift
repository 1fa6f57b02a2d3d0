import StockCore

extension ZettleV3Codec {
    /// `dialects.zettle-v3.organization_uuid`: the `organizationUuid` the stock rows carry (V3
    /// paths name no organization: the token decides it).
    public static let registration = Dialect(
        id: "zettle-v3", settingKeys: ["organization_uuid"],
        inbound: { ZettleV3Codec(organizationUUID: $0["organization_uuid"]) },
        outbound: { ZettleV3Outbound(parameters: $0) },
        defaultWrite: { _ in ("POST", "/v3/movements") },
        settingsProblem: { settings in
            guard let uuid = settings["organization_uuid"], !UUIDText.isValid(uuid) else { return nil }
            return "dialects.zettle-v3.organization_uuid is not a UUID: '\(uuid)'"
        })
}
