import Dialects
import HTTPServer
import HTTPTypes
import StockCore

/// Answers a dialect's requests in place of the pipeline: from recorded vendor answers
/// (`stockgate serve --replay DIR`), or by relaying them to a real vendor and recording the
/// pair (`stockgate record`). Client credentials, size limits and faults are applied first,
/// as for any request.
public protocol DirectAnswerer: Sendable {
    func answer(_ request: DirectRequest) async -> DirectAnswer
    /// Forgets what was answered so far (a replay's positions), for the test reset.
    func resetPositions()
}

extension DirectAnswerer {
    public func resetPositions() {}
}

/// A request as it arrived, with the route it was routed to.
public struct DirectRequest: Sendable {
    public var dialect: DialectID
    /// The route's name in its codec (`inventory.update`, `rpc`, …).
    public var route: String
    public var method: String
    /// The path without the query.
    public var path: String
    /// The query as sent (still percent-encoded), without the `?`.
    public var query: String
    public var headers: HTTPFields
    public var body: [UInt8]

    public init(
        dialect: DialectID, route: String, method: String, path: String, query: String, headers: HTTPFields,
        body: [UInt8]
    ) {
        self.dialect = dialect
        self.route = route
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

public enum DirectAnswer: Sendable {
    /// This answer, as is.
    case answer(CodecResponse)
    /// A refusal, written in the dialect's own error envelope.
    case refuse(GatewayError)
    /// Not this answerer's: the pipeline serves the request.
    case pass
}
