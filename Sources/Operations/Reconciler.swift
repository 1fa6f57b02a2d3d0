import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import StockCore

/// Finds forwarded movements whose outcome is unknown (journal state `sent`) through a
/// running gateway's API, asks each backend that can be read what it holds, and settles them;
/// what no backend can tell is listed for a person, whose decision is recorded the same way
/// (`POST /stockgate/v1/journal/{id}/settle`). Used by `stockgate journal` and `stockgate reconcile`.
public struct Reconciler: Sendable {
    /// One journal row as the API lists it.
    public struct Row: Sendable, Equatable {
        public var id: Int64
        public var state: String
        public var backend: String
        public var product: String
        public var quantity: String
        public var from: String
        public var to: String
        public var requestID: String
        public var idempotencyKey: String?
        public var createdAt: String
        /// Why the backend refused it (a `failed` row).
        public var failure: String?

        init?(_ json: JSONValue) {
            guard let id = json["id"]?.numberText.flatMap({ Int64($0) }), let state = json["state"]?.stringValue,
                let product = json["product"]?.stringValue, let quantity = json["quantity"]?.stringValue,
                let from = json["from"]?.stringValue, let to = json["to"]?.stringValue
            else { return nil }
            self.id = id
            self.state = state
            self.backend = json["backend"]?.stringValue ?? ""
            self.product = product
            self.quantity = quantity
            self.from = from
            self.to = to
            self.requestID = json["requestId"]?.stringValue ?? ""
            self.idempotencyKey = json["idempotencyKey"]?.stringValue
            self.createdAt = json["createdAt"]?.stringValue ?? ""
            self.failure = json["failure"]?.stringValue
        }

        public var line: String {
            "\(id)\t\(state)\t\(backend)\t\(createdAt)\t\(product)\t\(quantity)\t\(from) → \(to)\trequest \(requestID)"
                + (idempotencyKey.map { "\tkey \($0)" } ?? "") + (failure.map { "\tfailed: \($0)" } ?? "")
        }
    }

    /// What a reconcile run did.
    public struct Report: Sendable, Equatable {
        public var applied: [Int64] = []
        public var failed: [Int64] = []
        /// Rows no backend could tell about, with why: a person decides.
        public var undecided: [(row: Row, why: String)] = []

