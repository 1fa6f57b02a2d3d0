import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// The one fake upstream of the tests: a server on loopback that records every request and
/// answers each from a script — any status, headers and body, after a delay, whole, in
/// chunks, a byte at a time, or cut off partway (async-http-client's HTTPBin is the model).
/// It stands in for a vendor (what StockGate sent, or that it sent nothing), an OAuth2
/// token endpoint, a broken backend, and the curl client's test server.
public final class FakeUpstream: Sendable {
    public struct Recorded: Sendable {
        public var method: String
        /// Path and query as sent.
        public var path: String
        /// Header names in lower case; the last value of a repeated header.
        public var headers: [String: String]
        public var body: String
    }

    /// What one request is answered with.
    public struct Answer: Sendable {
        public enum Delivery: Sendable {
            /// The body in one piece with its length.
            case whole
            /// The body chunked, in `pieces` writes.
            case chunked(pieces: Int)
            /// `Content-Length` announces the body; one byte is written per `every`.
            case dribble(every: Duration)
            /// `Content-Length` announces the body; the connection drops after `bytes` of it.
            case cut(afterBytes: Int)
        }

        public var status: Int
        public var body: String
        public var headers: [String: String]
        /// Time before the answer starts (a backend that is slow or never answers).
        public var delay: Duration
        public var delivery: Delivery

        public init(
            _ status: Int = 200, _ body: String = "", headers: [String: String] = ["Content-Type": "application/json"],
            delay: Duration = .zero, delivery: Delivery = .whole
        ) {
            self.status = status
            self.body = body
            self.headers = headers
            self.delay = delay
            self.delivery = delivery
        }
    }

    let recorded = Mutex<[Recorded]>([])
    let script: @Sendable (Recorded) async -> Answer

    public init(_ script: @escaping @Sendable (Recorded) -> Answer) {
        self.script = { script($0) }
    }

    /// A recording hop: each request is recorded, then answered by `relay` (which may pass it
    /// on to a real server, so what a backend really answers comes back).
    public init(relay: @escaping @Sendable (Recorded) async -> Answer) {
        self.script = relay
    }

    /// The answer as status and body, with extra headers and a delay decided per request.
    public convenience init(
        extraHeaders: @escaping @Sendable (Recorded) -> [String: String] = { _ in [:] },
        delay: @escaping @Sendable (Recorded) -> Duration = { _ in .zero },
        answer: @escaping @Sendable (Recorded) -> (status: Int, body: String)
    ) {
        self.init { request in
            let (status, body) = answer(request)
            var headers = ["Content-Type": "application/json"]
            headers.merge(extraHeaders(request)) { $1 }
            return Answer(status, body, headers: headers, delay: delay(request))
        }
    }

    /// Every request so far, in arrival order.
    public var requests: [Recorded] { recorded.withLock { $0 } }

    /// Serves for the duration of `body`, which gets the base URL.
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        let upstream = self
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head] {
            router.on("/**", method: method) { request, _ in try await upstream.handle(request) }
        }
        return try await withRouter(router, body)
    }

    func handle(_ request: Request) async throws -> Response {
        let bytes = try await request.body.collect(upTo: 4_000_000)
        // A field sent twice is combined as HTTP combines it (RFC 9110, 5.3): the values in order,
        // joined by ", ", so a test can see a duplicate.
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName.lowercased()
            headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
        }
        let entry = Recorded(
            method: request.method.rawValue, path: request.uri.description, headers: headers,
            body: String(buffer: bytes))
        recorded.withLock { $0.append(entry) }
        let answer = await script(entry)
        if answer.delay > .zero { try await Task.sleep(for: answer.delay) }
        var fields = HTTPFields()
        for (name, value) in answer.headers { fields[HTTPField.Name(name)!] = value }
        let body = Array(answer.body.utf8)
        switch answer.delivery {
        case .whole:
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        case .chunked(let pieces):
            let size = max(1, (body.count + pieces - 1) / max(1, pieces))
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody { writer in
                    var start = 0
                    while start < body.count {
                        try await writer.write(ByteBuffer(bytes: body[start..<min(body.count, start + size)]))
                        start += size
                    }
                    try await writer.finish(nil)
                })
        case .dribble(let every):
            fields[.contentLength] = "\(body.count)"
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody { writer in
                    for byte in body {
                        try await writer.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: every)
                    }
                    try await writer.finish(nil)
                })
        case .cut(let afterBytes):
            fields[.contentLength] = "\(body.count)"
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: fields,
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(bytes: body.prefix(afterBytes)))
                    throw CancellationError()  // any error: the server drops the connection mid-body
                })
        }
    }
}
