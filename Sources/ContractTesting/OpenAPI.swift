import Dialects
import Foundation
import Gateway
import Operations
import StockCore
import Synchronization

/// Each dialect as an OpenAPI 3.1 document (issue 16), for the tools teams already use:
/// generated from the inbound codec's routes and the contract cases' examples, so it says what
/// StockGate really serves and answers, not what someone wrote down beside it.
///
/// - Operations: one per route and method. A route that takes any method and dispatches on
///   its path (Open2b's `/api/v6/{method}`) becomes one `POST` operation per path its cases use.
/// - Requests: the schemas the codec declares (`InboundCodec.requestSchema`, as strict as its
///   decoder), the accepted cases' bodies as examples. A route without a declaration falls
///   back to a schema inferred from the bodies its cases accept (2xx).
/// - Responses: one per status the cases expect, the schema inferred from the expected bodies
///   with each matcher turned into the schema it stands for (`$pattern` → `pattern`, `$uuid` →
///   `format: uuid`, `$each` → `items`…).
/// - Parameters: the route's path parameters; the query parameters and `Idempotency-Key` its
///   cases send.
public enum OpenAPI {
    /// The document of `dialect`, or nil for an unknown dialect.
    public static func document(
        dialect: String, cases: [ContractCase],
        configuration: GatewayConfiguration = GatewayConfiguration(port: 0, dataDirectory: "")
    ) -> JSONValue? {
        guard let codec = Gateway.codecs(configuration).first(where: { $0.dialect.rawValue == dialect }) else {
            return nil
        }
        var operations: [String: Operation] = [:]
        var order: [String] = []
        func operation(path: String, method: String, route: RouteDescription) -> String {
            let key = path + " " + method
            if operations[key] == nil {
                operations[key] = Operation(path: path, method: method, route: route)
                order.append(key)
            }
            return key
        }
        for route in codec.routeDescriptions where route.method != nil {
            _ = operation(path: route.path, method: route.method!.lowercased(), route: route)
        }
        for contract in cases where contract.dialect == dialect {
            for (request, expected) in contract.steps {
                let path = String(request.path.prefix { $0 != "?" })
                let method = request.method.uppercased()
                guard let route = codec.routeDescription(method: method, path: path) else { continue }
                // A route that takes any method (Open2b's RPC) has the operations its cases reach:
                // a case showing a 404 or 405 there shows an operation that does not exist.
                if route.method == nil && (expected.status == 404 || expected.status == 405) { continue }
                let key = operation(
                    path: route.method == nil ? path : route.path, method: method.lowercased(), route: route)
                operations[key]!.add(contract.name, request, expected, parameters: route.match(path) ?? [:])
            }
        }
        // The dialect's refusal envelope: every JSON 4xx answer its cases expect.
        // In document order, statuses ascending: the same document every time.
        let gathered = order.map { operations[$0]! }
        let refusals = gathered.flatMap { operation in
            operation.responses.keys.sorted().filter { (400..<500).contains($0) }.flatMap {
                operation.responses[$0]!.json
            }
        }
        let answers = gathered.flatMap { $0.responses.values.flatMap(\.json) }
        let nullable = Schema.nullMembers(answers)
        let named = Schema.memberValues(answers)
        // Not `refusals.isEmpty ? nil : …`: JSONValue is ExpressibleByNilLiteral, so that `nil`
        // was JSON null, and the documents said `"schema": null` (invalid OpenAPI).
        var refusal: JSONValue?
        if !refusals.isEmpty { refusal = Schema.infer(refusals, matchers: true, nullable: nullable) }
        var paths = JSONObject()
        for key in order {
            let operation = operations[key]!
            var item = paths[operation.path]?.objectValue ?? JSONObject()
            item[operation.method] = operation.json(
                dialect: dialect, refusal: refusal, nullable: nullable, named: named,
                maxBatchItems: configuration.maxBatchItems)
            paths[operation.path] = .object(item)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": .string("StockGate: the \(dialect) dialect"),
                "version": .string(BuildInfo.version),
                "description": .string(
                    "The \(dialect) API as StockGate serves it, generated from its codec's routes and request schemas (as strict as its decoders) and its contract cases' examples (contract-tests/\(dialect)). Response schemas are inferred from those examples: a member every example carries is required."
                ),
            ],
            "paths": .object(paths),
        ]
    }

    /// Every dialect StockGate serves.
    public static var dialects: [String] { DialectRegistry.names }

    /// One operation being gathered from the cases.
    struct Operation {
        let path: String
        let method: String
        let route: RouteDescription
        var acceptedBodies: [(name: String, value: JSONValue)] = []
        var bodies: [(name: String, value: JSONValue)] = []
        var query: [String: [String]] = [:]
        var queryOrder: [String] = []
        /// Query values of the cases the route accepted (examples of a declared parameter).
        var acceptedQuery: [String: [String]] = [:]
        var pathExamples: [String: String] = [:]
        var idempotencyKey = false
        var responses: [Int: Response] = [:]

        struct Response {
            var json: [JSONValue] = []
            var text = false
            var empty = false
            var cases: [String] = []
        }

        init(path: String, method: String, route: RouteDescription) {
            self.path = path
            self.method = method
            self.route = route
        }

        mutating func add(
            _ name: String, _ request: ContractCase.Request, _ expected: ContractCase.Expected,
            parameters: [String: String]
        ) {
            // A body holding `${name}` (a value captured by an earlier step) is no example.
            let body =
                request.bodyJSON ?? request.body.flatMap { try? JSONParser.parse($0) }
            if let body, !JSONWriter.string(body).contains("${") {
                bodies.append((name, body))
                if (200..<300).contains(expected.status) { acceptedBodies.append((name, body)) }
            }
            for item in request.query {
                if query[item.name] == nil { queryOrder.append(item.name) }
                query[item.name, default: []].append(item.value)
                if (200..<300).contains(expected.status) { acceptedQuery[item.name, default: []].append(item.value) }
            }
            if request.headers.contains(where: { $0.name.lowercased() == "idempotency-key" }) { idempotencyKey = true }
            for (name, value) in parameters where pathExamples[name] == nil && !value.contains("${") {
                pathExamples[name] = value
            }
            var response = responses[expected.status] ?? Response()
            if let json = expected.body {
                response.json.append(json)
            } else if let text = expected.bodyText, !text.isEmpty {
                response.text = true
            } else {
                response.empty = true
            }
            response.cases.append(name)
            responses[expected.status] = response
        }

        func json(
            dialect: String, refusal: JSONValue?, nullable: Set<String>, named: [String: [JSONValue]],
            maxBatchItems: Int
        ) -> JSONValue {
            var object = JSONObject.from([
                "operationId": .string(
                    "\(dialect).\(route.name)"
                        + (route.method == nil ? ".\(path.split(separator: "/").last ?? "")" : "")),
                "summary": .string(route.name),
            ])
            // A schema the codec declares is as strict as its decoder; without one, the schema
            // is inferred from the cases' examples.
            let declared = route.requestSchema(path: path)
            let parameters = parametersJSON(declared)
            if !parameters.isEmpty { object["parameters"] = .array(parameters) }
            if let body = requestBodyJSON(declared, maxBatchItems: maxBatchItems) { object["requestBody"] = body }
            var answers = JSONObject()
            for status in responses.keys.sorted() {
                let response = responses[status]!
                var answer = JSONObject.from([
                    "description": .string("As contract-tests/\(response.cases.first ?? "") shows")
                ])
                var content = JSONObject()
                if !response.json.isEmpty {
                    content["application/json"] = [
                        "schema": Schema.infer(response.json, matchers: true, nullable: nullable, named: named)
                    ]
                }
                if response.text { content["text/plain"] = ["schema": ["type": "string"]] }
                if !content.isEmpty { answer["content"] = .object(content) }
                answers[String(status)] = .object(answer)
            }
            // Any other 4xx is a refusal in the dialect's envelope, as its cases show them; a 5xx
            // (the store or a backend away, an unknown outcome) is too, its members not shown.
            var refused = JSONObject.from([
                "description":
                    "Any other 4xx: a refusal in the dialect's error envelope (as its contract cases' 4xx answers show it)"
            ])
            if let refusal { refused["content"] = ["application/json": ["schema": refusal]] }
            answers["4XX"] = .object(refused)
            if !responses.keys.contains(where: { (200..<300).contains($0) }) {
                answers["2XX"] = ["description": "Success; no contract case shows this route's answer yet"]
            }
            answers["5XX"] = [
                "description": "The store or a backend unavailable (503), or a forwarded write's outcome unknown (504)"
            ]
            object["responses"] = .object(answers)
            return .object(object)
        }

        /// The path, query and header parameters: the declared ones, or those the cases send.
        func parametersJSON(_ declared: RequestSchema?) -> [JSONValue] {
            var parameters: [JSONValue] = []
            for name in Self.pathParameters(path) {
                var parameter = JSONObject.from([
                    "name": .string(name), "in": "path", "required": true,
                    "schema": declared?.path[name] ?? ["type": "string"],
                ])
                if let example = pathExamples[name] { parameter["example"] = .string(example) }
                parameters.append(.object(parameter))
            }
            if let declared {
                for item in declared.query {
                    var parameter = JSONObject.from([
                        "name": .string(item.name), "in": "query", "required": .bool(item.required),
                        "schema": item.schema,
                    ])
                    if let example = acceptedQuery[item.name]?.first { parameter["example"] = .string(example) }
                    parameters.append(.object(parameter))
                }
            } else {
                for name in queryOrder {
                    var parameter = JSONObject.from([
                        "name": .string(name), "in": "query", "required": false, "schema": ["type": "string"],
                    ])
                    if let example = query[name]?.first { parameter["example"] = .string(example) }
                    parameters.append(.object(parameter))
                }
            }
            if idempotencyKey {
                parameters.append([
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "schema": ["type": "string", "minLength": 1, "maxLength": 255],
                    "description": "The first answer is kept and replayed to a repeat of the same request.",
                ])
            }
            return parameters
        }

        /// The request body: the declared schema with the accepted bodies as examples, or one
        /// inferred from the cases' bodies; nil for a route that takes none.
        func requestBodyJSON(_ declared: RequestSchema?, maxBatchItems: Int) -> JSONValue? {
            if let body = declared?.body.map({ SchemaFragment.capBatches($0, at: maxBatchItems) }) {
                // Examples fit the schema: only the bodies the route accepted.
                var media = JSONObject.from(["schema": body])
                var examples = JSONObject()
                for (name, value) in acceptedBodies where examples[name] == nil { examples[name] = ["value": value] }
                if !examples.isEmpty { media["examples"] = .object(examples) }
                return ["required": true, "content": ["application/json": .object(media)]]
            }
            guard !bodies.isEmpty else { return nil }
            var examples = JSONObject()
            for (name, value) in bodies where examples[name] == nil { examples[name] = ["value": value] }
            let schema =
                acceptedBodies.isEmpty
                ? JSONValue.object(JSONObject()) : Schema.infer(acceptedBodies.map(\.value), matchers: false)
            return [
                "required": true, "content": ["application/json": ["schema": schema, "examples": .object(examples)]],
            ]
        }

        static func pathParameters(_ path: String) -> [String] {
            path.split(separator: "/").compactMap { segment in
                segment.hasPrefix("{") && segment.hasSuffix("}") ? String(segment.dropFirst().dropLast()) : nil
            }
        }
    }

    /// Documents generated once per process and directory of cases (`GET /stockgate/openapi/…`).
    public final class Cache: Sendable {
        private let directory: String
        private let configuration: GatewayConfiguration
        private let documents = Mutex<[String: [UInt8]]>([:])

        public init(casesDirectory: String, configuration: GatewayConfiguration) {
            self.directory = casesDirectory
            self.configuration = configuration
        }

        /// The document of `dialect` as JSON bytes, nil for an unknown dialect. Without the
        /// cases directory the document holds the routes alone.
        public func document(_ dialect: String) -> [UInt8]? {
            if let cached = documents.withLock({ $0[dialect] }) { return cached }
            let cases = (try? ContractCase.load(directory: directory, dialect: dialect)) ?? []
            guard let document = OpenAPI.document(dialect: dialect, cases: cases, configuration: configuration)
            else { return nil }
            let bytes = Array(JSONWriter.pretty(document).utf8)
            documents.withLock { $0[dialect] = bytes }
            return bytes
        }
    }
}

