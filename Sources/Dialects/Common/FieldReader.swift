import StockCore

/// Reads typed fields from a JSON object and names the field, by its full path in the
/// caller's own dialect (`movements[2].quantity`), in every refusal.
public struct FieldReader: Sendable {
    public let object: JSONObject
    /// The path of this object, empty at the top (`movements[2]`).
    public let path: String
    /// Members match regardless of case when no exact one exists, as ASP.NET's JSON binder
    /// (Json.NET) matches them: `transferAmount` reads `TransferAmount`. Nested readers inherit it.
    public let caseInsensitiveKeys: Bool

    public init(_ object: JSONObject, path: String = "", caseInsensitiveKeys: Bool = false) {
        self.object = object
        self.path = path
        self.caseInsensitiveKeys = caseInsensitiveKeys
    }

    /// Reads `value` as an object, or refuses it naming `path`.
    public init(_ value: JSONValue, path: String, caseInsensitiveKeys: Bool = false) throws(GatewayError) {
        guard case .object(let object) = value else {
            throw GatewayError.malformed(
                "\(path.isEmpty ? "body" : path) must be an object, got \(value.typeName)",
                field: path.isEmpty ? nil : path)
        }
        self.init(object, path: path, caseInsensitiveKeys: caseInsensitiveKeys)
    }

    /// The full path of a member.
    public func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Refuses any member not in `allowed`.
    public func rejectUnknown(_ allowed: Set<String>) throws(GatewayError) {
        for key in object.keys where !allowed.contains(key) {
            throw GatewayError.unknownField(name(key))
        }
    }

    /// The raw member; JSON `null` reads as absent.
    public func value(_ key: String) -> JSONValue? {
        var found = object[key]
        if found == nil, caseInsensitiveKeys {
            let lowered = key.lowercased()
            found = object.members.first { $0.key.lowercased() == lowered }?.value
        }
        guard let value = found, !value.isNull else { return nil }
        return value
    }

    public func has(_ key: String) -> Bool { value(key) != nil }

    func wrongType(_ key: String, expected: String, got value: JSONValue) -> GatewayError {
        GatewayError.invalidValue("\(name(key)) must be \(expected), got \(value.typeName)", field: name(key))
    }

    /// The member, or a `missing` refusal naming it.
    func member(_ key: String) throws(GatewayError) -> JSONValue {
        guard let value = value(key) else { throw GatewayError.missing(name(key)) }
        return value
    }

    /// A string member when present, with optional length limits in characters.
    public func string(_ key: String, maxLength: Int? = nil, allowEmpty: Bool = true) throws(GatewayError) -> String? {
        guard let value = value(key) else { return nil }
        return try string(key, value, maxLength: maxLength, allowEmpty: allowEmpty)
    }

    /// A string member that must be present and not empty.
    public func requiredString(_ key: String, maxLength: Int? = nil) throws(GatewayError) -> String {
        try string(key, member(key), maxLength: maxLength, allowEmpty: false)
    }

    func string(_ key: String, _ value: JSONValue, maxLength: Int?, allowEmpty: Bool) throws(GatewayError) -> String {
        guard case .string(let text) = value else { throw wrongType(key, expected: "a string", got: value) }
        if !allowEmpty && text.isEmpty {
            throw GatewayError.invalidValue("\(name(key)) must not be empty", field: name(key))
        }
        // U+0000 is valid JSON but no text field means it, and SQLite's text stops there: the
        // movement would be stored cut short while the caller saw it echoed whole.
        if text.utf8.contains(0) {
            throw GatewayError.invalidValue("\(name(key)) must not contain U+0000", field: name(key))
        }
        // A character is at least one UTF-8 byte: only a long byte count needs the slower count.
        if let maxLength, text.utf8.count > maxLength, text.count > maxLength {
            throw GatewayError.invalidValue(
                "\(name(key)) is longer than \(maxLength) characters", field: name(key))
        }
        return text
    }

    /// A boolean member when present.
    public func bool(_ key: String) throws(GatewayError) -> Bool? {
        guard let value = value(key) else { return nil }
        return try bool(key, value)
    }

    /// A boolean member that must be present.
    public func requiredBool(_ key: String) throws(GatewayError) -> Bool {
        try bool(key, member(key))
    }

