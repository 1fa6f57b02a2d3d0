import Foundation
import StockCore

/// Compares an actual JSON value with an expected one that may hold matchers, objects with
/// one `$` key standing anywhere in the expected value:
///
/// - `{"$type": "string" | "number" | "integer" | "boolean" | "array" | "object" | "null"}`
/// - `{"$pattern": "regex"}`: a string, or a number's text, matches the whole pattern
/// - `{"$any": true}`, `{"$absent": true}`
/// - `{"$capture": "name"}`: any present value, kept as `${name}` for later steps
/// - `{"$decimal": true}` or `{"$decimal": {"scale": 2, "precision": 12}}`: an exact decimal,
///   as a number or a string, with at most `scale` fraction digits and `precision` digits
/// - `{"$uuid": true}`: a UUID in its 8-4-4-4-12 hex form
/// - `{"$timestamp": "iso8601" | "http" | "epoch-seconds" | "epoch-millis"}`: a vendor's time
/// - `{"$each": M}`: an array whose every item matches M
/// - `{"$contains": [M…]}`: an array holding, for each M, an item that matches it
/// - `{"$unordered": [M…]}`: an array holding exactly items that match the Ms, in any order
/// - `{"$literal": V}`: exactly V, matchers inside it taken as plain values (how a recording
///   keeps a caller's or a vendor's own `{"$pattern": …}` from becoming a live matcher)
///
/// Numbers compare by value (`42` equals `42.0`).
public enum JSONMatcher {
    /// The first difference as `path: what`, or nil when `actual` matches.
    /// - Parameter subset: objects may have members the expectation does not list.
    public static func mismatch(expected: JSONValue, actual: JSONValue?, subset: Bool, path: String = "$") -> String? {
        mismatches(expected: expected, actual: actual, subset: subset, path: path).first
    }

    /// Every difference, each as `path: what`, in document order.
    public static func mismatches(
        expected: JSONValue, actual: JSONValue?, subset: Bool, path: String = "$"
    ) -> [String] {
        if case .object(let object) = expected, object.members.count == 1, let key = object.members.first?.key,
            key.hasPrefix("$")
        {
            return matcher(key, object.members[0].value, actual: actual, subset: subset, path: path)
        }
        guard let actual else { return ["\(path): missing, expected \(JSONWriter.string(expected))"] }
        switch (expected, actual) {
        case (.object(let want), .object(let have)):
            var problems: [String] = []
            for member in want.members {
                problems += mismatches(
                    expected: member.value, actual: have[member.key], subset: subset, path: "\(path).\(member.key)")
            }
            if !subset {
                for key in have.keys where want[key] == nil { problems.append("\(path).\(key): not expected") }
            }
            return problems
        case (.array(let want), .array(let have)):
            guard want.count == have.count else { return ["\(path): \(have.count) items, expected \(want.count)"] }
            return want.indices.flatMap { index in
                mismatches(expected: want[index], actual: have[index], subset: subset, path: "\(path)[\(index)]")
            }
        case (.number(let want), .number(let have)):
            if want == have { return [] }
            if let a = try? Quantity(parsing: want), let b = try? Quantity(parsing: have), a == b { return [] }
            return ["\(path): \(have), expected \(want)"]
        default:
            return expected == actual
                ? [] : ["\(path): \(JSONWriter.string(actual)), expected \(JSONWriter.string(expected))"]
        }
    }

    /// `$type`: null, boolean, integer, number, string, array or object.
    static func typeMismatch(want: String, actual: JSONValue) -> String? {
        let have: String
        switch actual {
        case .null: have = "null"
        case .bool: have = "boolean"
        case .number(let text): have = (want == "integer" && Int64(text) != nil) ? "integer" : "number"
        case .string: have = "string"
        case .array: have = "array"
        case .object: have = "object"
        }
        return have == want || (want == "number" && have == "integer") ? nil : "\(have), expected \(want)"
    }

