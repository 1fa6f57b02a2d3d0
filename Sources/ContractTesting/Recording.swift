import Dialects
import Foundation
import HTTPTypes
import StockCore

/// The pure half of `stockgate record`: what a request/answer pair becomes as a contract case —
/// credentials scrubbed, identifiers, UUIDs and timestamps of the answer turned into matchers,
/// and a file name that stays the same when the same request is recorded again.
public enum Recording {
    /// What a credential is replaced by in a recorded request.
    public static let scrubbed = "<scrubbed>"

    /// One exchange, as the recorder saw it.
    public struct Exchange: Sendable {
        public var dialect: String
        public var route: String
        public var method: String
        public var path: String
        /// Decoded query pairs, in order.
        public var query: [(name: String, value: String)]
        public var requestHeaders: [(name: String, value: String)]
        public var requestBody: [UInt8]
        public var status: Int
        public var responseHeaders: [(name: String, value: String)]
        public var responseBody: [UInt8]

        public init(
            dialect: String, route: String, method: String, path: String, query: [(name: String, value: String)],
            requestHeaders: [(name: String, value: String)], requestBody: [UInt8], status: Int,
            responseHeaders: [(name: String, value: String)], responseBody: [UInt8]
        ) {
            self.dialect = dialect
            self.route = route
            self.method = method
            self.path = path
            self.query = query
            self.requestHeaders = requestHeaders
            self.requestBody = requestBody
            self.status = status
            self.responseHeaders = responseHeaders
            self.responseBody = responseBody
        }
    }

    public struct SecretFound: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: Credentials

    /// Whether a header, query parameter or body member of this name carries a credential
    /// (`Authorization`, Open2b's `X-Key`, `api_key`, `access_token`, `client_secret`,
    /// `password`, Zettle's `signingKey`, …).
    public static func isCredential(_ name: String) -> Bool {
        let folded = name.lowercased().filter { $0.isLetter || $0.isNumber }
        let exact: Set<String> = [
            "authorization", "proxyauthorization", "cookie", "setcookie", "key", "xkey", "apikey", "xapikey",
            "signature", "signingkey", "secret", "password", "passwd", "pwd", "credentials", "sessionid",
            "assertion", "code",
        ]
        if exact.contains(folded) { return true }
        return ["token", "secret", "password", "apikey", "signature"].contains { folded.hasSuffix($0) }
    }

    /// The request headers a case keeps: what shapes the vendor's answer, never a credential.
    static let keptRequestHeaders: Set<String> = ["content-type", "accept", "idempotency-key"]
    /// The answer headers a case checks and a replay sends.
    static let keptResponseHeaders: Set<String> = ["content-type", "retry-after", "link", "location"]

