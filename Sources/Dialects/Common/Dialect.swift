import StockCore

/// What the rest of StockGate knows of one dialect: its id, its codecs, the request its
/// movements usually arrive by, and the configuration keys it reads. Each vendor's folder
/// defines its own (`Zettle+Dialect.swift`, …); `DialectRegistry.all` lists them, so adding a
/// dialect is its folder plus one line there.
public struct Dialect: Sendable {
    /// The id used in routes, backends, clients, metrics and the journal.
    public let id: DialectID
    /// Keys of the configuration file's `dialects.<id>` section.
    public let settingKeys: [String]
    /// Keys a backend of this dialect takes besides the common ones (`zettle_organization`).
    public let backendKeys: [String]
    /// The catalog columns the vendor's dialects read, with their checks; one registration
    /// per vendor carries them (Open2b v6, Zettle's earlier API), the others read the same.
    public let catalogRules: CatalogRules?
    private let inbound: @Sendable ([String: String]) -> any InboundCodec
    private let outbound: @Sendable (BackendParameters) -> any OutboundCodec
    private let defaultWrite: @Sendable (Catalog) -> (method: String, path: String)
    private let settingsProblem: @Sendable ([String: String]) -> String?

    /// - Parameters:
    ///   - inbound: the inbound codec, given the `dialects.<id>` settings.
    ///   - outbound: the outbound codec, given a backend's parameters.
    ///   - defaultWrite: the request `stockgate translate` reads a body as when none is named.
    ///   - settingsProblem: what is wrong with the `dialects.<id>` settings, if anything.
    public init(
        id: DialectID, settingKeys: [String] = [], backendKeys: [String] = [], catalogRules: CatalogRules? = nil,
        inbound: @escaping @Sendable ([String: String]) -> any InboundCodec,
        outbound: @escaping @Sendable (BackendParameters) -> any OutboundCodec,
        defaultWrite: @escaping @Sendable (Catalog) -> (method: String, path: String),
        settingsProblem: @escaping @Sendable ([String: String]) -> String? = { _ in nil }
    ) {
        self.id = id
        self.settingKeys = settingKeys
        self.backendKeys = backendKeys
        self.catalogRules = catalogRules
        self.inbound = inbound
        self.outbound = outbound
        self.defaultWrite = defaultWrite
        self.settingsProblem = settingsProblem
    }

    public func inboundCodec(settings: [String: String] = [:]) -> any InboundCodec { inbound(settings) }
    public func outboundCodec(_ parameters: BackendParameters = BackendParameters()) -> any OutboundCodec {
        outbound(parameters)
    }
    public func defaultWriteRequest(catalog: Catalog) -> (method: String, path: String) { defaultWrite(catalog) }
    public func problem(settings: [String: String]) -> String? { settingsProblem(settings) }
}
