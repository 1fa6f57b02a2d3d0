import Dialects
import Foundation
import Gateway
import HTTPTypes
import Simulator
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
        /// The answer as a vendor gave it (`response.example`: `headers` and `body`), which
        /// a replay sends; nil when the case was written by hand (a replay then makes a value
        /// for each matcher).
        public var example: JSONValue? = nil
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
        /// Faults on demand (`serve --enable-faults`): the case has a `fault` key.
        case faults
    }

    /// Faults scheduled on the target just before the case's first request (its `fault` key:
    /// one fault object or an array of them, as `POST /stockgate/v1/test/faults` takes them),
    /// removed after its last. Each fault's `times` defaults to 1.
    public var faults: [JSONValue] = []

    /// From the case's `needs` key, or else: setup or balances need both.
    public var needs: Set<Need> = []

    /// What running the case does to its target's data: what decides whether it may run
    /// against a real vendor (`contract-test --backend`).
    public enum SideEffects: String, Sendable {
        /// Reads only, or every request is refused (changes nothing).
        case none
        /// Changes data and undoes it (create … delete).
        case compensated
        /// May leave changes behind: never run against a real vendor.
        case unknown
    }

    /// From the case's `sideEffects` key, or else `none` when every step is a GET or HEAD or
    /// expects a refusal (4xx), `unknown` otherwise.
    public var sideEffects: SideEffects = .unknown

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a case from its JSON text.
    /// - Parameter fixtures: named setups (`fixtures/<name>.json`, each an array of canonical
    ///   movements) a case's `setup` may name instead of listing movements.
    public static func parse(
        _ bytes: [UInt8], name: String, dialect: String, fixtures: [String: [JSONValue]] = [:]
    ) throws -> ContractCase {
        func fail(_ message: String) -> FormatError { FormatError(description: "\(name): \(message)") }
        let root: JSONValue
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw fail("not JSON: \(error)")
        }
        guard root.objectValue != nil else { throw fail("a case is a JSON object") }
        let object: TreeObject<JSONValue>
        do {
            object = try TreeObject(root, at: "", known: members)
        } catch {
            throw fail(error.text)
        }
        var steps: [(request: Request, expected: Expected)] = []
        for (request, response, prefix) in try stepObjects(object, fail: fail) {
            steps.append(try step(request, response, prefix: prefix, fail: fail))
        }
        let balances = try readBalances(object["balances"], fail: fail)
        let setup = try readSetup(object["setup"], fixtures: fixtures, fail: fail)
        var needs =
            try readNeeds(object["needs"], fail: fail)
            ?? (!setup.isEmpty || balances != nil ? [.canonicalAPI, .reset] : [])
        var faults: [JSONValue] = []
        if let fault = object["fault"] {
            faults = try readFaults(fault, fail: fail)
            needs.insert(.faults)
        }
        var contract = ContractCase(
            name: name, dialect: dialect, description: object["description"]?.stringValue ?? "", setup: setup,
            steps: steps, balances: balances)
        contract.needs = needs
        contract.faults = faults
        let codec = DialectRegistry.dialect(named: dialect)?.inboundCodec()
        let readsOnly = steps.allSatisfy { step in
            let method = HTTPRequest.Method(step.request.method.uppercased()) ?? .post
            return codec?.onlyReads(method: method, path: step.request.path) ?? (method == .get || method == .head)
                || (400..<500).contains(step.expected.status)
        }
        contract.sideEffects = readsOnly && setup.isEmpty ? .none : .unknown
        if let declared = object["sideEffects"] {
            guard let value = declared.stringValue.flatMap(SideEffects.init(rawValue:)) else {
                throw fail("sideEffects is 'none', 'compensated' or 'unknown'")
            }
            contract.sideEffects = value
        }
        return contract
    }

    /// The members a case may have.
    static let members: Set<String> = [
        "description", "setup", "request", "response", "balances", "needs", "steps", "sideEffects", "fault",
        "recorded",
    ]

    /// `steps`, or the one `request` and `response`: each with the prefix its messages name.
    static func stepObjects(
        _ object: TreeObject<JSONValue>, fail: (String) -> FormatError
    ) throws -> [(JSONObject?, JSONObject?, String)] {
        guard let steps = object["steps"] else {
            return [(object["request"]?.objectValue, object["response"]?.objectValue, "")]
        }
        guard object["request"] == nil && object["response"] == nil else {
            throw fail("a case has 'steps' or 'request' and 'response', not both")
        }
        guard let list = steps.arrayValue, !list.isEmpty else { throw fail("'steps' must be a non-empty array") }
        return try list.enumerated().map { index, step in
            for key in step.objectValue?.keys ?? [] where key != "request" && key != "response" {
                throw fail("steps[\(index)]: unknown key '\(key)'")
            }
            return (step["request"]?.objectValue, step["response"]?.objectValue, "steps[\(index)].")
        }
    }

    static func readBalances(_ value: JSONValue?, fail: (String) -> FormatError) throws -> [BalanceChange]? {
        guard let value else { return nil }
        guard let items = value.arrayValue else { throw fail("balances must be an array") }
        return try items.map { item in
            guard let product = item["product"]?.stringValue, let location = item["location"]?.stringValue,
                let changeText = item["change"]?.stringValue ?? item["change"]?.numberText,
                let change = try? Quantity(parsing: changeText)
            else { throw fail("each balance change needs product, location and change") }
            return BalanceChange(product: product, location: location, change: change)
        }
    }

    /// `setup`: movements, fixture names, or a mix; a fixture expands to its movements.
    static func readSetup(
        _ value: JSONValue?, fixtures: [String: [JSONValue]], fail: (String) -> FormatError
    ) throws -> [JSONValue] {
        var setup: [JSONValue] = []
        for item in value.map({ $0.arrayValue ?? [$0] }) ?? [] {
            guard let fixture = item.stringValue else {
                setup.append(item)
                continue
            }
            guard let movements = fixtures[fixture] else {
                let known = fixtures.keys.sorted().joined(separator: ", ")
                throw fail("setup names no fixture '\(fixture)' (fixtures/: \(known.isEmpty ? "none" : known))")
            }
            setup += movements
        }
        return setup
    }

    static func readNeeds(_ value: JSONValue?, fail: (String) -> FormatError) throws -> Set<Need>? {
        guard let value else { return nil }
        guard let items = value.arrayValue else { throw fail("needs must be an array") }
        return try Set(
            items.map { item in
                guard let need = item.stringValue.flatMap(Need.init(rawValue:)) else {
                    throw fail("needs holds 'stockgate-api', 'reset' or 'faults'")
                }
                return need
            })
    }

    /// `fault`: one fault or a list, each read as the fault API reads it.
    static func readFaults(_ fault: JSONValue, fail: (String) -> FormatError) throws -> [JSONValue] {
        let faults = fault.arrayValue ?? [fault]
        for (index, item) in faults.enumerated() {
            let at = faults.count == 1 && fault.arrayValue == nil ? "fault" : "fault[\(index)]"
            do {
                _ = try Fault.parse(item, at: at)
            } catch {
                throw fail("\(error.field ?? at): \(error.message)")
            }
        }
        return faults
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
        var expected = Expected(
            status: status, headers: response["headers"]?.objectValue?.members.map { ($0.key, $0.value) } ?? [],
            body: response["body"], subset: subset, bodyText: response["bodyText"]?.stringValue)
        if let example = response["example"] {
            guard example.objectValue != nil else { throw fail("\(prefix)response.example must be an object") }
            expected.example = example
        }
        return (built, expected)
    }

    /// Every case under `directory` (`<dialect>/<case>.json`), sorted, optionally of one dialect.
    public static func load(directory: String, dialect: String? = nil) throws -> [ContractCase] {
        let manager = FileManager.default
        var cases: [ContractCase] = []
        let fixtures = try loadFixtures(directory: directory)
        let dialects = try manager.contentsOfDirectory(atPath: directory).sorted()
        for folder in dialects {
            var isDirectory: ObjCBool = false
            let folderPath = (directory as NSString).appendingPathComponent(folder)
            guard manager.fileExists(atPath: folderPath, isDirectory: &isDirectory), isDirectory.boolValue else {
                continue
            }
            if let dialect, dialect != folder { continue }
            // Intents run through every dialect (`Intent`); fixtures are setups cases name.
            // `replay/` holds vendors' answers for `serve --replay`, not cases of StockGate.
            if folder == "intents" || folder == "fixtures" || folder == "replay" { continue }
            for file in try manager.contentsOfDirectory(atPath: folderPath).sorted() where file.hasSuffix(".json") {
                let path = (folderPath as NSString).appendingPathComponent(file)
                guard let data = manager.contents(atPath: path) else {
                    throw FormatError(description: "\(path): unreadable")
                }
                cases.append(try parse(Array(data), name: "\(folder)/\(file)", dialect: folder, fixtures: fixtures))
            }
        }
        return cases
    }

    /// `fixtures/<name>.json` under `directory`, each an array of canonical movements.
    public static func loadFixtures(directory: String) throws -> [String: [JSONValue]] {
        let folder = (directory as NSString).appendingPathComponent("fixtures")
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [:] }
        var fixtures: [String: [JSONValue]] = [:]
        for file in files where file.hasSuffix(".json") {
            let path = (folder as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path),
                let movements = (try? JSONParser.parse(Array(data)))?.arrayValue
            else { throw FormatError(description: "\(path): a fixture is a JSON array of canonical movements") }
            fixtures[String(file.dropLast(5))] = movements
        }
        return fixtures
    }
}