    /// `value` with every member whose name is a credential replaced by `scrubbed`.
    public static func scrub(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var object):
            for index in object.members.indices {
                let member = object.members[index]
                object.members[index].value =
                    isCredential(member.key) && member.value != .null
                    ? .string(scrubbed) : scrub(member.value)
            }
            return .object(object)
        case .array(let items):
            return .array(items.map(scrub))
        default:
            return value
        }
    }

    /// Every spelling of each secret a written case must not hold: as is, form-encoded, and
    /// escaped as JSON writes it.
    static func spellings(_ secrets: [String]) -> [String] {
        var forms: Set<String> = []
        for secret in secrets where secret.utf8.count >= 4 {
            forms.insert(secret)
            var unreserved = CharacterSet.alphanumerics
            unreserved.insert(charactersIn: "-._~")
            forms.insert(secret.addingPercentEncoding(withAllowedCharacters: unreserved) ?? secret)
            let json = JSONWriter.string(.string(secret))
            forms.insert(String(json.dropFirst().dropLast()))
        }
        return forms.sorted { $0.utf8.count > $1.utf8.count }
    }

    /// `text` with each secret replaced by `scrubbed`.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var result = text
        for form in spellings(secrets) where result.contains(form) {
            result = result.replacing(form, with: scrubbed)
        }
        return result
    }

    /// Throws when `text` still holds a secret: the last check before a case is written.
    public static func checkAbsent(_ secrets: [String], in text: String, name: String) throws {
        for form in spellings(secrets) where text.contains(form) {
            throw SecretFound(description: "\(name): a configured secret is still in the recorded case; not written")
        }
    }

    // MARK: Matchers

    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else {
                let hex =
                    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
                guard hex else { return false }
            }
        }
        return true
    }

    /// The vendor time format `text` is written in, if it is a time.
    static func timestampFormat(_ text: String) -> String? {
        // Cheap pre-checks before the patterns: a time starts with a digit or a weekday.
        guard let first = text.first, text.count >= 10, text.count <= 40 else { return nil }
        if first.isNumber, text.contains("T") || text.contains(" "), JSONMatcher.isTimestamp(text, format: "iso8601") {
            return "iso8601"
        }
        if first.isNumber, text.count >= 16, text.count <= 35,
            JSONMatcher.matches(
                text, pattern: #"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?"#)
        {
            return "datetime"
        }
        if first.isLetter, JSONMatcher.isTimestamp(text, format: "http") { return "http" }
        return nil
    }

    /// Whether a member of this name holds an identifier the vendor assigns (`id`, `movementId`,
    /// `product_id`, `transferID`): its value is matched by type, not by value.
    static func isIdentifier(_ name: String) -> Bool {
        name == "id" || name == "ID" || name.hasSuffix("Id") || name.hasSuffix("ID") || name.hasSuffix("_id")
    }

    /// Whether a member of this name holds a value the sender makes up for each request (a
    /// correlation id such as Zettle's `externalUuid`): the same request recorded again has
    /// a new one, so it does not tell two requests apart.
    static func isPerRequest(_ name: String) -> Bool {
        let folded = name.lowercased()
        return ["external", "request", "idempot", "correlation", "nonce", "trace"].contains { folded.contains($0) }
    }

    /// `value` with each scalar replaced by `leaf(scalar, name of the member holding it)`;
    /// objects and arrays are walked (an array's items keep the member name of the array).
    /// A matcher object (one `$` key) is kept whole when `keepMatchers`.
    static func mapScalars(
        _ value: JSONValue, key: String? = nil, keepMatchers: Bool = false,
        _ leaf: (_ scalar: JSONValue, _ key: String?) -> JSONValue
    ) -> JSONValue {
        switch value {
        case .object(let object)
        where object.members.count == 1 && object.members[0].key == "$literal":
            return value  // exact, whatever it holds
        case .object(let object)
        where keepMatchers && object.members.count == 1 && object.members[0].key.hasPrefix("$"):
            return value
        case .object(var object):
            for index in object.members.indices {
                object.members[index].value = mapScalars(
                    object.members[index].value, key: object.members[index].key, keepMatchers: keepMatchers, leaf)
            }
            return .object(object)
        case .array(let items):
            return .array(items.map { mapScalars($0, key: key, keepMatchers: keepMatchers, leaf) })
        default:
            return leaf(value, key)
        }
    }

    /// `value` with every object that would read as a matcher (one member, its name starting
    /// with `$`) wrapped as `{"$literal": …}`: what a caller sent or a vendor answered is data,
    /// never a matcher a replay would run (issue 29: a caller of the recorder could plant a
    /// `$pattern` that stalled the server).
    public static func escapingMatchers(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object) where object.members.count == 1 && object.members[0].key.hasPrefix("$"):
            return ["$literal": value]
        case .object(var object):
            for index in object.members.indices {
                object.members[index].value = escapingMatchers(object.members[index].value)
            }
            return .object(object)
        case .array(let items):
            return .array(items.map(escapingMatchers))
        default:
            return value
        }
    }

    /// A time's matcher (a date-time in a vendor's own layout is matched as a string).
    static func timeMatcher(_ format: String) -> JSONValue {
        format == "datetime" ? ["$type": "string"] : ["$timestamp": .string(format)]
    }

    /// The answer as a case expects it: UUIDs, times and vendor-assigned identifiers as
    /// matchers, everything else (quantities above all) exact.
    public static func generalized(_ value: JSONValue) -> JSONValue {
        mapScalars(value) { scalar, key in
            switch scalar {
            case .string(let text):
                if isUUID(text) { return ["$uuid": true] }
                if let format = timestampFormat(text) { return timeMatcher(format) }
                if let key, isIdentifier(key) { return ["$type": "string"] }
            case .number(let text):
                if let key, isIdentifier(key) { return Int64(text) != nil ? ["$type": "integer"] : ["$type": "number"] }
                if let key, key.lowercased().contains("time") || key.lowercased().hasSuffix("at"),
                    JSONMatcher.isTimestamp(text, format: "epoch-millis")
                {
                    return ["$timestamp": "epoch-millis"]
                }
            default:
                break
            }
            return scalar
        }
    }

    /// The answer's data by its shape: numbers and numeric text as `$decimal`, booleans as
    /// `$type`, a non-empty list as `$each` of what all its items share (a member whose values
    /// differ between items by its type; one not in every item left out, the case matching as
    /// a subset); matchers already there (UUIDs, times, identifiers) and other text stay.
    public static func shaped(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let items):
            return items.isEmpty ? value : ["$each": shared(items.map(shaped))]
        case .object(let object):
            if object.members.count == 1, object.members[0].key.hasPrefix("$") { return value }
            return .object(JSONObject(object.members.map { .init($0.key, shaped($0.value)) }))
        case .number:
            return ["$decimal": [:]]
        case .string(let text):
            return (try? Quantity(parsing: text)) != nil ? ["$decimal": [:]] : value
        case .bool:
            return ["$type": "boolean"]
        case .null:
            return value
        }
    }

    /// What every one of `values` (already shaped) fits.
    static func shared(_ values: [JSONValue]) -> JSONValue {
        guard let first = values.first, !values.allSatisfy({ $0 == first }) else { return values.first ?? .null }
        let objects = values.compactMap { value -> JSONObject? in
            guard let object = value.objectValue, !(object.members.count == 1 && object.keys[0].hasPrefix("$")) else {
                return nil
            }
            return object
        }
        if objects.count == values.count {
            let keys = objects[0].keys.filter { key in objects.allSatisfy { $0[key] != nil } }
            return .object(JSONObject(keys.map { key in .init(key, shared(objects.map { $0[key]! })) }))
        }
        switch first {
        case .string: return ["$type": "string"]
        default: return ["$any": true]
        }
    }

    /// The request as a replay matches it: UUIDs, times, credentials and `${…}` references
    /// match any value of their kind, matchers written by hand in a replay case's request
    /// stay; the rest must be equal.
    public static func loosened(_ value: JSONValue) -> JSONValue {
        mapScalars(value, keepMatchers: true) { scalar, _ in
            guard case .string(let text) = scalar else { return scalar }
            if text == scrubbed || text.contains("${") { return ["$any": true] }
            if isUUID(text) { return ["$uuid": true] }
            if let format = timestampFormat(text) { return timeMatcher(format) }
            return scalar
        }
    }

    /// What identifies a request across recordings: the body with the per-request values
    /// and times left out.
    static func identity(_ value: JSONValue) -> JSONValue {
        mapScalars(value) { scalar, key in
            guard case .string(let text) = scalar else { return scalar }
            if let key, isPerRequest(key) { return "*" }
            return timestampFormat(text) != nil ? "*" : scalar
        }
    }

    /// The case file's name under its dialect's folder: the route, the method and a hash of
    /// the request's identity, so recording the same request again rewrites the same file.
    public static func fileName(for exchange: Exchange) -> String {
        var signature = exchange.method.uppercased() + " " + exchange.path + "?"
        signature += exchange.query.map { name, value in
            "\(name)=\(isPerRequest(name) || isCredential(name) ? "*" : value)"
        }.joined(separator: "&")
        if let json = try? JSONParser.parse(exchange.requestBody) {
            signature += " " + JSONWriter.string(identity(scrub(json)))
        } else {
            signature += " " + String(decoding: exchange.requestBody, as: UTF8.self)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in signature.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let route = exchange.route.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" }
        let hex = String(hash, radix: 16)
        return
            "recorded-\(String(route))-\(exchange.method.lowercased())-\(String(repeating: "0", count: 16 - hex.count) + hex).json"
    }

    // MARK: The case

    /// `text` as a regular expression matching itself.
    static func escapedPattern(_ text: String) -> String {
        var pattern = ""
        for character in text {
            if "\\^$.|?*+()[]{}".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }

    /// The case's JSON text: the request as sent (credentials scrubbed), the answer with
    /// matchers, and the answer as received under `response.example` for replay.
    /// - Parameters:
    ///   - backend: the configured backend's name, kept in the case's `recorded` key.
    ///   - secrets: every configured secret; the text is redacted of them and checked.
    /// - Parameter dataAsMatchers: record the answer's data by its shape — numbers and numeric
    ///   text as `$decimal`, a list as `$each` of its first item — so the case still holds once
    ///   the vendor's stock has moved (the example keeps the values, for a replay).
    public static func caseText(
        _ exchange: Exchange, backend: String, at time: Date, secrets: [String], dataAsMatchers: Bool = false
    ) throws -> String {
        var request = JSONObject([
            .init("method", .string(exchange.method.uppercased())), .init("path", .string(exchange.path)),
        ])
        if !exchange.query.isEmpty {
            request["query"] = .object(
                JSONObject(
                    exchange.query.map {
                        .init($0.name, .string(isCredential($0.name) ? scrubbed : $0.value))
                    }))
        }
        let headers = exchange.requestHeaders.filter { keptRequestHeaders.contains($0.name.lowercased()) }
        if !headers.isEmpty {
            request["headers"] = .object(JSONObject(headers.map { .init($0.name, .string($0.value)) }))
        }
        if !exchange.requestBody.isEmpty {
            if let json = try? JSONParser.parse(exchange.requestBody) {
                request["body"] = escapingMatchers(scrub(json))
            } else {
                request["bodyText"] = .string(String(decoding: exchange.requestBody, as: UTF8.self))
            }
        }
        var response = JSONObject([.init("status", .number(String(exchange.status)))])
        var expectedHeaders = JSONObject()
        var exampleHeaders = JSONObject()
        for header in exchange.responseHeaders where keptResponseHeaders.contains(header.name.lowercased()) {
            let name = header.name.lowercased() == "content-type" ? "Content-Type" : header.name
            exampleHeaders[name] = .string(header.value)
            switch header.name.lowercased() {
            case "content-type":
                // The media type is the contract; its parameters (charset) may vary.
                let media = header.value.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
                expectedHeaders[name] = ["$pattern": .string(escapedPattern(media) + ".*")]
            case "retry-after":
                expectedHeaders[name] = ["$any": true]
            default:
                break
            }
        }
        if !expectedHeaders.members.isEmpty { response["headers"] = .object(expectedHeaders) }
        var example = JSONObject()
        if !exampleHeaders.members.isEmpty { example["headers"] = .object(exampleHeaders) }
        if let json = try? JSONParser.parse(exchange.responseBody) {
            let kept = scrub(json)
            let general = generalized(escapingMatchers(kept))
            response["body"] = dataAsMatchers ? shaped(general) : general
            if dataAsMatchers { response["bodyMatch"] = "subset" }
            example["body"] = kept
        } else if !exchange.responseBody.isEmpty {
            let text = String(decoding: exchange.responseBody, as: UTF8.self)
            response["bodyText"] = .string(text)
        }
        if !example.members.isEmpty { response["example"] = .object(example) }
        let root: JSONValue = [
            "description": .string(
                "Recorded from backend '\(backend)': \(exchange.method.uppercased()) \(exchange.path) (\(exchange.route))"
            ),
            "recorded": [
                "backend": .string(backend), "route": .string(exchange.route),
                "at": .string(Timestamp.iso8601(time)),
            ],
            "sideEffects": .string(Self.onlyReads(exchange) ? "none" : "unknown"),
            "request": .object(request),
            "response": .object(response),
        ]
        let text = redact(JSONWriter.pretty(root) + "\n", secrets: secrets)
        try checkAbsent(secrets, in: text, name: exchange.dialect + "/" + fileName(for: exchange))
        return text
    }
}

extension Recording {
    /// Whether the exchange only read, as its dialect says (Open2b's find, get and count read by POST).
    static func onlyReads(_ exchange: Exchange) -> Bool {
        let method = HTTPRequest.Method(exchange.method.uppercased()) ?? .post
        guard let codec = DialectRegistry.dialect(named: exchange.dialect)?.inboundCodec() else {
            return method == .get || method == .head
        }
        return codec.onlyReads(method: method, path: exchange.path)
    }
}
