/// A document a `TreeObject` reads: a JSON value (a fault, a contract case) or a YAML node (the
/// configuration file, its backends). The one way StockGate walks a hand-written tree: members
/// it does not know are refused, and every problem names the member by its path.
public protocol TreeNode {
    /// A mapping's members, in order, each with its key's line; nil when this is not a mapping.
    var treeMembers: [(key: String, value: Self, line: Int?)]? { get }
    /// A list's items; nil when this is not a list.
    var treeItems: [Self]? { get }
    /// A text scalar (JSON: a string; YAML: any scalar, as written).
    var treeText: String? { get }
    /// A number's text as written.
    var treeNumberText: String? { get }
    var treeBool: Bool? { get }
    var treeIsNull: Bool { get }
    /// The line it starts on, where the source says.
    var treeLine: Int? { get }
}

/// What is wrong with a member: its path (`fault.match.dialect`, `server.port`), what, and
/// where. Each reader turns it into its own error (`gatewayError`, a config file's line).
public struct TreeProblem: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A member the reader does not know.
        case unknown
        case missing
        /// Present but not what it must be; `message` says what it must be.
        case invalid
    }

    public var kind: Kind
    public var path: String
    public var message: String
    public var line: Int?

    public init(_ kind: Kind, path: String, message: String = "", line: Int? = nil) {
        self.kind = kind
        self.path = path
        self.message = message
        self.line = line
    }

    /// As the gateway's APIs answer it: the member named as the field.
    public var gatewayError: GatewayError {
        switch kind {
        case .unknown: .unknownField(path)
        case .missing: .missing(path)
        case .invalid: .invalidValue(message, field: path)
        }
    }

    /// `path: message` (or `unknown key 'path'`, `path is required`), for a line of text.
    public var text: String {
        switch kind {
        case .unknown: "unknown key '\(path)'"
        case .missing: "\(path) is required"
        case .invalid: "\(path) \(message)"
        }
    }
}

/// One mapping of a tree, read member by member: typed reads that name the member when it is
/// wrong, and no member outside `known`.
public struct TreeObject<Node: TreeNode> {
    /// The mapping's path (`fault`, `server`, `backends[2].auth`); empty at the top.
    public let path: String
    public let members: [(key: String, value: Node, line: Int?)]
    public let line: Int?

    /// Reads `node` as a mapping whose members are all in `known` (nil: any).
    public init(_ node: Node, at path: String, known: Set<String>?) throws(TreeProblem) {
        guard let members = node.treeMembers else {
            throw TreeProblem(.invalid, path: path, message: "must be a mapping", line: node.treeLine)
        }
        self.path = path
        self.members = members
        line = node.treeLine
        if let known {
            for member in members where !known.contains(member.key) {
                throw TreeProblem(.unknown, path: name(member.key), line: member.line ?? line)
            }
        }
    }

    public var keys: [String] { members.map(\.key) }

    public subscript(key: String) -> Node? { members.first { $0.key == key }?.value }

    /// The line of a member's key (else the mapping's).
    public func line(of key: String) -> Int? { members.first { $0.key == key }?.line ?? line }

    /// The member's path.
    public func name(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// A problem with a member, at its line.
    public func problem(_ key: String, _ message: String, _ kind: TreeProblem.Kind = .invalid) -> TreeProblem {
        TreeProblem(kind, path: name(key), message: message, line: line(of: key))
    }

    public func required<T>(_ key: String, _ value: T?) throws(TreeProblem) -> T {
        guard let value else { throw problem(key, "is required", .missing) }
        return value
    }

    public func string(_ key: String, nonEmpty: Bool = false) throws(TreeProblem) -> String? {
        guard let node = self[key] else { return nil }
        guard let text = node.treeText, !nonEmpty || !text.isEmpty else {
            throw problem(key, nonEmpty ? "must be a non-empty string" : "must be a string")
        }
        return text
    }

    /// One of `type`'s raw values; a problem lists them.
    public func oneOf<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type) throws(TreeProblem) -> T?
    where T.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = T(rawValue: text) else {
            let names = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw problem(key, "'\(text)' is not one of: \(names)")
        }
        return value
    }

    public func integer(_ key: String, in range: ClosedRange<Int>) throws(TreeProblem) -> Int? {
        guard let node = self[key] else { return nil }
        guard let text = node.treeNumberText, let number = Int(text), range.contains(number) else {
            throw problem(key, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    public func number(_ key: String, in range: ClosedRange<Double>) throws(TreeProblem) -> Double? {
        guard let node = self[key] else { return nil }
        guard let text = node.treeNumberText, let number = Double(text), range.contains(number) else {
            throw problem(key, "must be a number from \(range.lowerBound.formatted) to \(range.upperBound.formatted)")
        }
        return number
    }

    public func bool(_ key: String) throws(TreeProblem) -> Bool? {
        guard let node = self[key] else { return nil }
        guard let flag = node.treeBool else { throw problem(key, "must be true or false") }
        return flag
    }

    public func object(_ key: String, known: Set<String>?) throws(TreeProblem) -> TreeObject? {
        guard let node = self[key] else { return nil }
        return try TreeObject(node, at: name(key), known: known)
    }

    public func list(_ key: String, nonEmpty: Bool = false) throws(TreeProblem) -> [Node]? {
        guard let node = self[key] else { return nil }
        guard let items = node.treeItems, !nonEmpty || !items.isEmpty else {
            throw problem(key, nonEmpty ? "must be a non-empty list" : "must be a list")
        }
        return items
    }
}

extension Double {
    /// `0` and `1` for whole numbers, as a range is written.
    fileprivate var formatted: String { rounded() == self ? String(Int(self)) : String(self) }
}

extension JSONValue: TreeNode {
    public var treeMembers: [(key: String, value: JSONValue, line: Int?)]? {
        objectValue?.members.map { ($0.key, $0.value, nil) }
    }
    public var treeItems: [JSONValue]? { arrayValue }
    public var treeText: String? { stringValue }
    public var treeNumberText: String? { numberText }
    public var treeBool: Bool? { boolValue }
    public var treeIsNull: Bool { isNull }
    public var treeLine: Int? { nil }
}