extension ContractCase {
    /// The case file's text rewritten to what the target answered (`contract-test --update`):
    /// each step's status and body (matchers that still match are kept), and the balance
    /// changes when the case checks them. Everything else stays as written.
    public static func updated(_ bytes: [UInt8], with result: ContractResult) throws -> String {
        guard var root = try JSONParser.parse(bytes).objectValue else {
            throw FormatError(description: "\(result.name): a case is a JSON object")
        }
        func rewrite(_ response: JSONValue?, answer: (status: Int, body: [UInt8])) -> JSONValue? {
            guard var response = response?.objectValue else { return response }
            response["status"] = .number(String(answer.status))
            let subset = response["bodyMatch"] == "subset"
            if let body = response["body"] {
                if let actual = try? JSONParser.parse(answer.body) {
                    response["body"] = JSONMatcher.updated(body, to: actual, subset: subset) ?? actual
                } else {
                    response["body"] = nil
                    response["bodyText"] = .string(String(decoding: answer.body, as: UTF8.self))
                }
            } else if response["bodyText"] != nil {
                response["bodyText"] = .string(String(decoding: answer.body, as: UTF8.self))
            }
            return .object(response)
        }
        if let steps = root["steps"]?.arrayValue {
            var rewritten: [JSONValue] = []
            for (index, step) in steps.enumerated() {
                guard index < result.answers.count, var object = step.objectValue else {
                    rewritten.append(step)
                    continue
                }
                object["response"] = rewrite(object["response"], answer: result.answers[index])
                rewritten.append(.object(object))
            }
            root["steps"] = .array(rewritten)
        } else if let answer = result.answers.first {
            root["response"] = rewrite(root["response"], answer: answer)
        }
        if root["balances"] != nil, let changes = result.balanceChanges {
            root["balances"] = .array(
                changes.map {
                    [
                        "product": .string($0.product), "location": .string($0.location),
                        "change": .string($0.change.description),
                    ]
                })
        }
        return JSONWriter.pretty(.object(root)) + "\n"
    }
}