/// JSON Schema (2020-12, as OpenAPI 3.1 uses it) inferred from example values.
enum Schema {
    /// The schema every value fits. Objects: the union of their members, a member required
    /// when every example has it. With `matchers`, a contract case's matcher object stands for
    /// the schema it checks, and a `${name}` string for any value.
    /// - Parameter nullable: member names that are null in some example of the dialect: a name
    ///   means one thing within a dialect, so such a member may be null wherever it appears.
    /// - Parameter named: non-null values each member name has anywhere in the dialect's
    ///   answers: a member only ever null in one operation's examples (`next_page` on a first
    ///   page) takes the type its name has elsewhere, or null.
    static func infer(
        _ values: [JSONValue], matchers: Bool, nullable: Set<String> = [], named: [String: [JSONValue]] = [:]
    ) -> JSONValue {
        var types: [String] = []
        var objects: [JSONObject] = []
        var arrays: [[JSONValue]] = []
        var leaves: [JSONValue] = []
        func note(_ type: String) { if !types.contains(type) { types.append(type) } }
        for value in values {
            switch value {
            case .object(let object):
                if matchers, let schema = matcher(object) {
                    if !leaves.contains(schema) { leaves.append(schema) }
                } else {
                    objects.append(object)
                }
            case .array(let items): arrays.append(items)
            case .string(let text):
                if matchers && text.hasPrefix("${") && text.hasSuffix("}") {
                    if !leaves.contains([:]) { leaves.append([:]) }
                } else {
                    note("string")
                }
            // A number: an integer in the examples may be a fraction in the next answer (quantities).
            case .number: note("number")
            case .bool: note("boolean")
            case .null: note("null")
            }
        }
        var alternatives: [JSONValue] = []
        if !types.isEmpty {
            alternatives.append(["type": types.count == 1 ? .string(types[0]) : .array(types.map { .string($0) })])
        }
        if !objects.isEmpty {
            var keys: [String] = []
            for object in objects { for key in object.keys where !keys.contains(key) { keys.append(key) } }
            var properties = JSONObject()
            var required: [JSONValue] = []
            for key in keys {
                let present = objects.compactMap { object -> JSONValue? in
                    guard let value = object[key] else { return nil }
                    // `$absent`: the member must not be there; it says nothing of the member's schema.
                    if matchers, value.objectValue?.keys == ["$absent"] { return nil }
                    return value
                }
                guard !present.isEmpty else { continue }
                var schema = infer(present, matchers: matchers, nullable: nullable, named: named)
                if schema == ["type": "null"], let others = named[key], !others.isEmpty {
                    schema = infer(others, matchers: matchers, nullable: nullable)
                }
                properties[key] = nullable.contains(key) ? orNull(schema) : schema
                if present.count == objects.count { required.append(.string(key)) }
            }
            var schema = JSONObject.from(["type": "object", "properties": .object(properties)])
            if !required.isEmpty { schema["required"] = .array(required) }
            alternatives.append(.object(schema))
        }
        if !arrays.isEmpty {
            let items = arrays.flatMap { $0 }
            alternatives.append(
                items.isEmpty
                    ? ["type": "array"]
                    : ["type": "array", "items": infer(items, matchers: matchers, nullable: nullable, named: named)])
        }
        alternatives += leaves
        if alternatives.contains([:]) { return [:] }
        switch alternatives.count {
        case 0: return [:]
        case 1: return alternatives[0]
        default: return ["anyOf": .array(alternatives)]
        }
    }