    func bool(_ key: String, _ value: JSONValue) throws(GatewayError) -> Bool {
        guard case .bool(let flag) = value else { throw wrongType(key, expected: "true or false", got: value) }
        return flag
    }

    /// An integer member within `range` when present; a fraction or an exponent form is refused.
    public func integer(_ key: String, range: ClosedRange<Int64> = Int64.min...Int64.max) throws(GatewayError) -> Int64?
    {
        guard let value = value(key) else { return nil }
        return try integer(key, value, range: range)
    }

    /// An integer member within `range` that must be present.
    public func requiredInteger(
        _ key: String, range: ClosedRange<Int64> = Int64.min...Int64.max
    ) throws(GatewayError) -> Int64 {
        try integer(key, member(key), range: range)
    }

    func integer(_ key: String, _ value: JSONValue, range: ClosedRange<Int64>) throws(GatewayError) -> Int64 {
        guard case .number(let text) = value else { throw wrongType(key, expected: "an integer", got: value) }
        guard let number = Int64(text), range.contains(number) else {
            let bounds =
                range.upperBound == Int64.max
                ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw GatewayError.invalidValue("\(name(key)) must be an integer \(bounds), got \(text)", field: name(key))
        }
        return number
    }

    /// A quantity that must be present, written as a JSON number (its exact text) or, when
    /// `allowString`, a decimal string. Must be greater than zero unless `positive` is false.
    public func requiredQuantity(
        _ key: String, allowString: Bool = true, positive: Bool = true
    ) throws(GatewayError) -> Quantity {
        let value = try member(key)
        let text: String
        switch value {
        case .number(let number): text = number
        case .string(let string) where allowString: text = string
        default: throw wrongType(key, expected: allowString ? "a number or a decimal string" : "a number", got: value)
        }
        let quantity: Quantity
        do {
            quantity = try Quantity(parsing: text)
        } catch .notANumber {
            throw GatewayError.invalidValue("\(name(key)) is not a decimal number: '\(text)'", field: name(key))
        } catch {
            throw GatewayError.invalidValue(
                "\(name(key)) \(text) is out of range (at most \(Quantity.maxIntegerDigits) integer and "
                    + "\(Quantity.maxFractionDigits) fraction digits)", field: name(key))
        }
        if positive && !quantity.isPositive {
            throw GatewayError.invalidValue("\(name(key)) must be greater than zero, got \(text)", field: name(key))
        }
        return quantity
    }

    /// A nested object member when present.
    public func object(_ key: String) throws(GatewayError) -> FieldReader? {
        guard let value = value(key) else { return nil }
        return try object(key, value)
    }

    /// A nested object member that must be present.
    public func requiredObject(_ key: String) throws(GatewayError) -> FieldReader {
        try object(key, member(key))
    }

    func object(_ key: String, _ value: JSONValue) throws(GatewayError) -> FieldReader {
        guard case .object(let object) = value else { throw wrongType(key, expected: "an object", got: value) }
        return FieldReader(object, path: name(key), caseInsensitiveKeys: caseInsensitiveKeys)
    }

    /// An array member when present.
    public func array(_ key: String) throws(GatewayError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        return try array(key, value)
    }

    /// An array member that must be present.
    public func requiredArray(_ key: String) throws(GatewayError) -> [JSONValue] {
        try array(key, member(key))
    }

    func array(_ key: String, _ value: JSONValue) throws(GatewayError) -> [JSONValue] {
        guard case .array(let items) = value else { throw wrongType(key, expected: "an array", got: value) }
        return items
    }
}

extension JSONParser {
    /// Parses a request body, refusing it as `malformed` in canonical terms.
    public static func parseBody(
        _ body: [UInt8], maxDepth: Int = defaultMaxDepth, maxValues: Int = defaultMaxValues
    )
        throws(GatewayError) -> JSONValue
    {
        do {
            return try parse(body, maxDepth: maxDepth, maxValues: maxValues)
        } catch  where error.tooManyValues {
            throw GatewayError(code: .tooLarge, message: "the request body holds more than \(maxValues) JSON values")
        } catch {
            throw GatewayError.malformed("invalid JSON: \(error.description)")
        }
    }
}
