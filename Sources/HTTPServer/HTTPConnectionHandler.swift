import Dialects
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import StockCore

/// One connection's requests, on its event loop, knowing no endpoint: each head goes to the
/// responder, the body is collected within its limit and deadline, the whole request handed
/// over, and the answer written back. `HTTP1ServerCodec` in front hands over one request at a
/// time. An answer can go out before the body has arrived (refused from its head, a body
/// over the limit or too slow): the rest is dropped and `HTTP1ServerCodec` closes the
/// connection after the answer. The connection also closes when idle for `idleTimeout`, when
/// the client half-closes, and on shutdown (`ChannelShouldQuiesceEvent`) once answered.
public final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = RequestIn
    public typealias OutboundOut = ResponseOut

    enum State {
        case idle  // between requests
        case receiving(any Exchange, body: ByteBuffer?)  // head in, body arriving (kept when not nil)
        case draining  // answered before the request ended: the rest of it is dropped
        case handling  // the responder has it; the answer is written when ready
    }

    let responder: any RequestResponder
    let settings: ConnectionSettings
    private var state = State.idle
    /// A bodiless request refused from its head: answered once it has ended, so the
    /// connection stays open (an answer before the request's end closes it).
    private var refusal: CodecResponse?
    private var bodyLimit = 0
    private var isHead = false
    /// When the body arriving now must have ended; nil when none is arriving.
    private var bodyDeadline: NIODeadline?
    private var bodyTimer: Scheduled<Void>?
    private let idle: IdleTimer
    /// Close once the request in hand is answered (shutdown, or the client half-closed).
    private var closeWhenIdle = false
    /// A `hang` fault holds the request unanswered: shutdown closes the connection.
    private var hanging = false
    /// An answer is being written (see `write`).
    private var writing = false
    /// This connection's loop as a task executor, made for its first task.
    private var executor: EventLoopTaskExecutor?

    public init(responder: any RequestResponder, settings: ConnectionSettings) {
        self.responder = responder
        self.settings = settings
        idle = IdleTimer(timeout: settings.idleTimeout)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { idle.start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        idle.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        bodyTimer?.cancel()
        idle.cancel()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head, let framing):
            idle.stop()
            begin(head, framing: framing, context: context)
        case .body(var part):
            guard case .receiving(let exchange, var body?) = state else { return }
            state = .handling  // the buffer is held only here while it grows: appending never copies it
            body.writeBuffer(&part)
            if body.readableBytes > bodyLimit {
                answerEarly(responder.refusal(.tooLarge(bodyLimit), for: exchange), for: exchange, context: context)
            } else {
                state = .receiving(exchange, body: body)
            }
        case .end:
            bodyDeadline = nil
            switch state {
            case .receiving(let exchange, let body):
                state = .handling
                if let refused = refusal {
                    refusal = nil
                    write(refused, for: exchange, context: context)
                } else {
                    deliver(responder.respond(to: exchange, body: body), for: exchange, context: context)
                }
            case .draining:
                state = .idle
                finishAnswer(context: context)
            case .idle, .handling:
                return
            }
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed else {
            return context.fireUserInboundEventTriggered(event)
        }
        closeWhenIdle = true
        if case .idle = state, !writing { context.close(promise: nil) } else if hanging { context.close(promise: nil) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bytes that are no request (answered 400 by HTTP1ServerCodec before this), or the
        // socket's own error: nothing sensible can follow on this connection.
        settings.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func begin(_ head: HTTPRequest, framing: RequestBody, context: ChannelHandlerContext) {
        isHead = head.method == .head
        let (exchange, admission) = responder.begin(
            head, connection: ConnectionFacts(listener: settings.listener, channel: context.channel))
        let hasBody = framing.announced
        var body: ByteBuffer?
        switch admission {
        case .refuse(let response):
            guard hasBody else {
                refusal = response
                break
            }
            return answerEarly(response, for: exchange, context: context)
        case .read(let limit):
            bodyLimit = limit
            if let declared = framing.declaredLength, declared > limit {
                return answerEarly(responder.refusal(.tooLarge(limit), for: exchange), for: exchange, context: context)
            }
            if hasBody { body = context.channel.allocator.buffer(capacity: 0) }
        case .ignoreBody:
            break
        }
        if hasBody, refusal == nil {
            // Whatever the route, a body is bounded by the body deadline, read or not; and
            // `100 Continue` goes out only now that the request is accepted.
            startBodyTimer(context: context)
            context.triggerUserOutboundEvent(HTTP1ServerCodec.SendContinue(), promise: nil)
        }
        state = .receiving(exchange, body: body)
    }

    /// Answers before the request has ended; what is left of it is dropped.
    private func answerEarly(_ response: CodecResponse, for exchange: any Exchange, context: ChannelHandlerContext) {
        bodyDeadline = nil
        state = .draining
        write(response, for: exchange, context: context)
    }

    private func startBodyTimer(context: ChannelHandlerContext) {
        let deadline = context.eventLoop.now + settings.bodyTimeout
        bodyDeadline = deadline
        if bodyTimer == nil { armBodyTimer(at: deadline, context: context) }
    }

    /// At most one body timer per connection, as `IdleTimer`: a body's end only clears
    /// `bodyDeadline`, and a timer that fires before the deadline of the body then in hand is
    /// set again for it. A schedule and a cancel per request cost ~11,000 instructions of a
    /// forwarded write (NIO's cancel searches its queue of every connection's timers; callgrind).
    private func armBodyTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        bodyTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.bodyTimer = nil
            guard let deadline = handler.bodyDeadline else { return }
            guard deadline <= context.eventLoop.now else { return handler.armBodyTimer(at: deadline, context: context) }
            guard case .receiving(let exchange, _) = handler.state else { return }
            let seconds = Double(handler.settings.bodyTimeout.nanoseconds) / 1e9
            let error = GatewayError(
                code: .requestTimeout, message: "the request body did not arrive within \(seconds) seconds")
            handler.answerEarly(handler.responder.refusal(error, for: exchange), for: exchange, context: context)
        }
    }

    /// Delivers a reply: at once, or from a task run on this connection's loop.
    private func deliver(_ reply: Reply, for exchange: any Exchange, context: ChannelHandlerContext) {
        switch reply {
        case .now(let answer):
            play(answer, for: exchange, context: context)
        case .later(let work):
            let executor = self.executor ?? EventLoopTaskExecutor(context.eventLoop)
            self.executor = executor
            let loopBound = NIOLoopBound((self, context, exchange), eventLoop: context.eventLoop)
            // Started here, on the loop, up to its first suspension: not queued behind the
            // loop's other work first, a round trip through the loop's task queue saved.
            Task.immediate(executorPreference: executor) {
                let answer = await work()
                // The task prefers this connection's loop, so it ends there as a rule: the answer
                // is played at once, not queued as one more loop task (~1,500 instructions).
                let play: @Sendable () -> Void = {
                    let (handler, context, exchange) = loopBound.value
                    handler.play(answer, for: exchange, context: context)
                }
                if executor.loop.inEventLoop { play() } else { executor.loop.execute(play) }
            }
        }
    }

    private func play(_ answer: Answer, for exchange: any Exchange, context: ChannelHandlerContext) {
        switch answer.delivery {
        case .write:
            write(answer.response, for: exchange, context: context)
        case .truncate:
            var response = answer.response
            FaultedDelivery.truncate(head(of: &response, for: exchange), body: response.body, context: context)
        case .reset:
            FaultedDelivery.reset(context: context)
        case .hang(let delay):
            hanging = true
            if closeWhenIdle { return context.close(promise: nil) }
            FaultedDelivery.closeAfter(delay, context: context)
        case .dribble(let size, let interval):
            var response = answer.response
            let head = head(of: &response, for: exchange)
            FaultedDelivery.dribble(head, body: response.body, size: size, interval: interval, context: context) {
                self.write(response, for: exchange, context: context, headAndBodySent: true)
            }
        }
    }

    private func head(of response: inout CodecResponse, for exchange: any Exchange) -> HTTPResponse {
        responder.complete(&response, for: exchange)
        return settings.frame(&response)
    }

    /// Writes `response`, then has the responder log it.
    ///
    /// Writing the answer's end can hand over the next pipelined request (and a half-close the
    /// client sent after it) at once: `HTTP1ServerCodec` delivers them from inside that
    /// write. So this request is finished before the write — a request delivered then starts
    /// from `.idle` and is not taken for this one — and a half-close arriving during the write
    /// only marks the connection to close once idle (closing inside the write would drop the
    /// answer before its flush, and closing for this request would drop the next one's).
    private func write(
        _ response: CodecResponse, for exchange: any Exchange, context: ChannelHandlerContext,
        headAndBodySent: Bool = false
    ) {
        var finishing = false
        if case .handling = state {
            state = .idle
            finishing = true
        }
        let wasWriting = writing
        writing = true
        var response = response
        if headAndBodySent {
            context.writeAndFlush(wrapOutboundOut(.part(.end(nil))), promise: nil)
        } else {
            let head = head(of: &response, for: exchange)
            context.writeAndFlush(wrapOutboundOut(.whole(head, body: isHead ? [] : response.body)), promise: nil)
        }
        writing = wasWriting
        responder.answered(exchange, response: response)
        if finishing, case .idle = state { finishAnswer(context: context) }
    }

    /// After an answer, with the request wholly read: close if asked to, else wait for the next.
    private func finishAnswer(context: ChannelHandlerContext) {
        if closeWhenIdle { context.close(promise: nil) } else { idle.start(context: context) }
    }
}
