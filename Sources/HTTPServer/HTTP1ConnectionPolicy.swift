import Logging
import NIOCore
import NIOHTTP1

/// What HTTP/1.x says about a connection that cannot be seen once a request has been turned
/// into `HTTPTypes` (which carry no version). Sits right after NIO's request decoder:
///
/// - **HTTP/1.0** is not kept alive unless the client asks for it (RFC 9112 §9.3): such a
///   request is marked `Connection: close`, and the answer to one that asked says
///   `Connection: keep-alive`. An HTTP/1.0 request may omit `Host` (RFC 9112 §3.2.3): the
///   server's own address stands in for it.
/// - **`Expect: 100-continue`** (HTTP/1.1): `100 Continue` is sent only when the handler above
///   decides to read the body (`SendContinue`): after routing, credentials and the declared
///   length are checked, so a refused request (401, 403, 413, …) is answered without the body
///   ever being sent and nobody unauthenticated is invited to send one (RFC 9110 §10.1.1).
/// - **A connection that must close** — the request said `close`, the answer says `close`, or
///   the answer went out before the request's body had arrived (an early 4xx) — is closed
///   after the answer: the write side first, then what the client still sends is read and
///   dropped for at most `lingerTime`, then the socket is closed (so the client reads the
///   answer instead of a reset, and the socket is not left half-open for the idle timeout).
final class HTTP1ConnectionPolicy: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One request whose answer has not been written yet (HTTP/1.1 answers in order).
    struct Pending {
        var keepAlive: Bool
        var http10: Bool
        var bodyComplete = false
        /// The client waits for `100 Continue` before it sends the body.
        var expectsContinue = false
    }

    /// Sent (as a user outbound event) by the handler above when it starts reading a request's
    /// body: a client that asked for `100 Continue` gets it now.
    struct SendContinue {}

    let maxBodyBytes: Int
    let lingerTime: TimeAmount
    let logger: Logger
    private var pending: [Pending] = []
    /// The answer being written: whether the connection closes after its end.
    private var closeAfterAnswer = false
    private var answering = false
    private var lingering = false
    private var lingerTimer: Scheduled<Void>?

    init(maxBodyBytes: Int, lingerTime: TimeAmount = .seconds(2), logger: Logger) {
        self.maxBodyBytes = maxBodyBytes
        self.lingerTime = lingerTime
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering { return }  // what a closing connection still sends is dropped
        switch unwrapInboundIn(data) {
        case .head(var head):
            let http10 = head.version.major == 1 && head.version.minor == 0
            let keepAlive = head.isKeepAlive
            if !keepAlive {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            if http10 && !head.headers.contains(name: "host") {
                head.headers.add(name: "host", value: Self.authority(of: context.channel.localAddress))
            }
            var request = Pending(keepAlive: keepAlive, http10: http10)
            if !http10, Self.expectsContinue(head.headers) {
                // The expectation is answered here (on `SendContinue`); the application never sees it.
                head.headers.remove(name: "expect")
                request.expectsContinue = Self.declaredLength(head.headers).map { $0 <= maxBodyBytes } ?? true
            }
            pending.append(request)
            context.fireChannelRead(wrapInboundOut(.head(head)))
        case .end(let trailers):
            if let last = pending.indices.last { pending[last].bodyComplete = true }
            context.fireChannelRead(wrapInboundOut(.end(trailers)))
        case .body:
            if let last = pending.indices.last { pending[last].expectsContinue = false }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            guard !(100..<200).contains(head.status.code) || head.status.code == 101 else {
                context.write(data, promise: promise)
                return
            }
            let request = pending.isEmpty ? nil : pending.removeFirst()
            let saysClose = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            let early = request.map { !$0.bodyComplete } ?? false
            closeAfterAnswer = saysClose || early || request.map { !$0.keepAlive } ?? false
            answering = true
            if closeAfterAnswer {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            } else if request?.http10 == true {
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard answering else {
                context.write(data, promise: promise)
                return
            }
            answering = false
            guard closeAfterAnswer else {
                context.write(data, promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in
                let (handler, context) = loopBound.value
                handler.linger(context: context)
            }
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinue else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        // The request being read is the newest one (NIO's pipelining handler hands them over one
        // at a time); once its body has begun or ended, the client no longer waits.
        if let last = pending.indices.last, pending[last].expectsContinue, !pending[last].bodyComplete, !lingering {
            pending[last].expectsContinue = false
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    /// The write side is shut; what the client still sends is read and dropped until it
    /// closes, or `lingerTime` has passed.
    private func linger(context: ChannelHandlerContext) {
        guard !lingering else { return }
        lingering = true
        context.close(mode: .output, promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        lingerTimer = context.eventLoop.scheduleTask(in: lingerTime) {
            loopBound.value.close(promise: nil)
        }
        context.read()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if lingering {
            context.read()  // keep draining: the application is no longer reading
            return
        }
        context.fireChannelReadComplete()
    }

    /// NIO's parser errors are answered here (NIO's own `HTTPServerProtocolErrorHandler` is not
    /// in the pipeline): `400` with `Connection: close` unless an answer is being written, then
    /// the handler above closes. Except after a request that asked to close the connection: what
    /// the client sent behind it is no request of this connection (its parser reports "data after
    /// Connection: close"), so nothing is answered for it; the connection closes after the answer.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if lingering { return }  // a parse error in what is being dropped
        if error is HTTPParserError {
            if closeAfterAnswer || pending.contains(where: { !$0.keepAlive }) { return }
            if !answering {
                let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
                context.write(
                    wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))),
                    promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if lingering, let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        context.fireChannelInactive()
    }

    static func expectsContinue(_ headers: HTTPHeaders) -> Bool {
        headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    }

    /// The declared `Content-Length`, when there is exactly one sensible value.
    static func declaredLength(_ headers: HTTPHeaders) -> Int? {
        let values = headers["content-length"]
        guard values.count == 1 else { return nil }
        return Int(values[0].trimmingCharacters(in: .whitespaces))
    }

    static func authority(of address: SocketAddress?) -> String {
        switch address {
        case .some(.v4(let v4)): "\(v4.host):\(address?.port ?? 0)"
        case .some(.v6(let v6)): "[\(v6.host)]:\(address?.port ?? 0)"
        default: "localhost"
        }
    }
}
