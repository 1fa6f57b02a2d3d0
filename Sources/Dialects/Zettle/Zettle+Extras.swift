import StockCore

/// Zettle's movement fields that the canonical model has no member for.
extension ExtraField {
    static let zettle: [ExtraField] = [ExtraField("trackingStatusChange", .text(maxLength: 64))]
}

extension MovementExtras {
    /// Zettle `trackingStatusChange` (e.g. `START_TRACKING`).
    public var trackingStatusChange: String? {
        get { text("trackingStatusChange") }
        set { self["trackingStatusChange"] = newValue.map(JSONValue.string) }
    }
}
