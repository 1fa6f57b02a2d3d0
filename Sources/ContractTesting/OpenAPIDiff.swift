import Gateway
import StockCore

/// What changed between two versions of a vendor's API, as a client of it sees it: two OpenAPI
/// documents (a vendor's, or StockGate's `stockgate openapi`), or two recordings directories
/// (`stockgate record`, each dialect's cases turned into its document first).
///
/// Breaking, for a client: an operation gone; a success status gone; in an answer, a member
/// gone, no longer always there, or of another type; in a request, a member newly required or
/// one the client sends of another type. Not breaking: what is added (an operation, a status,
/// an answer's member), and a request member no longer required.
public enum OpenAPIDiff {
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var breaking: Bool
        /// `POST /api/v6/commerce.movements.create`
        public var operation: String
        public var what: String

        public var description: String { "\(breaking ? "BREAKING" : "compatible") \(operation): \(what)" }
    }

    /// Every change from `old` to `new`, breaking ones first, each group in document order.
    public static func changes(old: JSONValue, new: JSONValue) -> [Change] {
        var changes: [Change] = []
        let oldOperations = operations(old)
        let newOperations = operations(new)
        for (name, operation) in oldOperations {
            guard let next = newOperations.first(where: { $0.name == name })?.operation else {
                changes.append(Change(breaking: true, operation: name, what: "the operation is gone"))
                continue
            }
            changes += compare(operation, next, name: name)
        }
        for (name, _) in newOperations where !oldOperations.contains(where: { $0.name == name }) {
            changes.append(Change(breaking: false, operation: name, what: "a new operation"))
        }
        return changes.filter(\.breaking) + changes.filter { !$0.breaking }
    }

    /// The changes between two recordings directories (`<dialect>/<case>.json` each, as
    /// `stockgate record` writes them): each dialect's cases made into its OpenAPI document,
    /// then compared; operations named with their dialect.
    public static func changes(
        oldCases: [ContractCase], newCases: [ContractCase], configuration: GatewayConfiguration
    ) -> [Change] {
        let dialects = Set(oldCases.map(\.dialect)).union(newCases.map(\.dialect)).sorted()
        var all: [Change] = []
        for dialect in dialects {
            func document(_ cases: [ContractCase]) -> JSONValue {
                let mine = cases.filter { $0.dialect == dialect }
                guard !mine.isEmpty else { return [:] }
                return OpenAPI.document(dialect: dialect, cases: mine, configuration: configuration) ?? [:]
            }
            all += changes(old: document(oldCases), new: document(newCases)).map {
                var change = $0
                change.operation = dialect + " " + change.operation
                return change
            }
        }
        return all.filter(\.breaking) + all.filter { !$0.breaking }
    }

    static let methods = ["get", "put", "post", "delete", "patch", "head", "options"]

    static func operations(_ document: JSONValue) -> [(name: String, operation: JSONValue)] {
        (document["paths"]?.objectValue?.members ?? []).flatMap { path in
            (path.value.objectValue?.members ?? []).filter { methods.contains($0.key) }.map {
                (name: "\($0.key.uppercased()) \(path.key)", operation: $0.value)
            }
        }
    }

    static func compare(_ old: JSONValue, _ new: JSONValue, name: String) -> [Change] {
        var changes: [Change] = []
        let oldResponses = old["responses"]?.objectValue?.members ?? []
        let newResponses = new["responses"]?.objectValue ?? JSONObject()
        for response in oldResponses {
            guard let next = newResponses[response.key] else {
                let success = response.key.hasPrefix("2")
                changes.append(
                    Change(breaking: success, operation: name, what: "response \(response.key) is no longer answered"))
                continue
            }
            for problem in schemaChanges(
                schema(response.value), schema(next), path: "$", direction: .answer)
            {
                changes.append(
                    Change(
                        breaking: problem.breaking, operation: name, what: "response \(response.key): \(problem.what)"))
            }
        }
        for response in newResponses.members where !oldResponses.contains(where: { $0.key == response.key }) {
            changes.append(Change(breaking: false, operation: name, what: "response \(response.key) is new"))
        }
        let oldBody = old["requestBody"]?["content"]?["application/json"]?["schema"]
        let newBody = new["requestBody"]?["content"]?["application/json"]?["schema"]
        for problem in schemaChanges(oldBody, newBody, path: "$", direction: .request) {
            changes.append(Change(breaking: problem.breaking, operation: name, what: "request body: \(problem.what)"))
        }
        return changes
    }

    static func schema(_ response: JSONValue) -> JSONValue? { response["content"]?["application/json"]?["schema"] }

    /// Which way the data flows: a client reads answers and writes requests.
    enum Direction { case answer, request }

    static func types(_ schema: JSONValue) -> Set<String> {
        switch schema["type"] {
        case .string(let type)?: [type]
        case .array(let list)?: Set(list.compactMap(\.stringValue))
        default: []
        }
    }

    /// The differences between two schemas of one place (`path`), as `(breaking, what)`.
    static func schemaChanges(
        _ old: JSONValue?, _ new: JSONValue?, path: String, direction: Direction
    ) -> [(breaking: Bool, what: String)] {
        guard let old, let new else {
            if old == nil, new != nil { return [(direction == .request, "\(path) now has a schema")] }
            if old != nil, new == nil { return [(direction == .answer, "\(path) no longer has a schema")] }
            return []
        }
        var changes: [(breaking: Bool, what: String)] = []
        let (oldTypes, newTypes) = (types(old), types(new))
        if !oldTypes.isEmpty, !newTypes.isEmpty, oldTypes != newTypes {
            // An answer may narrow what it sends; a request may widen what it takes.
            let breaking =
                direction == .answer ? !newTypes.isSubset(of: oldTypes) : !oldTypes.isSubset(of: newTypes)
            changes.append(
                (
                    breaking,
                    "\(path) was \(oldTypes.sorted().joined(separator: "|")), now \(newTypes.sorted().joined(separator: "|"))"
                ))
        }
        let oldProperties = old["properties"]?.objectValue?.members ?? []
        let newProperties = new["properties"]?.objectValue ?? JSONObject()
        let oldRequired = Set(old["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let newRequired = Set(new["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for property in oldProperties {
            let member = path + "." + property.key
            guard let next = newProperties[property.key] else {
                changes.append((direction == .answer, "\(member) is gone"))
                continue
            }
            if direction == .answer, oldRequired.contains(property.key), !newRequired.contains(property.key) {
                changes.append((true, "\(member) is no longer always there"))
            }
            changes += schemaChanges(property.value, next, path: member, direction: direction)
        }
        for property in newProperties.members where !oldProperties.contains(where: { $0.key == property.key }) {
            let required = newRequired.contains(property.key)
            changes.append(
                (direction == .request && required, "\(path).\(property.key) is new\(required ? " and required" : "")"))
        }
        if direction == .request {
            for key in newRequired.subtracting(oldRequired) where oldProperties.contains(where: { $0.key == key }) {
                changes.append((true, "\(path).\(key) is now required"))
            }
        }
        changes += schemaChanges(old["items"], new["items"], path: path + "[]", direction: direction)
        return changes
    }
}
