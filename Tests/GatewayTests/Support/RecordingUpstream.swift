import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import StockCore
import Synchronization
import TestSupport

/// A fake vendor on loopback that records every request and answers from a script: used
/// where the test must see exactly what StockGate sent (or that it sent nothing), and as
/// an OAuth2 token endpoint.
final class RecordingUpstream: Sendable {
    struct Recorded: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: String
    }

    typealias Answer = @Sendable (Recorded) -> (status: Int, body: String)

    let recorded = Mutex<[Recorded]>([])
    let answer: Answer
    /// Extra response headers per request (e.g. `Retry-After`).
    let extraHeaders: @Sendable (Recorded) -> [String: String]
    /// How long to wait before answering (a backend that never answers).
    let delay: @Sendable (Recorded) -> Duration

    init(
        extraHeaders: @escaping @Sendable (Recorded) -> [String: String] = { _ in [:] },
        delay: @escaping @Sendable (Recorded) -> Duration = { _ in .zero }, answer: @escaping Answer
    ) {
        self.answer = answer
        self.extraHeaders = extraHeaders
        self.delay = delay
    }

    var requests: [Recorded] { recorded.withLock { $0 } }

    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        let upstream = self
        router.on("/**", method: .post) { request, context in try await upstream.handle(request) }
        router.on("/**", method: .put) { request, context in try await upstream.handle(request) }
        router.on("/**", method: .get) { request, context in try await upstream.handle(request) }
        return try await withRouter(router, logger: quietLogger, body)
    }

    func handle(_ request: Request) async throws -> Response {
        let bytes = try await request.body.collect(upTo: 1_000_000)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        let entry = Recorded(
            method: request.method.rawValue, path: request.uri.description, headers: headers,
            body: String(buffer: bytes))
        recorded.withLock { $0.append(entry) }
        let wait = delay(entry)
        if wait > .zero { try await Task.sleep(for: wait) }
        let (status, body) = answer(entry)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in extraHeaders(entry) { fields[HTTPField.Name(name)!] = value }
        return Response(
            status: HTTPResponse.Status(code: status), headers: fields,
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
