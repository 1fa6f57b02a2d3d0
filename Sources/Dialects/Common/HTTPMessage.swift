import HTTPTypes
import StockCore

/// An HTTP request as a codec sees it: plain values, no socket.
public struct InboundRequest: Sendable {
    public var method: HTTPRequest.Method
    public var path: String
    /// Query items in order, percent-decoded.
    public var query: [(name: String, value: String)]
    public var headers: HTTPFields
    public var body: [UInt8]
    /// Values of the `{name}` segments of the matched route.
    public var pathParameters: [String: String]
    /// Bodies nested deeper than this are refused (the gateway's `max_json_depth`).
    public var maxJSONDepth: Int
    /// Bodies holding more JSON values than this are refused 413 (the gateway's `max_json_values`).
    public var maxJSONValues: Int
    /// The request's `Host` (authority), for answers that link back to the server (paging).
    public var authority: String?

    public init(
        method: HTTPRequest.Method, path: String, query: [(name: String, value: String)] = [],
        headers: HTTPFields = [:], body: [UInt8] = [], pathParameters: [String: String] = [:],
        maxJSONDepth: Int = JSONParser.defaultMaxDepth, maxJSONValues: Int = JSONParser.defaultMaxValues
    ) {
        self.maxJSONDepth = maxJSONDepth
        self.maxJSONValues = maxJSONValues
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.pathParameters = pathParameters
    }

    /// The body parsed as JSON within the depth limit, or a `malformed` refusal.
    public func jsonBody() throws(GatewayError) -> JSONValue {
        try JSONParser.parseBody(body, maxDepth: maxJSONDepth, maxValues: maxJSONValues)
    }

    /// The first value of a query parameter.
    public func queryValue(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// The first value of a query parameter, matching its name case-insensitively
    /// (ASP.NET-style APIs such as Colleqtive's treat `appusername` and `AppUserName` alike).
    public func queryValue(caseInsensitive name: String) -> String? {
        let lowered = name.lowercased()
        return query.first { $0.name.lowercased() == lowered }?.value
    }
}

/// An HTTP response a codec produced.
public struct CodecResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: [UInt8]
    /// What the request log says beside the status (never sent).
    public var logFacts = LogFacts()

    /// The pipeline's facts for the request's log line: where it went, how long the backend
    /// took, how many items of its batches were applied and how many failed (a 200 whose every
    /// item failed is visible as such).
    public struct LogFacts: Sendable {
        public var backend: String?
        public var upstream: Duration?
        public var itemsApplied = 0
        public var itemsFailed = 0
        /// A refused request's error code and reason, as the caller's copy says them.
        public var error: String?
        public var reason: String?
        public init() {}
    }

