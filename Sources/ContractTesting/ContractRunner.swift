import CurlHTTP
import Foundation
import HTTPTypes
import StockCore

/// What a case came to.
public struct ContractResult: Sendable {
    public var name: String
    /// Every difference found; empty when the case passed or was skipped.
    public var failures: [String]
    /// Why the case did not run against this target (it needs what the target lacks).
    public var skipped: String?
    public var seconds: Double
    /// Against a real vendor: members its answers hold that the case does not name (drift
    /// that fails nothing: the vendor added a field).
    public var notes: [String] = []
    /// What each step was answered (status, body), for `--update`.
    public var answers: [(status: Int, body: [UInt8])] = []
    /// The balance changes the case caused, when it checks balances.
    public var balanceChanges: [ContractCase.BalanceChange]?

    public var passed: Bool { failures.isEmpty && skipped == nil }
    public var failed: Bool { !failures.isEmpty }
    /// The differences as one text, nil when there are none.
    public var failure: String? { failures.isEmpty ? nil : failures.joined(separator: "; ") }

    public init(name: String, failure: String?, seconds: Double) {
        self.init(name: name, failures: failure.map { [$0] } ?? [], seconds: seconds)
    }

    public init(name: String, failures: [String], skipped: String? = nil, seconds: Double) {
        self.name = name
        self.failures = failures
        self.skipped = skipped
        self.seconds = seconds
    }
}

/// What a target offers beyond the dialect itself, found once before the cases run.
public struct TargetCapabilities: Sendable, Equatable {
    /// StockGate's canonical API (`/stockgate/v1/movements`, `/balances`): setup and balance checks.
    public var canonicalAPI: Bool
    /// `POST /stockgate/v1/test/reset`: every case starts from empty stock and ids from 1.
    public var reset: Bool
    /// `/stockgate/v1/test/faults` (`serve --enable-faults`): cases with a `fault` key run.
    public var faults: Bool

    public init(canonicalAPI: Bool, reset: Bool, faults: Bool = false) {
        self.canonicalAPI = canonicalAPI
        self.reset = reset
        self.faults = faults
    }

    /// An in-process StockGate: everything.
    public static let all = TargetCapabilities(canonicalAPI: true, reset: true, faults: true)

    /// A real vendor's backend: only its dialect, and only cases that leave its data as they
    /// found it.
    public static let vendor: TargetCapabilities = {
        var capabilities = TargetCapabilities(canonicalAPI: false, reset: false)
        capabilities.isVendor = true
        return capabilities
    }()

    /// A real vendor: cases that may leave changes behind are skipped, and members the case
    /// does not name are reported as drift, not failures.
    public var isVendor = false

    /// Why `contract` cannot run here, or nil.
    public func lacks(_ contract: ContractCase) -> String? {
        if isVendor && contract.sideEffects == .unknown {
            return
                "may change the vendor's data: only cases whose sideEffects are none or compensated run against a real backend"
        }
        if contract.needs.contains(.canonicalAPI) && !canonicalAPI {
            return "needs StockGate's canonical API for setup or balances, which the target does not serve"
        }
        if contract.needs.contains(.reset) && !reset {
            return "needs an empty target: start it with --enable-test-reset (or run without --no-reset)"
        }
        if contract.needs.contains(.faults) && !faults {
            return "needs faults on demand: start the target with --enable-faults"
        }
        return nil
    }
}

/// Runs contract cases against a base URL: setup through StockGate's canonical API, the
/// request as written, the response compared, and the balance changes checked against
/// `GET /stockgate/v1/balances` before and after. It sends with StockGate's own libcurl client.
public struct ContractRunner: Sendable {
    public let client: CurlHTTPClient
    public let timeout: Duration
    /// Sent with every request (credentials of a secured target).
    public let headers: [(name: String, value: String)]

    /// - Parameters:
    ///   - client: the HTTP client to send with; its owner shuts it down.
    ///   - timeout: the limit for each request.
    ///   - headers: added to every request, e.g. `Authorization` for a target with clients.
    public init(
        client: CurlHTTPClient, timeout: Duration = .seconds(30), headers: [(name: String, value: String)] = []
    ) {
        self.client = client
        self.timeout = timeout
        self.headers = headers
    }

    /// What the target at `baseURL` offers: its canonical API, and a reset unless `allowReset`
    /// is false (the reset empties it).
    public func capabilities(_ baseURL: String, allowReset: Bool) async -> TargetCapabilities {
        let api = (try? await send("GET", baseURL + "/stockgate/v1/balances", body: nil))?.status == 200
        var reset = false
        if allowReset {
            reset = (try? await send("POST", baseURL + "/stockgate/v1/test/reset", body: nil))?.status == 200
        }
        let faults = (try? await send("GET", baseURL + "/stockgate/v1/test/faults", body: nil))?.status == 200
        return TargetCapabilities(canonicalAPI: api, reset: reset, faults: faults)
    }

