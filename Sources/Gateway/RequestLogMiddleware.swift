import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Gives every request an id (the caller's `X-Request-Id` when it is sensible, else a new
/// one), returns it in the response, and writes one log line and the request metrics once
/// the response is ready. Bodies and credentials are never logged.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    let logger: Logger
    let metrics: GatewayMetrics
    static let host = HTTPField.Name("Host")!

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        var context = context
        context.requestID = Self.requestID(from: request.headers[.requestID])
        let started = ContinuousClock.now
        var response: Response
        do {
            // HTTP/1.1 requires exactly one Host (RFC 9112 §3.2): the first becomes the request's
            // authority, a second one is left among the fields.
            if request.head.authority == nil || request.headers[Self.host] != nil {
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; charset=utf-8"
                headers[.connection] = "close"
                response = Response(
                    status: .badRequest, headers: headers,
                    body: ResponseBody(
                        byteBuffer: ByteBuffer(string: "400 Bad Request: exactly one Host header is required")))
            } else {
                response = try await next(request, context)
            }
        } catch {
            // Router-level errors (no route, wrong method): keep the status the error carries.
            let status = (error as? HTTPResponseError)?.status ?? .internalServerError
            response = Response(status: status)
        }
        response.headers[.requestID] = context.requestID
        let elapsed = ContinuousClock.now - started
        let (dialect, route) = context.routeLabel.current
        metrics.recordRequest(dialect: dialect, route: route, status: response.status.code, duration: elapsed)
        let millis = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        logger.info(
            "request",
            metadata: [
                "request_id": "\(context.requestID)", "dialect": "\(dialect)", "route": "\(route)",
                "method": "\(request.method.rawValue)", "status": "\(response.status.code)",
                "duration_ms": "\(String(format: "%.3f", millis))",
            ])
        return response
    }

    /// 64 random bits drawn once per process: the first half of every id this process makes.
    static let idPrefix = hex(UInt64.random(in: .min ... .max))
    /// The second half: a counter, so a fresh id costs no system call (the random generator
    /// asks the kernel on every draw) and ids of one process never repeat.
    static let idCounter = Atomic<UInt64>(0)

    /// The caller's id if it is 1 to 128 characters from `A-Z a-z 0-9 - _ . : / + @`, else a
    /// fresh one (32 hex digits: this process's random prefix and a counter). Quotes, `=`,
    /// backslashes and spaces are refused: the id is written into log lines, where they could
    /// forge a field (`evil"status=500`).
    static func requestID(from header: String?) -> String {
        if let header, !header.isEmpty, header.utf8.count <= 128, header.utf8.allSatisfy(isIDByte) {
            return header
        }
        return idPrefix + hex(idCounter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    @inline(__always)
    static func isIDByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
