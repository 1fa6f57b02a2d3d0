import StockCore

extension ZettleCodec {
    /// `dialects.zettle.organization_uuid`: the organization answered besides `self`.
    /// A backend's `zettle_organization`: the `{org}` of its paths (`self` by default).
    public static let registration = Dialect(
        id: "zettle", settingKeys: ["organization_uuid"], backendKeys: ["zettle_organization"],
        catalogRules: catalogRules,
        inbound: { ZettleCodec(organizationUUID: $0["organization_uuid"]) },
        outbound: { ZettleOutbound(parameters: $0) },
        defaultWrite: { _ in ("PUT", "/organizations/self/inventory") },
        settingsProblem: { settings in
            guard let uuid = settings["organization_uuid"], !UUIDText.isValid(uuid) else { return nil }
            return "dialects.zettle.organization_uuid is not a UUID: '\(uuid)'"
        })
}

extension BackendParameters {
    /// The organization in a Zettle backend's `/organizations/{org}/…` paths.
    public var zettleOrganization: String { self["zettle_organization"] ?? "self" }
}
