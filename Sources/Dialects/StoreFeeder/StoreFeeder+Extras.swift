import StockCore

/// StoreFeeder's transfer fields that the canonical model has no member for.
extension ExtraField {
    static let storeFeeder: [ExtraField] = [
        ExtraField("batchReference", .text(maxLength: 1000)), ExtraField("expiryDate", .text(maxLength: 64)),
        ExtraField("deliveredDate", .text(maxLength: 64)), ExtraField("dissociateIfEmpty", .flag),
        ExtraField("isSystem", .flag),
    ]
}

extension MovementExtras {
    /// StoreFeeder `StockLocationFromBatchReference`.
    public var batchReference: String? {
        get { text("batchReference") }
        set { self["batchReference"] = newValue.map(JSONValue.string) }
    }

    /// StoreFeeder `StockLocationFromExpiryDate`, as sent.
    public var expiryDate: String? {
        get { text("expiryDate") }
        set { self["expiryDate"] = newValue.map(JSONValue.string) }
    }

    /// StoreFeeder `StockLocationFromDeliveredDate`, as sent.
    public var deliveredDate: String? {
        get { text("deliveredDate") }
        set { self["deliveredDate"] = newValue.map(JSONValue.string) }
    }

    /// StoreFeeder `DissociateProductIfEmpty`.
    public var dissociateIfEmpty: Bool? {
        get { flag("dissociateIfEmpty") }
        set { self["dissociateIfEmpty"] = newValue.map(JSONValue.bool) }
    }

    /// StoreFeeder `IsSystem`.
    public var isSystem: Bool? {
        get { flag("isSystem") }
        set { self["isSystem"] = newValue.map(JSONValue.bool) }
    }
}
