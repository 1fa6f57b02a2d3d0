import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes

/// What the handler above `HTTP1ServerCodec` writes: HTTPTypes' parts (a faulted delivery
/// writes the head and pieces of the body as it plays), or a whole final answer at once — its
/// head, body and end in one trip through the pipeline and one buffer (three trips and a
/// buffer per part cost ~4,000 instructions per answer, callgrind).
public enum ResponseOut: Sendable {
    case part(HTTPResponsePart)
    case whole(HTTPResponse, body: [UInt8])
}

/// What `HTTP1ServerCodec` hands the handler above: a request's head with what its framing
/// says of the body (read once by the parser, so the handler reads no field for it), the
/// body's parts as they arrive, and the request's end.
public enum RequestIn: Sendable {
    case head(HTTPRequest, body: RequestBody)
    case body(ByteBuffer)
    case end
}

/// A request's body as its head announced it.
public enum RequestBody: Sendable, Equatable {
    /// No body: neither `Content-Length` (or a length of 0) nor `Transfer-Encoding`.
    case none
    /// `Content-Length` of more than 0 bytes.
    case length(Int)
    /// `Transfer-Encoding: chunked`: the length is known only at its end.
    case chunked

    public var announced: Bool { self != .none }

    /// The length `Content-Length` declared, when it framed the body.
    public var declaredLength: Int? {
        if case .length(let length) = self { return length }
        return nil
    }
}

