import Dialects
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import StockCore

/// A connection's pipeline: NIO's HTTP/1 codec with its pipelining assistance (one request at a
/// time, answers in order), `HTTP1ConnectionPolicy` (HTTP/1.0, `Expect`, parser errors,
/// closing after an early answer), the conversion to HTTPTypes, then `handler` (an
/// `HTTPConnectionHandler`, or the gateway's `RouterConnection`).
func configureConnection(
    _ pipeline: ChannelPipeline.SynchronousOperations, settings: ConnectionSettings, handler: some ChannelHandler
) throws {
    // Parser errors are answered by HTTP1ConnectionPolicy, which knows when a 400 is wrong
    // (after a request that asked to close).
    try pipeline.configureHTTPServerPipeline(
        withPipeliningAssistance: true, withErrorHandling: false,
        withOutboundHeaderValidation: false)  // HTTPTypes validate the fields already
    try pipeline.addHandler(HTTP1ConnectionPolicy(maxBodyBytes: settings.maxBodyBytes, logger: settings.logger))
    try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
    try pipeline.addHandler(handler)
}

/// The gateway's connection handler: `HTTPConnectionHandler<Router>` behind a conformance that
/// is not generic. NIO calls a handler through its protocol, and the protocol witnesses of a
/// generic class run its unspecialized code (witness tables for every `Exchange` move: ~16,000
/// instructions a request, callgrind); calling the generic class from this one lets the
/// compiler specialize it for `Router`.
final class RouterConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart
    let handler: HTTPConnectionHandler<Router>

    init(_ handler: HTTPConnectionHandler<Router>) {
        self.handler = handler
    }

    func handlerAdded(context: ChannelHandlerContext) { handler.handlerAdded(context: context) }
    func channelActive(context: ChannelHandlerContext) { handler.channelActive(context: context) }
    func channelInactive(context: ChannelHandlerContext) { handler.channelInactive(context: context) }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { handler.channelRead(context: context, data: data) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handler.errorCaught(context: context, error: error)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        handler.userInboundEventTriggered(context: context, event: event)
    }
}

/// What the connection layer (`HTTPConnectionHandler`) hands a request to: it knows framing,
/// limits and deadlines, and nothing of routes, credentials or dialects; the responder knows
/// those and nothing of sockets. `Router` is the gateway's; tests drive the connection layer
/// with their own.
protocol RequestResponder: Sendable {
    /// What the responder keeps of a request from its head to its answer.
    associatedtype Exchange

    /// The head has arrived: what is kept of it, and whether its body is read, dropped, or the
    /// request refused from the head alone.
    func begin(_ head: HTTPRequest, connection: ConnectionFacts) -> (Exchange, HeadDecision)

    /// A refusal the connection layer decided (a body over the limit or too slow), in the
    /// envelope of the route the request was for.
    func refusal(_ error: GatewayError, for exchange: Exchange) -> CodecResponse

    /// The whole request (its body, when one was read): answered now or by a task.
    func respond(to exchange: Exchange, body: ByteBuffer?) -> Reply

    /// Fields every answer to this request carries besides framing (its request id; while
    /// draining, `Connection: close`).
    func complete(_ response: inout CodecResponse, for exchange: Exchange)

    /// After the answer is written: the request log and metrics.
    func answered(_ exchange: Exchange, response: CodecResponse)
}

/// What a responder decided from a request's head.
enum HeadDecision {
    /// Read the body, up to `limit` bytes.
    case read(limit: Int)
    /// The route takes no body: one sent is dropped (within the body deadline).
    case ignoreBody
    /// Answer this, and drop the body.
    case refuse(CodecResponse)
}

/// The connection a request came in on, as the layers above may see it.
struct ConnectionFacts: Sendable {
    let listener: Listener
    let channel: any Channel

    /// The peer's address, as `AuthThrottle` keys it (made only when asked for).
    var peer: String { AuthThrottle.peer(channel.remoteAddress) }
    /// The peer's IP address, for the request log.
    var address: String { channel.remoteAddress?.ipAddress ?? "?" }
}

/// A request's answer: now, or when a task has made it.
enum Reply: Sendable {
    case now(Answer)
    case later(@Sendable () async -> Answer)

    static func answer(_ response: CodecResponse) -> Reply { .now(Answer(response)) }
}

/// A response and how it leaves: written, or a fault played with it on the connection.
struct Answer: Sendable {
    var response: CodecResponse
    var delivery: Delivery

    init(_ response: CodecResponse, _ delivery: Delivery = .write) {
        self.response = response
        self.delivery = delivery
    }

    enum Delivery: Sendable {
        case write
        /// Head and half the body, then the connection closes.
        case truncate
        /// The connection is reset instead (SO_LINGER 0).
        case reset
        /// Nothing is written; the connection closes after the delay, if there is one.
        case hang(Duration?)
        /// The head, then the body `chunkBytes` at a time with a pause between pieces.
        case dribble(chunkBytes: Int, every: Duration)
    }
}

/// Which socket a connection came in on.
enum Listener: Sendable {
    /// The dialects' port (everything, unless an admin listener takes the operations routes).
    case traffic
    /// `server.admin_listen`: health, metrics, the operator page, the journal.
    case admin
}

/// The connection layer's limits and deadlines.
struct ConnectionSettings: Sendable {
    /// The largest body `HTTP1ConnectionPolicy` invites with `100 Continue`.
    var maxBodyBytes: Int
    /// How long a request's body may take to arrive.
    var bodyTimeout: TimeAmount
    /// How long a connection may wait for its next request (nil: for ever).
    var idleTimeout: TimeAmount?
    /// The `Date` header's clock.
    var dates = DateHeader()
    /// The socket the connections came in on.
    var listener: Listener = .traffic
    var logger: Logger

    /// The head `response` is written with: its fields, and the framing the layer adds.
    func frame(_ response: CodecResponse) -> HTTPResponse {
        var headers = response.headers
        headers[.contentLength] = String(response.body.count)
        headers[.date] = dates.now()
        headers[.server] = BuildInfo.server
        return HTTPResponse(status: response.status, headerFields: headers)
    }
}

extension HTTPFields {
    /// HTTP/1.1: a request with neither Content-Length nor Transfer-Encoding has no body.
    var announceBody: Bool { self[.contentLength].map { $0 != "0" } ?? (self[.transferEncoding] != nil) }

    var declaredLength: Int? { self[.contentLength].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
}

extension GatewayError {
    static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(code: .tooLarge, message: "request body is larger than \(limit) bytes")
    }
}
