import Foundation
import StockCore

/// One contract case: data, not code. See `contract-tests/README.md` for the format.
public struct ContractCase: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: [(name: String, value: String)]
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]?
        /// Send the request this many times (a retry); the last answer is compared.
        public var repeatCount: Int
        /// The JSON body as written (with `${name}` references to values captured earlier).
        public var bodyJSON: JSONValue? = nil
    }

    public struct Expected: Sendable {
        public var status: Int
        public var headers: [(name: String, value: JSONValue)]
        public var body: JSONValue?
        public var subset: Bool
        public var bodyText: String?
    }

    public struct BalanceChange: Sendable, Equatable {
        public var product: String
        public var location: String
        public var change: Quantity
    }

    /// `dialect/file-name` for reports.
    public var name: String
    public var dialect: String
    public var description: String
    public var setup: [JSONValue]
    /// The case's requests in order, each with what it must answer; a single-request case has one.
    public var steps: [(request: Request, expected: Expected)]
    /// The first step's request (a single-request case's only one).
    public var request: Request { steps[0].request }
    public var expected: Expected { steps[0].expected }
    /// nil: balances are not checked; otherwise every balance not listed must stay unchanged.
    public var balances: [BalanceChange]?

    /// What a case needs from its target besides the dialect itself.
    public enum Need: String, Sendable, CaseIterable {
        /// StockGate's canonical API (setup movements, balance checks).
        case canonicalAPI = "stockgate-api"
        /// An empty target before the case (absolute stock or ids from 1).
        case reset
    }

    /// From the case's `needs` key, or else: setup or balances need both.
    public var needs: Set<Need> = []

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a case from its JSON text.
    public static func parse(_ bytes: [UInt8], name: String, dialect: String) throws -> ContractCase {
        func fail(_ message: String) -> FormatError { FormatError(description: "\(name): \(message)") }
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw fail("not JSON: \(error)")
        }
        guard let object = root.objectValue else { throw fail("a case is a JSON object") }
        let known: Set<String> = ["description", "setup", "request", "response", "balances", "needs", "steps"]
        for key in object.keys where !known.contains(key) { throw fail("unknown key '\(key)'") }
        var stepObjects: [(JSONObject?, JSONObject?, String)] = []
        if let steps = object["steps"] {
            guard object["request"] == nil && object["response"] == nil else {
                throw fail("a case has 'steps' or 'request' and 'response', not both")
            }
            guard let list = steps.arrayValue, !list.isEmpty else { throw fail("'steps' must be a non-empty array") }
            for (index, step) in list.enumerated() {
                for key in step.objectValue?.keys ?? [] where key != "request" && key != "response" {
                    throw fail("steps[\(index)]: unknown key '\(key)'")
                }
                stepObjects.append((step["request"]?.objectValue, step["response"]?.objectValue, "steps[\(index)]."))
            }
        } else {
            stepObjects.append((object["request"]?.objectValue, object["response"]?.objectValue, ""))
        }
        var steps: [(request: Request, expected: Expected)] = []
        for (request, response, prefix) in stepObjects {
            steps.append(try step(request, response, prefix: prefix, fail: fail))
        }
        var balances: [BalanceChange]?
        if let list = object["balances"] {
            guard let items = list.arrayValue else { throw fail("balances must be an array") }
            balances = try items.map { item in
                guard let product = item["product"]?.stringValue, let location = item["location"]?.stringValue,
                    let changeText = item["change"]?.stringValue ?? item["change"]?.numberText,
                    let change = try? Quantity(parsing: changeText)
                else { throw fail("each balance change needs product, location and change") }
                return BalanceChange(product: product, location: location, change: change)
            }
        }
        let setup = object["setup"]?.arrayValue ?? []
        var needs: Set<Need> = !setup.isEmpty || balances != nil ? [.canonicalAPI, .reset] : []
        if let listed = object["needs"] {
            guard let items = listed.arrayValue else { throw fail("needs must be an array") }
            needs = try Set(
                items.map { item in
                    guard let need = item.stringValue.flatMap(Need.init(rawValue:)) else {
                        throw fail("needs holds 'stockgate-api' or 'reset'")
                    }
                    return need
                })
        }
        var contract = ContractCase(
            name: name, dialect: dialect, description: object["description"]?.stringValue ?? "", setup: setup,
            steps: steps, balances: balances)
        contract.needs = needs
        return contract
    }

    /// One request and the answer it must get (`prefix` names the step in messages).
    static func step(
        _ request: JSONObject?, _ response: JSONObject?, prefix: String, fail: (String) -> FormatError
    ) throws -> (request: Request, expected: Expected) {
        guard let request else { throw fail("'\(prefix)request' object required") }
        guard let response else { throw fail("'\(prefix)response' object required") }
        guard let method = request["method"]?.stringValue, let path = request["path"]?.stringValue else {
            throw fail("\(prefix)request.method and \(prefix)request.path are required")
        }
        func pairs(_ value: JSONValue?, _ what: String) throws -> [(name: String, value: String)] {
            guard let value else { return [] }
            guard let members = value.objectValue?.members else { throw fail("\(what) must be an object of strings") }
            return try members.map { member in
                guard let text = member.value.stringValue else { throw fail("\(what).\(member.key) must be a string") }
                return (member.key, text)
            }
        }
        var body: [UInt8]?
        var bodyJSON: JSONValue?
        if let text = request["bodyText"]?.stringValue {
            body = Array(text.utf8)
        } else if let json = request["body"] {
            body = JSONWriter.bytes(json)
            bodyJSON = json
        }
        guard let statusText = response["status"]?.numberText, let status = Int(statusText) else {
            throw fail("\(prefix)response.status (a number) is required")
        }
        let subset: Bool
        switch response["bodyMatch"]?.stringValue ?? "exact" {
        case "exact": subset = false
        case "subset": subset = true
        default: throw fail("\(prefix)response.bodyMatch must be exact or subset")
        }
        var built = Request(
            method: method, path: path, query: try pairs(request["query"], "\(prefix)request.query"),
            headers: try pairs(request["headers"], "\(prefix)request.headers"), body: body,
            repeatCount: Int(request["repeat"]?.numberText ?? "1") ?? 1)
        built.bodyJSON = bodyJSON
        return (
            built,
            Expected(
                status: status, headers: response["headers"]?.objectValue?.members.map { ($0.key, $0.value) } ?? [],
                body: response["body"], subset: subset, bodyText: response["bodyText"]?.stringValue)
        )
    }

    /// Every case under `directory` (`<dialect>/<case>.json`), sorted, optionally of one dialect.
    public static func load(directory: String, dialect: String? = nil) throws -> [ContractCase] {
        let manager = FileManager.default
        var cases: [ContractCase] = []
        let dialects = try manager.contentsOfDirectory(atPath: directory).sorted()
        for folder in dialects {
            var isDirectory: ObjCBool = false
            let folderPath = (directory as NSString).appendingPathComponent(folder)
            guard manager.fileExists(atPath: folderPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                continue
            }
            if let dialect, dialect != folder { continue }
            if folder == "intents" { continue }  // intents run through every dialect (`Intent`)
            for file in try manager.contentsOfDirectory(atPath: folderPath).sorted() where file.hasSuffix(".json") {
                let path = (folderPath as NSString).appendingPathComponent(file)
                guard let data = manager.contents(atPath: path) else {
                    throw FormatError(description: "\(path): unreadable")
                }
                cases.append(try parse(Array(data), name: "\(folder)/\(file)", dialect: folder))
            }
        }
        return cases
    }
}
