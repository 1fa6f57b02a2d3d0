import Dialects
import HTTPTypes

/// HTTP/1.1 requires exactly one valid `Host` (RFC 9112 §3.2): the first becomes the request's
/// authority, a second one is left among the fields. Otherwise 400, and the connection closes.
struct HostCheck: Middleware {
    static let host = HTTPField.Name("Host")!

    func admit(_ exchange: inout Exchange) -> CodecResponse? {
        let head = exchange.head
        guard
            head.authority == nil || head.headerFields.contains(Self.host) || !HostHeader.isValid(head.authority ?? "")
        else { return nil }
        exchange.route = .notFound
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.connection] = "close"
        return CodecResponse(
            status: .badRequest, headers: headers,
            body: Array("400 Bad Request: exactly one valid Host header (host[:port]) is required".utf8))
    }
}