    public init(status: HTTPResponse.Status, headers: HTTPFields = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response.
    public static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> CodecResponse {
        json(status, bytes: JSONWriter.bytes(value))
    }

    /// A JSON response whose body is written already.
    public static func json(_ status: HTTPResponse.Status, bytes: [UInt8]) -> CodecResponse {
        var headers = HTTPFields()
        // Its content type, the request id and at most a `Connection: close` are all it gets
        // (`Date` and `Server` are stamped as the head is encoded): one allocation for all.
        headers.reserveCapacity(4)
        headers.append(jsonContentType)
        return CodecResponse(status: status, headers: headers, body: bytes)
    }

    /// Made once: HTTPTypes checks a field's value byte by byte as it is made.
    private static let jsonContentType = HTTPField(name: .contentType, value: "application/json; charset=utf-8")

    /// A plain-text response (vendors whose transport errors are not JSON).
    public static func text(_ status: HTTPResponse.Status, _ text: String) -> CodecResponse {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return CodecResponse(status: status, headers: headers, body: Array(text.utf8))
    }
}

/// One endpoint a dialect serves: one case of the codec's `Endpoint` enum, which `decode`
/// switches over exhaustively, with its method and path.
public struct Route<Endpoint: RawRepresentable & Sendable & Hashable>: Sendable, Hashable
where Endpoint.RawValue == String {
    public var endpoint: Endpoint
    /// The method, or nil when the route takes any method (so the codec can answer a wrong
    /// method in the vendor's own way).
    public var method: HTTPRequest.Method?
    /// The path with `{name}` segments for parameters.
    public var path: String
    /// Who the route is for; the gateway gives it the matching requirement.
    public var audience: RouteAudience
    /// Where it is served when operations have a listener of their own.
    public var exposure: RouteExposure

    public init(
        _ endpoint: Endpoint, _ method: HTTPRequest.Method?, _ path: String, audience: RouteAudience = .stock,
        exposure: RouteExposure = .traffic
    ) {
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.audience = audience
        self.exposure = exposure
    }

    /// A stable name, used as the metrics label (`movements.create`): the endpoint's raw value.
    public var name: String { endpoint.rawValue }
}

/// Who a dialect route is for.
public enum RouteAudience: Sendable, Hashable {
    /// A client holding the dialect's stock right.
    case stock
    /// The operator (settling the journal).
    case `operator`
}

/// Where a dialect route is served when operations have a listener of their own
/// (`server.admin_listen`).
public enum RouteExposure: Sendable, Hashable {
    /// The traffic port only: the dialect's API.
    case traffic
    /// The admin listener only: what only an operator does.
    case operations
    /// Both: reads the operator's tools make too (`stockgate journal` and `reconcile` pointed
    /// at the admin address read the journal there).
    case both
}

extension Route {
    /// The values of the `{name}` segments when `path` fits this route's template (by
    /// `RouteTemplate`'s rule: empty segments ignored, parameters percent-decoded), else nil.
    public func match(_ path: String) -> [String: String]? {
        RouteTemplate(self.path).match(RouteMatcher.segments(path[...]))
    }
}

extension HTTPField.Name {
    /// The key a caller sends so a retried write is applied once (StockGate's own API, and
    /// forwarded to a StockGate backend).
    public static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// The request id a caller may send, echoed and forwarded.
    public static let requestID = HTTPField.Name("X-Request-Id")!
    /// A client's API key (StockGate's client credentials, beside `Authorization`).
    public static let apiKey = HTTPField.Name("X-Key")!
    /// W3C Trace Context: accepted from the caller, forwarded to backends as a child span.
    public static let traceParentField = HTTPField.Name("traceparent")!
    public static let traceStateField = HTTPField.Name("tracestate")!
}

/// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/):
/// `version-traceid-parentid-flags`, lower-case hex, 2-32-16-2 digits.
public struct TraceParent: Sendable, Equatable {
    public var traceID: String
    public var parentID: String
    public var flags: String

    /// A well-formed header of version 00, or of a later version read as 00 (the spec's rule);
    /// nil for anything else, and for the all-zero trace or parent id the spec forbids.
    public init?(_ header: String) {
        let parts = header.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
            parts[3].count == 2, parts[0] != "00" || parts.count == 4,
            parts.prefix(4).allSatisfy({ $0.allSatisfy { $0.isHexDigit && !$0.isUppercase } }),
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        flags = String(parts[3])
    }

    /// The same trace with this hop as the parent: a new span id for the forwarded request.
    public func child() -> TraceParent {
        var child = self
        var span = ""
        repeat {
            span = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        } while span.count > 16
        child.parentID = String(repeating: "0", count: 16 - span.count) + span
        return child
    }

    public var header: String { "00-\(traceID)-\(parentID)-\(flags)" }
}

extension HTTPFields {
    /// `field` in place of any field of its name, as the subscript sets one; appended at once
    /// when there is none (the common case: the subscript's setter walks the fields
    /// generically whatever they hold).
    public mutating func replaceOrAppend(_ field: HTTPField) {
        if contains(field.name) { self[field.name] = field.value } else { append(field) }
    }
}