    /// `schema`, or null.
    static func orNull(_ schema: JSONValue) -> JSONValue {
        guard var object = schema.objectValue, !object.isEmpty else { return schema }
        switch object["type"] {
        case .string(let type) where type != "null":
            object["type"] = [.string(type), "null"]
            return .object(object)
        case .array(let types) where !types.contains("null"):
            object["type"] = .array(types + ["null"])
            return .object(object)
        case .some:
            return schema
        case nil:
            return ["anyOf": [schema, ["type": "null"]]]
        }
    }

    /// The non-null values of each member name anywhere in `values` (scalars only: a name
    /// whose values are objects or arrays keeps its own inference).
    static func memberValues(_ values: [JSONValue]) -> [String: [JSONValue]] {
        var found: [String: [JSONValue]] = [:]
        func visit(_ value: JSONValue) {
            switch value {
            case .object(let object):
                for member in object.members {
                    switch member.value {
                    case .null, .object, .array: break
                    default: found[member.key, default: []].append(member.value)
                    }
                    visit(member.value)
                }
            case .array(let items): items.forEach(visit)
            default: break
            }
        }
        values.forEach(visit)
        return found
    }

    /// The member names that are null somewhere in `values`.
    static func nullMembers(_ values: [JSONValue]) -> Set<String> {
        var names: Set<String> = []
        func visit(_ value: JSONValue) {
            switch value {
            case .object(let object):
                for member in object.members {
                    if member.value.isNull { names.insert(member.key) }
                    visit(member.value)
                }
            case .array(let items): items.forEach(visit)
            default: break
            }
        }
        values.forEach(visit)
        return names
    }

    /// The schema a contract matcher (`{"$pattern": …}` and the others) checks, if `object` is one.
    static func matcher(_ object: JSONObject) -> JSONValue? {
        guard object.members.count == 1, let member = object.members.first, member.key.hasPrefix("$") else {
            return nil
        }
        let argument = member.value
        switch member.key {
        case "$type": return ["type": argument]
        case "$pattern":
            // The pattern is one case's check (a message naming its own item), not what every
            // answer looks like: only the type carries over. It matches a string or a number's text.
            return ["type": ["string", "number"]]
        case "$decimal": return ["type": ["number", "string"]]
        case "$uuid": return ["type": "string", "format": "uuid"]
        case "$timestamp":
            return argument.stringValue?.hasPrefix("epoch") == true ? ["type": "number"] : ["type": "string"]
        case "$each":
            return ["type": "array", "items": infer([argument], matchers: true)]
        case "$unordered":
            let items = argument.arrayValue ?? []
            return items.isEmpty ? ["type": "array"] : ["type": "array", "items": infer(items, matchers: true)]
        case "$contains": return ["type": "array"]
        case "$literal": return infer([argument], matchers: false)
        default: return [:]  // $any, $capture, and anything newer: any value
        }
    }
}