        public static func == (lhs: Report, rhs: Report) -> Bool {
            lhs.applied == rhs.applied && lhs.failed == rhs.failed
                && lhs.undecided.map(\.row) == rhs.undecided.map(\.row)
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The HTTP client it calls the gateway with (and, by default, the backends).
    public let client: CurlHTTPClient
    let gatewayURL: String
    let headers: [(name: String, value: String)]

    /// - Parameters:
    ///   - gatewayURL: the running gateway (its canonical API).
    ///   - headers: the gateway's client credentials, when it has clients.
    public init(client: CurlHTTPClient, gatewayURL: String, headers: [(name: String, value: String)] = []) {
        self.client = client
        self.gatewayURL = gatewayURL.hasSuffix("/") ? String(gatewayURL.dropLast()) : gatewayURL
        self.headers = headers
    }

    /// Journal rows of remote backends (`backend` nil: all of them), optionally in one state.
    public func rows(state: String? = nil, backend: String? = nil, limit: Int = 1000) async throws -> [Row] {
        var query = ["backend=\(Self.escape(backend ?? MovementQuery.anyBackend))", "limit=\(limit)"]
        if let state { query.append("state=\(Self.escape(state))") }
        let json = try await call(.get, gatewayURL + "/stockgate/v1/movements?" + query.joined(separator: "&"))
        return (json["movements"]?.arrayValue ?? []).compactMap(Row.init)
    }

    /// Records a decision about one row: `applied` or `failed`.
    public func settle(id: Int64, as state: String) async throws -> Row {
        let json = try await call(
            .post, gatewayURL + "/stockgate/v1/journal/\(id)/settle", body: ["state": .string(state)])
        guard let movement = json["movement"], let row = Row(movement) else {
            throw Failure(description: "the gateway's answer names no movement")
        }
        return row
    }

    /// Settles every unknown outcome a backend can tell about: a StockGate backend is asked
    /// for the movements it recorded under the forward's request id (they travel as
    /// `X-Request-Id`); found with the same product, quantity and locations → applied; none
    /// found for a row older than `olderThan` → failed (it never arrived, or was refused).
    /// Rows of other backends (vendors cannot be asked about one forward) are listed.
    /// A configured backend as the reconciliation reaches it.
    public struct Backend: Sendable {
        public var name: String
        /// nil: the embedded ledger.
        public var dialect: DialectID?
        public var baseURL: String
        /// The client and credentials it is called with (an OAuth2 token is fetched then).
        public var access:
            @Sendable () async throws -> (client: CurlHTTPClient, headers: [(name: String, value: String)])

        public init(
            name: String, dialect: DialectID?, baseURL: String,
            access:
                @escaping @Sendable () async throws -> (
                    client: CurlHTTPClient, headers: [(name: String, value: String)]
                )
        ) {
            self.name = name
            self.dialect = dialect
            self.baseURL = baseURL
            self.access = access
        }
    }

    public func reconcile(
        backends: [Backend], olderThan: Duration = .seconds(60), now: Date = Date()
    ) async throws -> Report {
        var report = Report()
        // Each backend's client and credentials once (an OAuth2 token is fetched per backend, not per row).
        var accessByName: [String: (client: CurlHTTPClient, headers: [(name: String, value: String)])] = [:]
        for row in try await rows(state: MovementState.sent.rawValue) {
            guard let backend = backends.first(where: { $0.name == row.backend }) else {
                report.undecided.append((row, "backend '\(row.backend)' is not in the configuration given"))
                continue
            }
            guard backend.dialect == CanonicalCodec.dialect else {
                report.undecided.append(
                    (
                        row,
                        "a \(backend.dialect?.rawValue ?? "embedded") backend cannot be asked about one forwarded movement: check it there"
                    ))
                continue
            }
            let access: (client: CurlHTTPClient, headers: [(name: String, value: String)])
            if let known = accessByName[backend.name] {
                access = known
            } else {
                access = try await backend.access()
                accessByName[backend.name] = access
            }
            let base = backend.baseURL.hasSuffix("/") ? String(backend.baseURL.dropLast()) : backend.baseURL
            let response = try await access.client.execute(
                CurlRequest(
                    method: .get, url: base + "/stockgate/v1/movements?request=\(Self.escape(row.requestID))",
                    headerFields: Self.fields(access.headers)))
            guard response.status == 200, let list = (try? JSONParser.parse(response.body))?["movements"]?.arrayValue
            else {
                report.undecided.append((row, "backend '\(backend.name)' answered \(response.status)"))
                continue
            }
            let held = list.compactMap(Row.init).filter {
                $0.product == row.product && $0.from == row.from && $0.to == row.to
                    && (try? Quantity(parsing: $0.quantity)) == (try? Quantity(parsing: row.quantity))
            }
            if held.contains(where: { $0.state == MovementState.applied.rawValue }) {
                _ = try await settle(id: row.id, as: MovementState.applied.rawValue)
                report.applied.append(row.id)
            } else if held.isEmpty, let created = Timestamp.parseISO8601(row.createdAt),
                now.timeIntervalSince(created) >= Double(olderThan.components.seconds)
            {
                _ = try await settle(id: row.id, as: MovementState.failed.rawValue)
                report.failed.append(row.id)
            } else {
                report.undecided.append((row, "backend '\(backend.name)' holds no applied movement of it yet"))
            }
        }
        return report
    }

    func call(_ method: HTTPRequest.Method, _ url: String, body: JSONValue? = nil) async throws -> JSONValue {
        var fields = Self.fields(headers)
        if body != nil { fields[.contentType] = "application/json" }
        let response = try await client.execute(
            CurlRequest(method: method, url: url, headerFields: fields, body: body.map(JSONWriter.bytes)))
        let json = try? JSONParser.parse(response.body)
        guard (200..<300).contains(response.status), let json else {
            let message =
                json?["error"]?["message"]?.stringValue ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            throw Failure(description: "\(method.rawValue) \(url) answered \(response.status): \(message)")
        }
        return json
    }

    static func fields(_ headers: [(name: String, value: String)]) -> HTTPFields {
        var fields = HTTPFields()
        for header in headers {
            if let name = HTTPField.Name(header.name) { fields.append(HTTPField(name: name, value: header.value)) }
        }
        return fields
    }

    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
