import StockCore

/// What a route takes, declared as strictly as its decoder checks it: the JSON Schema
/// (2020-12, as OpenAPI 3.1 uses it) of its body, and the schemas of its query and path
/// parameters. The OpenAPI documents use a declared schema instead of one inferred from
/// examples, so a tool generating requests from them (Schemathesis' positive and negative
/// data checks) finds a request the schema allows refused, or one it forbids served, only
/// where the two really disagree.
///
/// What JSON Schema cannot say is left to the decoder and named where it is declared: a
/// product or location the catalog does not hold is refused 404 (not a schema matter); two
/// members that must differ (`from` and `to`); a number's decimal places (JSON Schema sees
/// binary floats, the decoders read the digits).
public struct RequestSchema: Sendable {
    /// The body's schema; nil for a route that takes no body.
    public var body: JSONValue?
    /// The query parameters the route reads, in order; any other is refused or ignored as the
    /// dialect does.
    public var query: [Parameter]
    /// Schemas of the path's `{name}` segments (a segment not named here is any string).
    public var path: [String: JSONValue]

    public struct Parameter: Sendable {
        public var name: String
        public var schema: JSONValue
        public var required: Bool

        public init(_ name: String, _ schema: JSONValue, required: Bool = false) {
            self.name = name
            self.schema = schema
            self.required = required
        }
    }

    public init(body: JSONValue? = nil, query: [Parameter] = [], path: [String: JSONValue] = [:]) {
        self.body = body
        self.query = query
        self.path = path
    }
}

/// Schema fragments the dialects share.
public enum SchemaFragment {
    /// A UUID in text (any case; the decoders fold it).
    public static let uuid: JSONValue = [
        "type": "string", "format": "uuid",
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ]

    /// A string of 1 to `maxLength` characters with no U+0000 (the decoders refuse it: SQLite's
    /// text stops there).
    public static func text(maxLength: Int, allowEmpty: Bool = false) -> JSONValue {
        [
            "type": "string", "minLength": .integer(allowEmpty ? 0 : 1), "maxLength": .integer(maxLength),
            "pattern": "^[^\\u0000]*$",
        ]
    }

    /// An object with `properties`, `required` members, and, when `closed`, no others (the
    /// decoder refuses an unknown member).
    public static func object(
        _ properties: [(String, JSONValue)], required: [String] = [], closed: Bool = false
    )
        -> JSONValue
    {
        var members = JSONObject()
        for (name, schema) in properties { members[name] = schema }
        var object = JSONObject.from(["type": "object", "properties": .object(members)])
        if !required.isEmpty { object["required"] = .array(required.map { .string($0) }) }
        if closed { object["additionalProperties"] = false }
        return .object(object)
    }

    /// An array of `items`, `minItems` to `maxItems` long.
    public static func array(_ items: JSONValue, minItems: Int = 1, maxItems: Int? = nil) -> JSONValue {
        var object = JSONObject.from(["type": "array", "items": items, "minItems": .integer(minItems)])
        if let maxItems { object["maxItems"] = .integer(maxItems) }
        return .object(object)
    }

    /// An array of movements (or level items) a request carries: the gateway's own
    /// `server.max_batch_items` caps it too, and the documents lower `maxItems` to it (the
    /// `x-stockgate-batch` mark says which arrays those are).
    public static func batch(_ items: JSONValue, maxItems: Int) -> JSONValue {
        var object = array(items, maxItems: maxItems).objectValue ?? JSONObject()
        object[batchMark] = true
        return .object(object)
    }

    /// The member marking a batch array.
    public static let batchMark = "x-stockgate-batch"

    /// `schema` with every batch array at most `limit` items long.
    public static func capBatches(_ schema: JSONValue, at limit: Int) -> JSONValue {
        switch schema {
        case .object(var object):
            for member in object.members { object[member.key] = capBatches(member.value, at: limit) }
            if object[batchMark] == true, let most = object["maxItems"]?.numberText.flatMap(Int.init), most > limit {
                object["maxItems"] = .integer(limit)
            }
            return .object(object)
        case .array(let items): return .array(items.map { capBatches($0, at: limit) })
        default: return schema
        }
    }

    /// One of `values`.
    public static func oneOf(_ values: [String]) -> JSONValue {
        ["type": "string", "enum": .array(values.map { .string($0) })]
    }

    /// An integer in `range`.
    public static func integer(_ range: ClosedRange<Int64>) -> JSONValue {
        ["type": "integer", "minimum": .integer(Int(range.lowerBound)), "maximum": .integer(Int(range.upperBound))]
    }

    /// A quantity as the decoders read it: a JSON number or, with `allowString`, a decimal
    /// string; greater than zero when `positive`, else any sign (not zero when `nonZero`). The
    /// decoders take at most 18 integer and 18 fraction digits: a string's pattern says so
    /// (without the exponent form they also read); a number is bounded to magnitudes from
    /// 10⁻¹⁸ to under 10¹⁸, and its digits beyond that are the decoder's business (JSON Schema
    /// sees a binary float: 1.5e-18 fits the bounds and has 19 fraction digits).
    public static func quantity(positive: Bool = true, nonZero: Bool = true, allowString: Bool = true) -> JSONValue {
        let (smallest, largest) = (JSONValue.number("0.000000000000000001"), JSONValue.number("999999999999999999"))
        let above: JSONValue = ["type": "number", "minimum": smallest, "maximum": largest]
        let below: JSONValue = [
            "type": "number", "minimum": .number("-999999999999999999"), "maximum": .number("-0.000000000000000001"),
        ]
        var numbers: [JSONValue] = positive ? [above] : [above, below]
        if !positive && !nonZero { numbers.append(["const": 0]) }
        if allowString {
            let magnitude = "(0*[1-9][0-9]{0,17}(\\.[0-9]{1,18})?|0+\\.[0-9]{0,17}[1-9])"
            let pattern =
                positive
                ? "^\(magnitude)$"
                : nonZero ? "^-?\(magnitude)$" : "^-?[0-9]{1,18}(\\.[0-9]{1,18})?$"
            numbers.append(["type": "string", "pattern": .string(pattern)])
        }
        return numbers.count == 1 ? numbers[0] : ["anyOf": .array(numbers)]
    }

    /// A level: zero or a quantity greater than zero, as a number or a decimal string.
    public static let level: JSONValue = [
        "anyOf": [
            ["const": 0],
            ["type": "number", "minimum": .number("0.000000000000000001"), "maximum": .number("999999999999999999")],
            ["type": "string", "pattern": "^[0-9]{1,18}(\\.[0-9]{1,18})?$"],
        ]
    ]

    /// `schema`, or null (a member the decoders read as absent when it is null).
    public static func nullable(_ schema: JSONValue) -> JSONValue { ["anyOf": [schema, ["type": "null"]]] }
}

extension JSONObject {
    /// The members of an object literal.
    public static func from(_ value: JSONValue) -> JSONObject { value.objectValue ?? JSONObject() }
}
