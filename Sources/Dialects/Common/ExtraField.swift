import StockCore

/// A field a dialect carries that the canonical model has no member for, declared by that
/// dialect (beside its codec, with a typed accessor on `MovementExtras`). StockGate's own API
/// reads, writes and documents every declared field from this list; the stores keep them as
/// named JSON values.
public struct ExtraField: Sendable {
    public enum Kind: Sendable {
        /// Free text of at most `maxLength` characters.
        case text(maxLength: Int)
        case flag
        /// A customer order reference (`CustomerOrderRef`).
        case order
    }

    public let name: String
    public let kind: Kind

    public init(_ name: String, _ kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// Every declared field, the dialects' in turn.
    public static let all: [ExtraField] = storeFeeder + colleqtive + zettle

    /// The field's value read from a request (`reader` is the `extras` object).
    func read(_ reader: FieldReader) throws(GatewayError) -> JSONValue? {
        switch kind {
        case .text(let maxLength): return try reader.string(name, maxLength: maxLength).map(JSONValue.string)
        case .flag: return try reader.bool(name).map(JSONValue.bool)
        case .order:
            return try reader.object(name).map { reader throws(GatewayError) in try CustomerOrderRef(reader).json }
        }
    }

    /// The field's value as StockGate's API writes it (an order's members in their own order).
    func json(_ value: JSONValue) -> JSONValue {
        guard case .order = kind else { return value }
        return CustomerOrderRef(value).json
    }

    /// The field's JSON schema (nullable).
    var schema: JSONValue {
        switch kind {
        case .text(let maxLength):
            return SchemaFragment.nullable(SchemaFragment.text(maxLength: maxLength, allowEmpty: true))
        case .flag: return SchemaFragment.nullable(["type": "boolean"])
        case .order: return SchemaFragment.nullable(CustomerOrderRef.schema)
        }
    }
}

extension MovementExtras {
    func text(_ name: String) -> String? { self[name]?.stringValue }
    func flag(_ name: String) -> Bool? { self[name]?.boolValue }
}