    func send(
        _ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8]?
    )
        async throws -> CurlResponse
    {
        guard let method = HTTPRequest.Method(method) else {
            throw ContractCase.FormatError(description: "'\(method)' is not an HTTP method")
        }
        var fields = HTTPFields()
        for header in headers {
            guard let name = HTTPField.Name(header.name) else {
                throw ContractCase.FormatError(description: "'\(header.name)' is not an HTTP header name")
            }
            fields.append(HTTPField(name: name, value: header.value))
        }
        for header in self.headers where fields[HTTPField.Name(header.name)!] == nil {
            fields.append(HTTPField(name: HTTPField.Name(header.name)!, value: header.value))
        }
        if body != nil && fields[.contentType] == nil { fields[.contentType] = "application/json" }
        return try await client.execute(
            CurlRequest(method: method, url: url, headerFields: fields, body: body, timeout: timeout))
    }

    /// Fails fast when nothing answers at `baseURL`. Any HTTP answer counts as reachable.
    public func checkReachable(_ baseURL: String) async throws {
        _ = try await client.execute(CurlRequest(url: baseURL + "/", timeout: .seconds(5)))
    }

    /// Runs one case against `baseURL` (no trailing slash).
    /// - Parameters:
    ///   - reset: empty the target first through `POST /stockgate/v1/test/reset` (a StockGate
    ///     started with `--enable-test-reset`) when the case needs it (`needs` holds `reset`: it
    ///     states absolute stock or ids). A case that needs no reset never resets: it may run
    ///     beside others, and a reset would empty the target under them.
    ///   - capabilities: what the target offers; a case needing more is skipped, saying why.
    public func run(
        _ contract: ContractCase, baseURL: String, reset: Bool = false, capabilities: TargetCapabilities = .all
    ) async -> ContractResult {
        let started = Date()
        if let lacking = capabilities.lacks(contract) {
            return ContractResult(name: contract.name, failures: [], skipped: lacking, seconds: 0)
        }
        var failures: [String]
        var notes: [String] = []
        var record = Record()
        do {
            if reset && capabilities.reset && contract.needs.contains(.reset) {
                let reply = try await send("POST", baseURL + "/stockgate/v1/test/reset", body: nil)
                guard reply.status == 200 else {
                    return ContractResult(
                        name: contract.name,
                        failure:
                            "reset refused with \(reply.status): start the target with --enable-test-reset, or pass --no-reset",
                        seconds: Date().timeIntervalSince(started))
                }
            }
            (failures, notes) = try await check(
                contract, baseURL: baseURL, tolerant: capabilities.isVendor, record: &record)
        } catch {
            failures = ["error: \(error)"]
        }
        var result = ContractResult(name: contract.name, failures: failures, seconds: Date().timeIntervalSince(started))
        result.notes = notes
        result.answers = record.answers
        result.balanceChanges = record.changes
        return result
    }

    /// Every difference between what the case expects and what the target did.
    /// - Parameter tolerant: a member an answer holds that the case does not name is a note
    ///   (drift at a real vendor), not a difference.
    /// What a run saw, for `--update`.
    struct Record {
        var answers: [(status: Int, body: [UInt8])] = []
        var changes: [ContractCase.BalanceChange]?
    }

    func check(
        _ contract: ContractCase, baseURL: String, tolerant: Bool = false, record: inout Record
    ) async throws -> (failures: [String], notes: [String]) {
        if !contract.setup.isEmpty {
            let body = JSONWriter.bytes(["movements": .array(contract.setup), "atomic": true])
            let reply = try await send("POST", baseURL + "/stockgate/v1/movements", body: body)
            guard reply.status == 200 else {
                return (["setup failed with \(reply.status): \(String(decoding: reply.body, as: UTF8.self))"], [])
            }
        }
        let before = contract.balances == nil ? [:] : try await balances(baseURL)
        var problems: [String] = []
        var notes: [String] = []
        var variables: [String: JSONValue] = [:]
        // The case's faults, scheduled last so that setup and the balance reads do not meet
        // them, and removed by id after its steps (other cases may share the target).
        var scheduled: [Int] = []
        if !contract.faults.isEmpty {
            let reply = try await send(
                "POST", baseURL + "/stockgate/v1/test/faults",
                body: JSONWriter.bytes(["faults": .array(contract.faults)]))
            guard reply.status == 201 else {
                return (["fault refused with \(reply.status): \(String(decoding: reply.body, as: UTF8.self))"], [])
            }
            let listed = (try? JSONParser.parse(reply.body))?["faults"]?.arrayValue ?? []
            scheduled = listed.compactMap { $0["id"]?.numberText.flatMap { Int($0) } }
        }
        var thrown: (any Error)?
        do {
            for (index, step) in contract.steps.enumerated() {
                let label = contract.steps.count > 1 ? "step \(index + 1): " : ""
                let (found, drift) = try await check(
                    step.request, step.expected, baseURL: baseURL, variables: &variables, tolerant: tolerant,
                    answers: &record.answers)
                problems += found.map { label + $0 }
                notes += drift.map { "drift: " + label + $0 }
                if !found.isEmpty && index + 1 < contract.steps.count {
                    problems.append("steps after step \(index + 1) not run")
                    break
                }
            }
        } catch {
            thrown = error
        }
        for id in scheduled {
            _ = try? await send("DELETE", baseURL + "/stockgate/v1/test/faults/\(id)", body: nil)
        }
        if let thrown { throw thrown }
        if let changes = contract.balances {
            let after = try await balances(baseURL)
            var expected = before
            for change in changes {
                let key = change.product + "@" + change.location
                expected[key] = (expected[key] ?? .zero) + change.change
            }
            record.changes = Set(before.keys).union(after.keys).sorted().compactMap { key in
                let change = (after[key] ?? .zero) - (before[key] ?? .zero)
                guard change != .zero, let at = key.firstIndex(of: "@") else { return nil }
                return ContractCase.BalanceChange(
                    product: String(key[..<at]), location: String(key[key.index(after: at)...]), change: change)
            }
            for key in Set(expected.keys).union(after.keys).sorted() {
                let want = expected[key] ?? .zero
                let have = after[key] ?? .zero
                if want != have {
                    problems.append("balance \(key) is \(have), expected \(want) (was \(before[key] ?? .zero))")
                }
            }
        }
        return (problems, notes)
    }

    /// One request of a case and every difference in its answer; values the answer holds under
    /// `$capture` matchers are added to `variables` for the steps after it.
    func check(
        _ request: ContractCase.Request, _ expected: ContractCase.Expected, baseURL: String,
        variables: inout [String: JSONValue], tolerant: Bool = false,
        answers: inout [(status: Int, body: [UInt8])]
    ) async throws -> (failures: [String], notes: [String]) {
        let names = variables
        var url = baseURL + JSONMatcher.substitute(request.path, names)
        if !request.query.isEmpty {
            url +=
                "?"
                + request.query.map {
                    "\(Self.escape($0.name))=\(Self.escape(JSONMatcher.substitute($0.value, names)))"
                }
                .joined(separator: "&")
        }
        let headers = request.headers.map { ($0.name, JSONMatcher.substitute($0.value, names)) }
        let body = request.bodyJSON.map { JSONWriter.bytes(JSONMatcher.substitute($0, names)) } ?? request.body
        var reply = try await send(request.method, url, headers: headers, body: body)
        for _ in 1..<max(1, request.repeatCount) {
            reply = try await send(request.method, url, headers: headers, body: body)
        }
        answers.append((reply.status, reply.body))
        let text = String(decoding: reply.body, as: UTF8.self)
        var problems: [String] = []
        var notes: [String] = []
        if reply.status != expected.status {
            problems.append("status \(reply.status), expected \(expected.status): \(text.prefix(300))")
        }
        for (name, value) in expected.headers {
            let actual = reply.header(name).map(JSONValue.string)
            problems += JSONMatcher.mismatches(
                expected: JSONMatcher.substitute(value, names), actual: actual, subset: false, path: "header \(name)")
        }
        if let expectedText = expected.bodyText, expectedText != text {
            problems.append("body '\(text.prefix(300))', expected '\(expectedText)'")
        }
        if let expectedBody = expected.body.map({ JSONMatcher.substitute($0, names) }) {
            if let actual = try? JSONParser.parse(reply.body) {
                var found = JSONMatcher.mismatches(expected: expectedBody, actual: actual, subset: expected.subset)
                if tolerant {
                    notes += found.filter(JSONMatcher.isUnexpectedMember)
                    found.removeAll(where: JSONMatcher.isUnexpectedMember)
                }
                if !found.isEmpty { problems += found + ["body: \(text.prefix(500))"] }
                variables.merge(JSONMatcher.captures(expected: expectedBody, actual: actual)) { $1 }
            } else {
                problems.append("body is not JSON: \(text.prefix(300))")
            }
        }
        return (problems, notes)
    }

    func balances(_ baseURL: String) async throws -> [String: Quantity] {
        let reply = try await send("GET", baseURL + "/stockgate/v1/balances", body: nil)
        guard reply.status == 200, let list = (try? JSONParser.parse(reply.body))?["balances"]?.arrayValue else {
            throw ContractCase.FormatError(description: "cannot read balances from \(baseURL) (status \(reply.status))")
        }
        var result: [String: Quantity] = [:]
        for item in list {
            guard let product = item["product"]?.stringValue, let location = item["location"]?.stringValue,
                let text = item["quantity"]?.stringValue, let quantity = try? Quantity(parsing: text)
            else { continue }
            result[product + "@" + location] = quantity
        }
        return result
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

extension Array where Element == ContractResult {
    /// `N passed, N failed` (and `, N skipped` when some were).
    public var summary: String {
        let skipped = filter { $0.skipped != nil }.count
        return "\(filter(\.passed).count) passed, \(filter(\.failed).count) failed"
            + (skipped > 0 ? ", \(skipped) skipped" : "")
    }

    /// A JUnit XML report as the Jenkins xunit plugin's JUnit schema accepts it (`errors` and
    /// `time` on the suite): a `failure` per failed case holding every difference, `skipped`
    /// with the reason, drift notes (members a real vendor answered that the case does not
    /// name) in the case's `system-out`.
    public func junit(suite: String = "contract-tests") -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml +=
            "<testsuite name=\"\(suite)\" tests=\"\(count)\" failures=\"\(filter(\.failed).count)\" errors=\"0\" skipped=\"\(filter { $0.skipped != nil }.count)\" time=\"\(String(format: "%.3f", reduce(0) { $0 + $1.seconds }))\">\n"
        for result in self {
            let parts = result.name.split(separator: "/", maxSplits: 1)
            let className = parts.count == 2 ? String(parts[0]) : suite
            xml +=
                "  <testcase classname=\"\(escape(className))\" name=\"\(escape(result.name))\" time=\"\(String(format: "%.3f", result.seconds))\""
            var children = ""
            if let failure = result.failure {
                children +=
                    "    <failure message=\"\(escape(String(failure.prefix(200))))\">\(escape(result.failures.joined(separator: "\n")))</failure>\n"
            } else if let reason = result.skipped {
                children += "    <skipped message=\"\(escape(reason))\"/>\n"
            }
            if !result.notes.isEmpty {
                children +=
                    "    <system-out>\(escape((["drift:"] + result.notes).joined(separator: "\n")))</system-out>\n"
            }
            xml += children.isEmpty ? "/>\n" : ">\n" + children + "  </testcase>\n"
        }
        return xml + "</testsuite>\n"
    }

    /// The results as JSON: `{"passed", "failed", "skipped", "cases": [{"name", "status"
    /// ("passed" | "failed" | "skipped"), "seconds", "failures": [...], "reason"?}]}`.
    public func json() -> String {
        let cases: [JSONValue] = map { result in
            var object = JSONObject([
                .init("name", .string(result.name)),
                .init("status", .string(result.failed ? "failed" : result.skipped != nil ? "skipped" : "passed")),
                .init("seconds", .number(String(format: "%.3f", result.seconds))),
                .init("failures", .array(result.failures.map(JSONValue.string))),
            ])
            if let reason = result.skipped { object["reason"] = .string(reason) }
            if !result.notes.isEmpty { object["notes"] = .array(result.notes.map(JSONValue.string)) }
            return .object(object)
        }
        let report: JSONValue = [
            "passed": .number(String(filter(\.passed).count)), "failed": .number(String(filter(\.failed).count)),
            "skipped": .number(String(filter { $0.skipped != nil }.count)), "cases": .array(cases),
        ]
        return JSONWriter.string(report) + "\n"
    }

    /// GitHub Actions workflow commands: an `::error` per failed case, a `::notice` per skip,
    /// a `::warning` per case with drift notes, each with `file=` naming the case's file under
    /// `directory`.
    public func github(directory: String = "contract-tests") -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
                .replacingOccurrences(of: "\n", with: "%0A").replacingOccurrences(of: ":", with: "%3A")
                .replacingOccurrences(of: ",", with: "%2C")
        }
        var lines: [String] = []
        func message(_ text: String) -> String {
            text.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
                .replacingOccurrences(of: "\n", with: "%0A")
        }
        let folder = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        for result in self {
            let place = "file=\(escape(folder + "/" + result.name)),title=\(escape(result.name))"
            if result.failed {
                lines.append("::error \(place)::\(message(result.failures.joined(separator: "\n")))")
            } else if let reason = result.skipped {
                lines.append("::notice \(place)::skipped: \(message(reason))")
            }
            if !result.notes.isEmpty {
                lines.append("::warning \(place)::drift: \(message(result.notes.joined(separator: "\n")))")
            }
        }
        lines.append(summary)
        return lines.joined(separator: "\n") + "\n"
    }
}
