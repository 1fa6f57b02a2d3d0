import CurlHTTP
import Foundation
import HTTPTypes
import StockCore

/// What a case came to.
public struct ContractResult: Sendable {
    public var name: String
    /// nil when the case passed.
    public var failure: String?
    public var seconds: Double

    public var passed: Bool { failure == nil }

    public init(name: String, failure: String?, seconds: Double) {
        self.name = name
        self.failure = failure
        self.seconds = seconds
    }
}

/// Runs contract cases against a base URL: setup through StockGate's canonical API, the
/// request as written, the response compared, and the balance changes checked against
/// `GET /stockgate/v1/balances` before and after. It sends with StockGate's own libcurl client.
public struct ContractRunner: Sendable {
    public let client: CurlHTTPClient
    public let timeout: Duration

    /// - Parameters:
    ///   - client: the HTTP client to send with; its owner shuts it down.
    ///   - timeout: the limit for each request.
    public init(client: CurlHTTPClient, timeout: Duration = .seconds(30)) {
        self.client = client
        self.timeout = timeout
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
        if body != nil && fields[.contentType] == nil { fields[.contentType] = "application/json" }
        return try await client.execute(
            CurlRequest(method: method, url: url, headerFields: fields, body: body, timeout: timeout))
    }

    /// Fails fast when nothing answers at `baseURL`. Any HTTP answer counts as reachable.
    public func checkReachable(_ baseURL: String) async throws {
        _ = try await client.execute(CurlRequest(url: baseURL + "/", timeout: .seconds(5)))
    }

    /// Runs one case against `baseURL` (no trailing slash).
    /// - Parameter reset: first empty the target through `POST /stockgate/v1/test/reset`
    ///   (a StockGate started with `--enable-test-reset`), so the case starts from empty stock.
    public func run(_ contract: ContractCase, baseURL: String, reset: Bool = false) async -> ContractResult {
        let started = Date()
        let failure: String?
        do {
            if reset {
                let reply = try await send("POST", baseURL + "/stockgate/v1/test/reset", body: nil)
                guard reply.status == 200 else {
                    return ContractResult(
                        name: contract.name,
                        failure:
                            "reset refused with \(reply.status): start the target with --enable-test-reset, or pass --no-reset",
                        seconds: Date().timeIntervalSince(started))
                }
            }
            failure = try await check(contract, baseURL: baseURL)
        } catch {
            failure = "error: \(error)"
        }
        return ContractResult(name: contract.name, failure: failure, seconds: Date().timeIntervalSince(started))
    }

    func check(_ contract: ContractCase, baseURL: String) async throws -> String? {
        if !contract.setup.isEmpty {
            let body = JSONWriter.bytes(["movements": .array(contract.setup), "atomic": true])
            let reply = try await send("POST", baseURL + "/stockgate/v1/movements", body: body)
            guard reply.status == 200 else {
                return "setup failed with \(reply.status): \(String(decoding: reply.body, as: UTF8.self))"
            }
        }
        let before = contract.balances == nil ? [:] : try await balances(baseURL)
        var url = baseURL + contract.request.path
        if !contract.request.query.isEmpty {
            url +=
                "?"
                + contract.request.query.map { "\(Self.escape($0.name))=\(Self.escape($0.value))" }
                .joined(separator: "&")
        }
        var reply = try await send(
            contract.request.method, url, headers: contract.request.headers, body: contract.request.body)
        for _ in 1..<max(1, contract.request.repeatCount) {
            reply = try await send(
                contract.request.method, url, headers: contract.request.headers, body: contract.request.body)
        }
        let text = String(decoding: reply.body, as: UTF8.self)
        if reply.status != contract.expected.status {
            return "status \(reply.status), expected \(contract.expected.status): \(text.prefix(300))"
        }
        for (name, expected) in contract.expected.headers {
            let actual = reply.header(name).map(JSONValue.string)
            if let problem = JSONMatcher.mismatch(
                expected: expected, actual: actual, subset: false, path: "header \(name)")
            {
                return problem
            }
        }
        if let expectedText = contract.expected.bodyText, expectedText != text {
            return "body '\(text.prefix(300))', expected '\(expectedText)'"
        }
        if let expectedBody = contract.expected.body {
            guard let actual = try? JSONParser.parse(reply.body) else {
                return "body is not JSON: \(text.prefix(300))"
            }
            if let problem = JSONMatcher.mismatch(
                expected: expectedBody, actual: actual, subset: contract.expected.subset)
            {
                return problem + " — body: \(text.prefix(500))"
            }
        }
        if let changes = contract.balances {
            let after = try await balances(baseURL)
            var expected = before
            for change in changes {
                let key = change.product + "@" + change.location
                expected[key] = (expected[key] ?? .zero) + change.change
            }
            for key in Set(expected.keys).union(after.keys).sorted() {
                let want = expected[key] ?? .zero
                let have = after[key] ?? .zero
                if want != have {
                    return "balance \(key) is \(have), expected \(want) (was \(before[key] ?? .zero))"
                }
            }
        }
        return nil
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
    /// `N passed, N failed`.
    public var summary: String {
        "\(filter(\.passed).count) passed, \(filter { !$0.passed }.count) failed"
    }

    /// A JUnit XML report.
    public func junit(suite: String = "contract-tests") -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuite name=\"\(suite)\" tests=\"\(count)\" failures=\"\(filter { !$0.passed }.count)\">\n"
        for result in self {
            let parts = result.name.split(separator: "/", maxSplits: 1)
            let className = parts.count == 2 ? String(parts[0]) : suite
            xml +=
                "  <testcase classname=\"\(escape(className))\" name=\"\(escape(result.name))\" time=\"\(String(format: "%.3f", result.seconds))\""
            if let failure = result.failure {
                xml +=
                    ">\n    <failure message=\"\(escape(String(failure.prefix(200))))\">\(escape(failure))</failure>\n  </testcase>\n"
            } else {
                xml += "/>\n"
            }
        }
        return xml + "</testsuite>\n"
    }
}
