import StockCore

/// Colleqtive's customer order references at either end of a movement.
extension ExtraField {
    static let colleqtive: [ExtraField] = [ExtraField("fromOrder", .order), ExtraField("toOrder", .order)]
}

/// A customer order reference carried by Colleqtive on either end of a movement.
public struct CustomerOrderRef: Sendable, Equatable {
    public var orderNumber: String?
    public var lineNumber: Int?
    public var shipmentNumber: String?
    public var shipmentLineNumber: Int?

    public init(
        orderNumber: String? = nil, lineNumber: Int? = nil, shipmentNumber: String? = nil,
        shipmentLineNumber: Int? = nil
    ) {
        self.orderNumber = orderNumber
        self.lineNumber = lineNumber
        self.shipmentNumber = shipmentNumber
        self.shipmentLineNumber = shipmentLineNumber
    }

    public var isEmpty: Bool {
        orderNumber == nil && lineNumber == nil && shipmentNumber == nil && shipmentLineNumber == nil
    }

    /// As kept in `MovementExtras` and shown by StockGate's API: the members set, in this order.
    public var json: JSONValue {
        var object = JSONObject()
        if let value = orderNumber { object["orderNumber"] = .string(value) }
        if let value = lineNumber { object["lineNumber"] = .integer(value) }
        if let value = shipmentNumber { object["shipmentNumber"] = .string(value) }
        if let value = shipmentLineNumber { object["shipmentLineNumber"] = .integer(value) }
        return .object(object)
    }

    /// Read back from `json` (members that are not what they should be are left out).
    init(_ value: JSONValue) {
        self.init(
            orderNumber: value["orderNumber"]?.stringValue,
            lineNumber: value["lineNumber"]?.numberText.flatMap { Int($0) },
            shipmentNumber: value["shipmentNumber"]?.stringValue,
            shipmentLineNumber: value["shipmentLineNumber"]?.numberText.flatMap { Int($0) })
    }

    static let fields: Set<String> = ["orderNumber", "lineNumber", "shipmentNumber", "shipmentLineNumber"]

    /// Read from StockGate's API (`extras.fromOrder` / `extras.toOrder`).
    init(_ reader: FieldReader) throws(GatewayError) {
        try reader.rejectUnknown(Self.fields)
        let int32 = Int64(Int32.min)...Int64(Int32.max)
        self.init(
            orderNumber: try reader.string("orderNumber", maxLength: 1000),
            lineNumber: try reader.integer("lineNumber", range: int32).map { Int($0) },
            shipmentNumber: try reader.string("shipmentNumber", maxLength: 1000),
            shipmentLineNumber: try reader.integer("shipmentLineNumber", range: int32).map { Int($0) })
    }

    static var schema: JSONValue {
        let int32 = SchemaFragment.nullable(SchemaFragment.integer(Int64(Int32.min)...Int64(Int32.max)))
        let text = SchemaFragment.nullable(SchemaFragment.text(maxLength: 1000, allowEmpty: true))
        return SchemaFragment.object(
            [("orderNumber", text), ("lineNumber", int32), ("shipmentNumber", text), ("shipmentLineNumber", int32)],
            closed: true)
    }
}

extension MovementExtras {
    /// Colleqtive's customer order at the source.
    public var fromOrder: CustomerOrderRef? {
        get { self["fromOrder"].map(CustomerOrderRef.init) }
        set { self["fromOrder"] = newValue.map(\.json) }
    }

    /// Colleqtive's customer order at the destination.
    public var toOrder: CustomerOrderRef? {
        get { self["toOrder"].map(CustomerOrderRef.init) }
        set { self["toOrder"] = newValue.map(\.json) }
    }
}
