import StockCore

/// Compares an actual JSON value with an expected one that may hold matchers:
/// `{"$type": "string" | "number" | "integer" | "boolean" | "array" | "object" | "null"}`,
/// `{"$pattern": "regex"}` (a string, or a number's text, must match the whole pattern),
/// `{"$any": true}`. Numbers compare by value (`42` equals `42.0`).
public enum JSONMatcher {
    /// The first difference as `path: what`, or nil when `actual` matches.
    /// - Parameter subset: objects may have members the expectation does not list.
    public static func mismatch(expected: JSONValue, actual: JSONValue?, subset: Bool, path: String = "$") -> String? {
        if case .object(let object) = expected, object.members.count == 1, let key = object.members.first?.key,
            key.hasPrefix("$")
        {
            return matcher(key, object.members[0].value, actual: actual, path: path)
        }
        guard let actual else { return "\(path): missing, expected \(JSONWriter.string(expected))" }
        switch (expected, actual) {
        case (.object(let want), .object(let have)):
            for member in want.members {
                if let problem = mismatch(
                    expected: member.value, actual: have[member.key], subset: subset,
                    path: "\(path).\(member.key)")
                {
                    return problem
                }
            }
            if !subset {
                for key in have.keys where want[key] == nil { return "\(path).\(key): not expected" }
            }
            return nil
        case (.array(let want), .array(let have)):
            guard want.count == have.count else { return "\(path): \(have.count) items, expected \(want.count)" }
            for (index, item) in want.enumerated() {
                if let problem = mismatch(
                    expected: item, actual: have[index], subset: subset, path: "\(path)[\(index)]")
                {
                    return problem
                }
            }
            return nil
        case (.number(let want), .number(let have)):
            if want == have { return nil }
            if let a = try? Quantity(parsing: want), let b = try? Quantity(parsing: have), a == b { return nil }
            return "\(path): \(have), expected \(want)"
        default:
            return expected == actual
                ? nil : "\(path): \(JSONWriter.string(actual)), expected \(JSONWriter.string(expected))"
        }
    }

    static func matcher(_ key: String, _ argument: JSONValue, actual: JSONValue?, path: String) -> String? {
        switch key {
        case "$any":
            return actual == nil ? "\(path): missing" : nil
        case "$absent":
            return actual == nil ? nil : "\(path): present, expected absent"
        case "$type":
            guard let actual else { return "\(path): missing" }
            let want = argument.stringValue ?? ""
            let have: String
            switch actual {
            case .null: have = "null"
            case .bool: have = "boolean"
            case .number(let text): have = (want == "integer" && Int64(text) != nil) ? "integer" : "number"
            case .string: have = "string"
            case .array: have = "array"
            case .object: have = "object"
            }
            return have == want || (want == "number" && have == "integer") ? nil : "\(path): \(have), expected \(want)"
        case "$pattern":
            guard let actual else { return "\(path): missing" }
            let text: String
            switch actual {
            case .string(let string): text = string
            case .number(let number): text = number
            default: return "\(path): \(actual.typeName), expected text matching a pattern"
            }
            return matches(text, pattern: argument.stringValue ?? "")
                ? nil : "\(path): '\(text)' does not match /\(argument.stringValue ?? "")/"
        default:
            return "\(path): unknown matcher \(key)"
        }
    }

    public static func matches(_ text: String, pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.wholeMatch(in: text)) != nil
    }
}
