import Dialects
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import StockCore

/// A connection's pipeline: `HTTP1ServerCodec` (HTTP/1.x framing, one request at a time with
/// answers in order, HTTP/1.0, `Expect`, unparsable requests, closing after an early answer),
/// then `handler` (an `HTTPConnectionHandler`).
public func configureConnection(
    _ pipeline: ChannelPipeline.SynchronousOperations, settings: ConnectionSettings, handler: some ChannelHandler
) throws {
    try pipeline.addHandler(
        HTTP1ServerCodec(
            maxBodyBytes: settings.maxBodyBytes,
            stamp: HTTP1ServerCodec.Stamp(server: settings.server, dates: settings.dates),
            memoryRelease: settings.memoryRelease))
    try pipeline.addHandler(handler)
}

/// What a responder keeps of one request from its head to its answer: an object of the
/// responder's own class, which the connection layer only holds and hands back. A class, so
/// that the layer (which is not generic: NIO calls a handler through its protocol, and a
/// generic handler's witnesses would run unspecialized code) moves it as one reference.
public typealias Exchange = AnyObject & Sendable

/// What the connection layer (`HTTPConnectionHandler`) hands a request to: it knows framing,
/// limits and deadlines, and nothing of routes, credentials or dialects; the responder knows
/// those and nothing of sockets. The gateway's is its router; tests drive the connection layer
/// with their own.
public protocol RequestResponder: Sendable {
    /// The head has arrived: what is kept of it, and whether its body is read, dropped, or the
    /// request refused from the head alone.
    func begin(_ head: HTTPRequest, connection: ConnectionFacts) -> (any Exchange, HeadDecision)

    /// A refusal the connection layer decided (a body over the limit or too slow), in the
    /// envelope of the route the request was for.
    func refusal(_ error: GatewayError, for exchange: any Exchange) -> CodecResponse

    /// The whole request (its body, when one was read): answered now or by a task.
    func respond(to exchange: any Exchange, body: ByteBuffer?) -> Reply

    /// Fields every answer to this request carries besides framing (its request id; while
    /// draining, `Connection: close`).
    func complete(_ response: inout CodecResponse, for exchange: any Exchange)

    /// After the answer is written: the request log and metrics.
    func answered(_ exchange: any Exchange, response: CodecResponse)
}

/// What a responder decided from a request's head.
public enum HeadDecision: Sendable {
    /// Read the body, up to `limit` bytes.
    case read(limit: Int)
    /// The route takes no body: one sent is dropped (within the body deadline).
    case ignoreBody
    /// Answer this, and drop the body.
    case refuse(CodecResponse)
}

/// The connection a request came in on, as the layers above may see it.
public struct ConnectionFacts: Sendable {
    public let listener: Listener
    public let channel: any Channel

    public init(listener: Listener, channel: any Channel) {
        self.listener = listener
        self.channel = channel
    }

    /// The peer's IP address ("?" when unknown).
    public var address: String { channel.remoteAddress?.ipAddress ?? "?" }
}

/// A request's answer: now, or when a task has made it.
public enum Reply: Sendable {
    case now(Answer)
    case later(@Sendable () async -> Answer)

    public static func answer(_ response: CodecResponse) -> Reply { .now(Answer(response)) }
}

/// A response and how it leaves: written, or a fault played with it on the connection.
public struct Answer: Sendable {
    public var response: CodecResponse
    public var delivery: Delivery

    public init(_ response: CodecResponse, _ delivery: Delivery = .write) {
        self.response = response
        self.delivery = delivery
    }

    public enum Delivery: Sendable {
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
public enum Listener: Sendable {
    /// The dialects' port (everything, unless an admin listener takes the operations routes).
    case traffic
    /// `server.admin_listen`: health, metrics, the operator page, the journal.
    case admin
}

/// The connection layer's limits and deadlines.
public struct ConnectionSettings: Sendable {
    /// The largest body `HTTP1ServerCodec` invites with `100 Continue`.
    public var maxBodyBytes: Int
    /// How long a request's body may take to arrive.
    public var bodyTimeout: TimeAmount
    /// How long a connection may wait for its next request (nil: for ever).
    public var idleTimeout: TimeAmount?
    /// The `Date` header's clock.
    public var dates = DateHeader()
    /// The socket the connections came in on.
    public var listener: Listener = .traffic
    /// The `Server` header of every answer.
    public var server: String
    public var logger: Logger
    /// What follows a request with a large body: the allocator's free memory handed back.
    public var memoryRelease = MemoryRelease.allocator

    public init(
        maxBodyBytes: Int, bodyTimeout: TimeAmount, idleTimeout: TimeAmount?, listener: Listener = .traffic,
        server: String, logger: Logger
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.listener = listener
        self.server = server
        self.logger = logger
    }

    /// The head `response` is written with: its fields and its length, which is set in
    /// `response` itself (a copy of its fields to edit would copy them all again). `HTTP1ServerCodec`
    /// stamps `Date` and `Server` as it writes the head (`Stamp`), so they cost no field edits.
    func frame(_ response: inout CodecResponse) -> HTTPResponse {
        response.headers.replaceOrAppend(HTTPField(name: .contentLength, value: String(response.body.count)))
        return HTTPResponse(status: response.status, headerFields: response.headers)
    }
}

extension GatewayError {
    static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(code: .tooLarge, message: "request body is larger than \(limit) bytes")
    }
}