/// HTTP/1.x on one connection, in one handler: bytes in, `RequestIn`s to the handler
/// above; `ResponseOut`s from it (HTTPTypes' parts, or a whole answer at once), bytes out. It
/// replaces NIO's HTTP/1 decoder, encoder, pipelining handler and conversion to HTTPTypes (four
/// handlers, each crossing paid per part), and keeps what they did:
///
/// - **One request at a time, answered in order.** The next request is parsed only once the
///   answer to the one before has been written; bytes pipelined behind it wait in the buffer,
///   and no more is read meanwhile (so a client cannot make the buffer grow), then they are
///   handed over from inside that answer's write. A half-close the client sent after them is
///   handed over once they have been.
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
///   Nothing after a request that closes the connection is read as a request.
/// - **Bytes that are no request** (`HTTP1RequestParser`'s errors) are answered 400 (431 for a head too large)
///   with `Connection: close`, unless an answer is being written; the handler above then
///   closes the connection.
final class HTTP1ServerCodec: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RequestIn
    typealias OutboundIn = ResponseOut
    typealias OutboundOut = ByteBuffer

    /// Sent (as a user outbound event) by the handler above when it starts reading a request's
    /// body: a client that asked for `100 Continue` gets it now.
    struct SendContinue {}

    /// The request being read or answered.
    struct Current {
        var keepAlive: Bool
        var http10: Bool
        var bodyComplete = false
        /// The client waits for `100 Continue` before it sends the body.
        var expectsContinue: Bool
        /// The body's bytes read and the answer's written so far (`MemoryRelease`).
        var bodyBytes = 0
    }

    /// The `Date` and `Server` every final answer carries (in place of any it has).
    struct Stamp {
        var server: String
        var dates: DateHeader
    }

    let maxBodyBytes: Int
    let stamp: Stamp?
    let lingerTime: TimeAmount
    let memoryRelease: MemoryRelease
    private var parser = HTTP1RequestParser()
    /// What has arrived and is not parsed yet.
    private var buffered: ByteBuffer?
    private var current: Current?
    /// A request has been read whole and not yet answered: nothing more is parsed.
    private var awaitingAnswer = false
    /// The client's `read()` held back while a pipelined request waits in the buffer.
    private var readHeld = false
    /// The client half-closed while requests were still in the buffer: handed over after them.
    private var inputClosedHeld = false
    /// A request that closes the connection has been read: what follows is dropped.
    private var stopped = false
    /// The answer being written: whether the connection closes after its end.
    private var closeAfterAnswer = false
    private var answering = false
    private var lingering = false
    private var lingerTimer: Scheduled<Void>?
    /// The answer's head (and small body parts), written as one buffer.
    private var outgoing: ByteBuffer?

    init(
        maxBodyBytes: Int, stamp: Stamp? = nil, lingerTime: TimeAmount = .seconds(2),
        memoryRelease: MemoryRelease = .allocator
    ) {
        self.maxBodyBytes = maxBodyBytes
        self.stamp = stamp
        self.lingerTime = lingerTime
        self.memoryRelease = memoryRelease
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering || stopped { return }  // what a closing connection still sends is dropped
        var bytes = unwrapInboundIn(data)
        if buffered == nil || buffered!.readableBytes == 0 {
            buffered = bytes
        } else {
            // What was parsed is let go first: appending behind it kept parsed bytes while
            // reads kept ending mid-request (pipelining): 64 KiB per connection instead of
            // 2 KiB in ConnectionLayerTests/pipelinedBufferBounded.
            buffered!.discardReadBytes()
            buffered!.writeBuffer(&bytes)
        }
        parse(context: context)
    }

    /// The bytes the buffer of unparsed input holds (tests: it stays bounded).
    var bufferCapacity: Int { buffered?.capacity ?? 0 }

    /// Hands over what the buffer holds of the request being read (the next one, once the one
    /// before is answered).
    private func parse(context: ChannelHandlerContext) {
        while !awaitingAnswer, !stopped, !lingering, var bytes = buffered,
            bytes.readableBytes > 0 || parser.state != .head
        {
            buffered = nil  // not shared while the parser takes from it
            let part: HTTP1RequestPart?
            do {
                part = try parser.next(&bytes)
            } catch {
                buffered = nil
                return refuse(error, context: context)
            }
            buffered = bytes
            guard let part else { break }
            deliver(part, context: context)
        }
        if inputClosedHeld, !awaitingAnswer || (buffered?.readableBytes ?? 0) == 0 {
            inputClosedHeld = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    private func deliver(_ part: HTTP1RequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(var head):
            if head.http10 && head.request.authority == nil {
                head.request.authority = Self.authority(of: context.channel.localAddress)
            }
            current = Current(
                keepAlive: head.keepAlive, http10: head.http10,
                expectsContinue: head.expectsContinue && head.body.declaredLength.map { $0 <= maxBodyBytes } ?? true)
            context.fireChannelRead(wrapInboundOut(.head(head.request, body: head.body)))
        case .body(let body):
            current?.expectsContinue = false
            current?.bodyBytes += body.readableBytes
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end:
            current?.bodyComplete = true
            awaitingAnswer = true
            if current?.keepAlive == false {
                stopped = true
                buffered = nil
            }
            context.fireChannelRead(wrapInboundOut(.end))
        }
    }

    /// Bytes that are no request: answered (unless an answer is being written, or was the
    /// last), then the handler above closes the connection.
    private func refuse(_ error: HTTP1ParseError, context: ChannelHandlerContext) {
        stopped = true
        if !answering && !closeAfterAnswer {
            var head = HTTPResponse(status: error.status)
            head.headerFields[.connection] = "close"
            head.headerFields[.contentLength] = "0"
            var bytes = context.channel.allocator.buffer(capacity: 128)
            Self.encode(head, into: &bytes, stamp: stamp)
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if lingering {
            context.read()  // keep draining: the application is no longer reading
            return
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            if lingering { return context.close(promise: nil) }
            if awaitingAnswer, (buffered?.readableBytes ?? 0) > 0 {
                inputClosedHeld = true
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        context.fireChannelInactive()
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        // A pipelined request waits for the answer before it: read no more until it is parsed.
        if awaitingAnswer, (buffered?.readableBytes ?? 0) > 0, !lingering {
            readHeld = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .part(.head(let head)):
            let code = head.status.code
            if (100..<200).contains(code) && code != 101 {
                var bytes = context.channel.allocator.buffer(capacity: 64)
                Self.encode(head, into: &bytes)
                return context.write(wrapOutboundOut(bytes), promise: promise)
            }
            var bytes = context.channel.allocator.buffer(capacity: 256)
            Self.encode(answerHead(head), into: &bytes, stamp: stamp)
            append(bytes, promise: promise, context: context)
        case .part(.body(let body)):
            current?.bodyBytes += body.readableBytes
            append(body, promise: promise, context: context)
        case .part(.end):
            end(promise: promise, context: context)
        case .whole(let head, let body):
            // One buffer for the head and the body, one write; then the answer's end.
            var bytes = context.channel.allocator.buffer(capacity: 256 + body.count)
            Self.encode(answerHead(head), into: &bytes, stamp: stamp)
            bytes.writeBytes(body)
            current?.bodyBytes += body.count
            append(bytes, promise: nil, context: context)
            end(promise: promise, context: context)
        }
    }

    /// A final answer's head as it leaves: marked to close the connection, or to keep an
    /// HTTP/1.0 one alive; what its end does is decided here.
    private func answerHead(_ head: HTTPResponse) -> HTTPResponse {
        var head = head
        let early = current.map { !$0.bodyComplete } ?? false
        closeAfterAnswer =
            early || current.map { !$0.keepAlive } ?? false
            || head.headerFields[values: .connection].contains { $0.lowercased() == "close" }
        answering = true
        if closeAfterAnswer {
            head.headerFields[.connection] = "close"
        } else if current?.http10 == true {
            head.headerFields[.connection] = "keep-alive"
        }
        return head
    }

    /// The answer's end: written, then the next request, or the close.
    private func end(promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        guard answering else { return flushOutgoing(promise: promise, context: context) }
        answering = false
        if let bytes = current?.bodyBytes { memoryRelease.answered(bytes: bytes, on: context.eventLoop) }
        guard closeAfterAnswer else {
            flushOutgoing(promise: promise, context: context)
            return nextRequest(context: context)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.cascade(to: promise)
        flushOutgoing(promise: written, context: context)
        context.flush()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.linger(context: context)
        }
    }

    func flush(context: ChannelHandlerContext) {
        flushOutgoing(promise: nil, context: context)
        context.flush()
    }

    /// A part of the answer joins the head in one buffer; a part whose write is awaited is
    /// written at once.
    private func append(_ part: ByteBuffer, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        var part = part
        if outgoing == nil {
            outgoing = part
        } else {
            outgoing!.writeBuffer(&part)
        }
        if promise != nil { flushOutgoing(promise: promise, context: context) }
    }

    private func flushOutgoing(promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        if let bytes = outgoing {
            outgoing = nil
            context.write(wrapOutboundOut(bytes), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    /// The answer is written and the connection stays: the next request, if it has arrived.
    private func nextRequest(context: ChannelHandlerContext) {
        guard awaitingAnswer else { return }
        awaitingAnswer = false
        current = nil
        parser.expectRequest()
        parse(context: context)
        if readHeld && !awaitingAnswer {
            readHeld = false
            context.read()
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinue else {
            return context.triggerUserOutboundEvent(event, promise: promise)
        }
        // Once the body has begun or ended, the client no longer waits.
        if let request = current, request.expectsContinue, !request.bodyComplete, !lingering {
            current?.expectsContinue = false
            var bytes = context.channel.allocator.buffer(capacity: 32)
            bytes.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
        }
        promise?.succeed()
    }

    /// The write side is shut; what the client still sends is read and dropped until it
    /// closes, or `lingerTime` has passed.
    private func linger(context: ChannelHandlerContext) {
        guard !lingering else { return }
        lingering = true
        buffered = nil
        context.close(mode: .output, promise: nil)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        lingerTimer = context.eventLoop.scheduleTask(in: lingerTime) {
            loopBound.value.close(promise: nil)
        }
        context.read()
    }

    // MARK: Encoding

    /// The status line and fields of `head`, then the empty line, gathered in one pass over the
    /// fields and written at once (a `ByteBuffer` write per piece cost ~5,000 instructions per
    /// answer, callgrind; `HTTPResponse.status` is parsed anew on each read, so it is read once).
    static func encode(_ head: HTTPResponse, into bytes: inout ByteBuffer, stamp: Stamp? = nil) {
        let status = head.status
        let code = status.code
        var text: [UInt8] = []
        text.reserveCapacity(256)
        text.append(static: "HTTP/1.1 ")
        text.append(UInt8(truncatingIfNeeded: 0x30 + code / 100 % 10))
        text.append(UInt8(truncatingIfNeeded: 0x30 + code / 10 % 10))
        text.append(UInt8(truncatingIfNeeded: 0x30 + code % 10))
        text.append(UInt8(ascii: " "))
        text.append(contentsOf: (status.reasonPhrase.isEmpty ? reasonPhrase(code) : status.reasonPhrase).utf8)
        text.append(static: "\r\n")
        for field in head.headerFields where stamp == nil || !Self.isStamped(field.name) {
            text.append(contentsOf: field.name.rawName.utf8)
            text.append(static: ": ")
            text.append(contentsOf: field.value.utf8)
            text.append(static: "\r\n")
        }
        if let stamp {
            text.append(static: "Date: ")
            text.append(contentsOf: stamp.dates.now().utf8)
            text.append(static: "\r\nServer: ")
            text.append(contentsOf: stamp.server.utf8)
            text.append(static: "\r\n")
        }
        text.append(static: "\r\n")
        bytes.writeBytes(text)
    }

    /// `Date` or `Server`, by their bytes (comparing names as `String`s costs a Unicode-aware
    /// comparison for every mismatch).
    private static func isStamped(_ name: HTTPField.Name) -> Bool {
        let bytes = name.canonicalName.utf8
        return bytes.count == 4 && bytes.elementsEqual("date".utf8)
            || bytes.count == 6 && bytes.elementsEqual("server".utf8)
    }

    /// RFC 9110's reason phrase for a status made from its code alone.
    static func reasonPhrase(_ code: Int) -> String {
        switch code {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 425: "Too Early"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: ""
        }
    }

    static func authority(of address: SocketAddress?) -> String {
        switch address {
        case .some(.v4(let v4)): "\(v4.host):\(address?.port ?? 0)"
        case .some(.v6(let v6)): "[\(v6.host)]:\(address?.port ?? 0)"
        default: "localhost"
        }
    }
}

extension [UInt8] {
    fileprivate mutating func append(static text: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