    /// `$decimal`, with an optional `scale` (decimals) and `precision` (digits).
    static func decimalMismatch(_ argument: JSONValue, actual: JSONValue) -> String? {
        guard let text = scalarText(actual), (try? Quantity(parsing: text)) != nil else {
            return "\(JSONWriter.string(actual)), expected a decimal"
        }
        let digits = text.drop { $0 == "-" || $0 == "+" }
        let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count > 1 ? parts[1].count : 0
        let integer = String(parts[0]).drop { $0 == "0" }.count
        if let scale = argument["scale"]?.numberText.flatMap({ Int($0) }), fraction > scale {
            return "\(text) has \(fraction) decimals, expected at most \(scale)"
        }
        if let precision = argument["precision"]?.numberText.flatMap({ Int($0) }), integer + fraction > precision {
            return "\(text) has \(integer + fraction) digits, expected at most \(precision)"
        }
        return nil
    }

    /// `$unordered`: exactly items that match the matchers, in any order.
    static func unorderedMismatches(_ argument: JSONValue, actual: JSONValue, subset: Bool, path: String) -> [String] {
        guard case .array(var items) = actual else { return ["\(path): \(actual.typeName), expected an array"] }
        let wanted = argument.arrayValue ?? []
        guard items.count == wanted.count else { return ["\(path): \(items.count) items, expected \(wanted.count)"] }
        var problems: [String] = []
        for want in wanted {
            if let index = items.firstIndex(where: { mismatches(expected: want, actual: $0, subset: subset).isEmpty }) {
                items.remove(at: index)
            } else {
                problems.append("\(path): no item matches \(JSONWriter.string(want))")
            }
        }
        return problems
    }

    static func matcher(
        _ key: String, _ argument: JSONValue, actual: JSONValue?, subset: Bool, path: String
    ) -> [String] {
        if key == "$absent" { return actual == nil ? [] : ["\(path): present, expected absent"] }
        guard let actual else { return ["\(path): missing"] }
        func problem(_ text: String) -> [String] { ["\(path): \(text)"] }
        switch key {
        case "$any", "$capture":
            return []
        case "$literal":
            return literallyEqual(argument, actual)
                ? [] : problem("\(JSONWriter.string(actual)), expected exactly \(JSONWriter.string(argument))")
        case "$type":
            return typeMismatch(want: argument.stringValue ?? "", actual: actual).map { problem($0) } ?? []
        case "$pattern":
            guard let text = scalarText(actual) else {
                return problem("\(actual.typeName), expected text matching a pattern")
            }
            return matches(text, pattern: argument.stringValue ?? "")
                ? [] : problem("'\(text)' does not match /\(argument.stringValue ?? "")/")
        case "$decimal":
            return decimalMismatch(argument, actual: actual).map { problem($0) } ?? []
        case "$uuid":
            guard case .string(let text) = actual, matches(text, pattern: uuidPattern) else {
                return problem("\(JSONWriter.string(actual)), expected a UUID")
            }
            return []
        case "$timestamp":
            let format = argument.stringValue ?? "iso8601"
            guard let text = scalarText(actual), isTimestamp(text, format: format) else {
                return problem("\(JSONWriter.string(actual)), expected a \(format) timestamp")
            }
            return []
        case "$each":
            guard case .array(let items) = actual else { return problem("\(actual.typeName), expected an array") }
            return items.indices.flatMap {
                mismatches(expected: argument, actual: items[$0], subset: subset, path: "\(path)[\($0)]")
            }
        case "$contains":
            guard case .array(let items) = actual else { return problem("\(actual.typeName), expected an array") }
            let wanted = argument.arrayValue ?? [argument]
            return wanted.compactMap { want in
                items.contains { mismatches(expected: want, actual: $0, subset: subset).isEmpty }
                    ? nil : "\(path): no item matches \(JSONWriter.string(want))"
            }
        case "$unordered":
            return unorderedMismatches(argument, actual: actual, subset: subset, path: path)
        default:
            return problem("unknown matcher \(key)")
        }
    }

    /// The expectation rewritten to what `actual` is (`contract-test --update`): matchers that
    /// match are kept, everything else takes the actual value; members the answer lacks go,
    /// members it adds come (unless `subset`, where unnamed members stay unnamed).
    public static func updated(_ expected: JSONValue, to actual: JSONValue?, subset: Bool) -> JSONValue? {
        guard let actual else { return nil }
        if case .object(let object) = expected, object.members.count == 1, let key = object.members.first?.key,
            key.hasPrefix("$")
        {
            return mismatches(expected: expected, actual: actual, subset: subset).isEmpty ? expected : actual
        }
        switch (expected, actual) {
        case (.object(let want), .object(let have)):
            var members: [JSONObject.Member] = []
            for member in want.members {
                if let value = updated(member.value, to: have[member.key], subset: subset) {
                    members.append(.init(member.key, value))
                }
            }
            if !subset {
                for member in have.members where want[member.key] == nil { members.append(member) }
            }
            return .object(JSONObject(members))
        case (.array(let want), .array(let have)) where want.count == have.count:
            return .array(want.indices.map { updated(want[$0], to: have[$0], subset: subset) ?? have[$0] })
        default:
            return mismatches(expected: expected, actual: actual, subset: subset).isEmpty ? expected : actual
        }
    }

    /// Equal as JSON, no value read as a matcher; numbers by value.
    static func literallyEqual(_ want: JSONValue, _ have: JSONValue) -> Bool {
        switch (want, have) {
        case (.object(let a), .object(let b)):
            return a.members.count == b.members.count
                && a.members.allSatisfy { member in b[member.key].map { literallyEqual(member.value, $0) } ?? false }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { literallyEqual($0, $1) }
        case (.number(let a), .number(let b)):
            return a == b || ((try? Quantity(parsing: a)).map { x in (try? Quantity(parsing: b)) == x } ?? false)
        default:
            return want == have
        }
    }

    /// Whether a difference says the actual value has a member the expectation does not name.
    public static func isUnexpectedMember(_ problem: String) -> Bool { problem.hasSuffix(": not expected") }

    /// The values `{"$capture": "name"}` matchers in `expected` stand on in `actual`.
    public static func captures(expected: JSONValue, actual: JSONValue?) -> [String: JSONValue] {
        guard let actual else { return [:] }
        switch expected {
        case .object(let object):
            if object.members.count == 1, object.members[0].key == "$capture",
                let name = object.members[0].value.stringValue
            {
                return [name: actual]
            }
            var found: [String: JSONValue] = [:]
            for member in object.members {
                found.merge(captures(expected: member.value, actual: actual[member.key])) { $1 }
            }
            return found
        case .array(let items):
            guard let have = actual.arrayValue else { return [:] }
            var found: [String: JSONValue] = [:]
            for (index, item) in items.enumerated() where index < have.count {
                found.merge(captures(expected: item, actual: have[index])) { $1 }
            }
            return found
        default:
            return [:]
        }
    }

    /// `value` with `${name}` references to captured values filled in: a string that is only a
    /// reference becomes the captured value itself (a number stays a number), one holding
    /// references gets their text.
    public static func substitute(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue {
        guard !variables.isEmpty else { return value }
        switch value {
        case .string(let text):
            if text.hasPrefix("${"), text.hasSuffix("}"), let captured = variables[String(text.dropFirst(2).dropLast())]
            {
                return captured
            }
            return .string(substitute(text, variables))
        case .array(let items):
            return .array(items.map { substitute($0, variables) })
        case .object(let object):
            return .object(JSONObject(object.members.map { .init($0.key, substitute($0.value, variables)) }))
        default:
            return value
        }
    }

    /// Text with each `${name}` replaced by the captured value's text.
    public static func substitute(_ text: String, _ variables: [String: JSONValue]) -> String {
        var result = text
        for (name, value) in variables where result.contains("${\(name)}") {
            let replacement = scalarText(value) ?? JSONWriter.string(value)
            result = result.replacingOccurrences(of: "${\(name)}", with: replacement)
        }
        return result
    }

    static let uuidPattern = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text), .number(let text): text
        default: nil
        }
    }

    /// Whether `text` is a time in one of the vendors' formats: ISO 8601 (Zettle, StockGate,
    /// Colleqtive), an HTTP date (`Retry-After`, `Date`), or seconds / milliseconds since 1970.
    static func isTimestamp(_ text: String, format: String) -> Bool {
        switch format {
        case "iso8601":
            return matches(text, pattern: #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?"#)
        case "http":
            return matches(
                text, pattern: #"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"#)
        case "epoch-seconds":
            return matches(text, pattern: #"\d{9,11}(\.\d+)?"#)
        case "epoch-millis":
            return matches(text, pattern: #"\d{12,14}"#)
        default:
            return false
        }
    }

    public static func matches(_ text: String, pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.wholeMatch(in: text)) != nil
    }
}
