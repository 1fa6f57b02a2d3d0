import Dialects
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import StockCore

/// One connection's requests, on its event loop: the head routed, the body collected within
/// the size and time limits, the pipeline run in a task, the answer written back on the loop.
///
/// NIO's pipelining handler in front hands over one request at a time and holds the next until
/// this one's answer has ended, so answers leave in order. An answer can go out before the
/// request's body has arrived (refused credentials, a declared body over the limit, a body that
/// did not arrive in time): the rest of that body is dropped and `HTTP1ConnectionPolicy` closes
/// the connection after the answer. The connection also closes after `idleTimeout` without a
/// request, when the client half-closes, and on graceful shutdown (`ChannelShouldQuiesceEvent`)
/// once the request in hand is answered.
final class GatewayRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// A request whose head has arrived.
    struct Current {
        var request: HTTPRequest
        /// The gateway current when the head arrived: the request keeps it to its answer.
        var gateway: Gateway
        var requestID: String
        var started: ContinuousClock.Instant
        var destination: Destination
        /// The configured client that sent it (nil when no client is configured).
        var client: String? = nil
        /// The body so far (only for destinations that read one).
        var body: ByteBuffer? = nil
        /// An answer decided from the head alone, given once the (bodiless) request has ended.
        var refusal: CodecResponse? = nil
    }

    enum State {
        /// Between requests.
        case idle
        /// Head in, body arriving.
        case receiving(Current)
        /// Answered before the body ended: what is left of it is dropped.
        case draining
        /// The pipeline is running; the answer is written when it is done.
        case handling
    }

    let shared: ServerShared
    private var state = State.idle
    private var bodyTimer: Scheduled<Void>?
    /// At most one idle timer per connection, not one per request: it is set when the
    /// connection first goes idle and, when it fires, closes only a connection idle for the
    /// whole timeout, else it is set again for the rest (a cancel and a schedule per request
    /// cost ~7,000 instructions, callgrind).
    private var idleTimer: Scheduled<Void>?
    /// Since when the connection has waited for a request; nil while one is in hand.
    private var idleSince: NIODeadline?
    /// Close once the request in hand is answered (shutdown, or the client half-closed).
    private var closeWhenIdle = false
    /// A `hang` fault holds the request in hand unanswered: shutdown closes the connection.
    private var hanging = false
    /// An answer is being written (see `answer`).
    private var writing = false

    /// The socket this connection came in on (`server.admin_listen`).
    let listener: Listener

    init(shared: ServerShared, listener: Listener = .traffic) {
        self.shared = shared
        self.listener = listener
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startIdleTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startIdleTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        bodyTimer?.cancel()
        idleTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            idleSince = nil
            head(request, context: context)
        case .body(var part):
            guard case .receiving(var current) = state, var body = current.body else { return }
            // Held only here while it grows, so appending never copies it.
            current.body = nil
            state = .idle
            body.writeBuffer(&part)
            let tooLarge = body.readableBytes > shared.maxBodyBytes
            current.body = body
            if tooLarge {
                refuseEarly(current, GatewayError.tooLarge(shared.maxBodyBytes), context: context)
            } else {
                state = .receiving(current)
            }
        case .end:
            bodyTimer?.cancel()
            bodyTimer = nil
            switch state {
            case .receiving(let current):
                dispatch(current, context: context)
            case .draining:
                state = .idle
                finishAnswer(context: context)
            case .idle, .handling:
                return
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed {
            closeWhenIdle = true
            if case .idle = state, !writing {
                context.close(promise: nil)
            } else if hanging {
                context.close(promise: nil)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A request that cannot be turned into HTTP fields (NIO's own parser errors are answered
        // 400 by its error handler before this): nothing sensible can follow on this connection.
        shared.logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: The head

    private func head(_ request: HTTPRequest, context: ChannelHandlerContext) {
        let requestID = RequestIDs.requestID(from: request.headerFields[.requestID])
        let started = ContinuousClock.now
        let (gateway, routes) = shared.live.current
        // HTTP/1.1 requires exactly one Host (RFC 9112 §3.2): the first becomes the request's
        // authority, a second one is left among the fields.
        if request.authority == nil || request.headerFields[Self.host] != nil
            || !HostHeader.isValid(request.authority ?? "")
        {
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            headers[.connection] = "close"
            let refusal = CodecResponse(
                status: .badRequest, headers: headers,
                body: Array("400 Bad Request: exactly one valid Host header (host[:port]) is required".utf8))
            let current = Current(
                request: request, gateway: gateway, requestID: requestID, started: started, destination: .notFound)
            answerEarly(refusal, for: current, context: context)
            return
        }
        let path = request.path.map { RouteTable.withoutQuery($0) } ?? "/"
        var destination = routes.destination(method: request.method, path: path)
        if shared.adminSeparate, !destination.isServed(on: listener) {
            destination = .notFound  // the other listener's route: not found here
        }
        var current = Current(
            request: request, gateway: gateway, requestID: requestID, started: started, destination: destination)
        let hasBody = Self.hasBody(request.headerFields)
        if !shared.throttle.isQuiet, !destination.isHealth,
            let wait = shared.throttle.blocked(AuthThrottle.peer(context.channel.remoteAddress))
        {
            let seconds = max(1, wait.nanoseconds / 1_000_000_000)
            var refusal = Self.refusal(
                GatewayError(
                    code: .tooManyRequests,
                    message: "too many failed credential checks from this address: try again in \(seconds) s"),
                for: destination)
            refusal.headers[.retryAfter] = String(seconds)
            answerEarly(refusal, for: current, context: context)
            return
        }
        // One rule for every route: what it requires of the caller (`Destination.requirement`).
        let requirement = destination.requirement
        let pageRead = (request.method == .get || request.method == .head) && !requirement.isDialect
        switch gateway.clients.decide(requirement, headers: request.headerFields, basicAllowed: pageRead) {
        case .allowed(let name):
            current.client = name
        case .unauthenticated:
            // A guess presents credentials; a request with none is only refused (401), not counted.
            if request.headerFields[.authorization] != nil || request.headerFields[Self.xKey] != nil {
                shared.throttle.failed(AuthThrottle.peer(context.channel.remoteAddress))
            }
            current.refusal = Self.unauthenticated(destination)
        case .forbidden(let name):
            current.client = name
            current.refusal = Self.forbidden(destination)
        }
        if current.refusal == nil {
            switch destination {
            case .codec(let endpoint, _):
                if let problem = GatewayServer.unsupportedCoding(request.headerFields) {
                    current.refusal = endpoint.refuse(problem)
                } else if hasBody {
                    if let declared = Self.declaredLength(request.headerFields), declared > shared.maxBodyBytes {
                        refuseEarly(current, GatewayError.tooLarge(shared.maxBodyBytes), context: context)
                        return
                    }
                    current.body = context.channel.allocator.buffer(capacity: 0)
                }
            case .token, .faults, .pusher:
                if hasBody { current.body = context.channel.allocator.buffer(capacity: 0) }
            case .health, .metrics, .console, .openAPI, .testReset, .notFound, .methodNotAllowed:
                break
            }
        }
        if hasBody {
            // A refused request is answered before its body is sent; whatever the route, a body
            // is bounded by the body deadline, read or not (and `100 Continue` goes out only now).
            if let refusal = current.refusal {
                answerEarly(refusal, for: current, context: context)
                return
            }
            startBodyTimer(context: context)
            context.triggerUserOutboundEvent(HTTP1ConnectionPolicy.SendContinue(), promise: nil)
        }
        state = .receiving(current)
    }

    /// Answers before the body has ended, in the dialect's envelope when there is one.
    private func refuseEarly(_ current: Current, _ error: GatewayError, context: ChannelHandlerContext) {
        answerEarly(Self.refusal(error, for: current.destination), for: current, context: context)
    }

    /// Answers before the request has ended; what is left of it is dropped.
    private func answerEarly(_ response: CodecResponse, for current: Current, context: ChannelHandlerContext) {
        bodyTimer?.cancel()
        bodyTimer = nil
        state = .draining
        answer(response, for: current, context: context)
    }

    private func startBodyTimer(context: ChannelHandlerContext) {
        let timeout = shared.requestTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        bodyTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout * 1e9))) {
            let (handler, context) = loopBound.value
            guard case .receiving(let current) = handler.state else { return }
            handler.refuseEarly(
                current,
                GatewayError(
                    code: .requestTimeout, message: "the request body did not arrive within \(timeout) seconds"),
                context: context)
        }
    }

    // MARK: The pipeline

    private func dispatch(_ current: Current, context: ChannelHandlerContext) {
        // Whether answered here or by a task, `answer` returns the connection to idle (and
        // starts its idle timer).
        state = .handling
        if let refusal = current.refusal {
            answer(refusal, for: current, context: context)
            return
        }
        let gateway = current.gateway
        switch current.destination {
        case .notFound:
            answer(CodecResponse(status: .notFound, headers: HTTPFields(), body: []), for: current, context: context)
        case .methodNotAllowed(let allowed, _):
            answer(Self.methodNotAllowed(current, allowed: allowed), for: current, context: context)
        case .metrics:
            run(current, context: context) {
                await gateway.refreshJournalGauges()
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return CodecResponse(status: .ok, headers: headers, body: gateway.metrics.exposition())
            }
        case .console:
            let query = QueryString.parse(QueryString.split(target: current.request.path ?? "").query)
            let location = query.first { $0.name == "location" }.flatMap { $0.value.isEmpty ? nil : $0.value }
            run(current, context: context) { await Self.consolePage(gateway, location: location) }
        case .token:
            answer(
                TokenEndpoint.answer(
                    body: current.body, gateway: gateway, throttle: shared.throttle,
                    peer: AuthThrottle.peer(context.channel.remoteAddress)),
                for: current, context: context)
        case .health(let which):
            run(current, context: context) {
                if which == "readyz" && gateway.isDraining {
                    return .json(.serviceUnavailable, ["status": "draining"])
                }
                if let problem = await gateway.checkHealth() {
                    return .json(.serviceUnavailable, ["status": "unavailable", "reason": .string(problem)])
                }
                return .json(.ok, ["status": "ok"])
            }
        case .faults:
            if let schedule = gateway.faults {
                answer(
                    FaultsEndpoint.answer(
                        method: current.request.method, path: current.request.path ?? "", body: current.body,
                        schedule: schedule),
                    for: current, context: context)
            } else {
                answer(
                    CodecResponse(status: .notFound, headers: HTTPFields(), body: []), for: current, context: context)
            }
        case .pusher:
            if let hub = gateway.pusher {
                answer(
                    PusherEndpoint.answer(
                        method: current.request.method, path: current.request.path ?? "", body: current.body, hub: hub,
                        client: current.client),
                    for: current, context: context)
            } else {
                answer(
                    CodecResponse(status: .notFound, headers: HTTPFields(), body: []), for: current, context: context)
            }
        case .openAPI:
            answer(Self.openAPIDocument(gateway, path: current.request.path ?? ""), for: current, context: context)
        case .testReset:
            run(current, context: context) {
                do {
                    try await gateway.resetForTest()
                    return .json(.ok, ["reset": true])
                } catch {
                    return .json(.internalServerError, ["error": .string("reset failed: \(error)")])
                }
            }
        case .codec(let endpoint, let parameters):
            dispatchCodec(current, endpoint: endpoint, parameters: parameters, context: context)
        }
    }

    /// 405 with `Allow`, in the envelope of the dialect whose route has the path.
    static func methodNotAllowed(_ current: Current, allowed: [HTTPRequest.Method]) -> CodecResponse {
        let methods = allowed.map(\.rawValue).joined(separator: ", ")
        let error = GatewayError(
            code: .methodNotAllowed,
            message: "\(current.request.method.rawValue) is not allowed here; allowed: \(methods)")
        var refusal = refusal(error, for: current.destination)
        refusal.headers[.allow] = methods
        return refusal
    }

    /// The operator page, with headers that keep it from being framed, sniffed or cached.
    static func consolePage(_ gateway: Gateway, location: String?) async -> CodecResponse {
        let page = OperatorPage.render(await OperatorPage.snapshot(gateway: gateway, location: location))
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'"
        return CodecResponse(status: .ok, headers: headers, body: Array(page.utf8))
    }

    /// `GET /stockgate/openapi/{dialect}.json`.
    static func openAPIDocument(_ gateway: Gateway, path: String) -> CodecResponse {
        let file = path.prefix { $0 != "?" }.split(separator: "/").last ?? ""
        guard file.hasSuffix(".json"), let document = gateway.openAPI?(String(file.dropLast(5))) else {
            let known = DialectRegistry.ids.joined(separator: ", ")
            return .json(
                .notFound, ["error": .string("no such document: /stockgate/openapi/<dialect>.json, one of \(known)")])
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return CodecResponse(status: .ok, headers: headers, body: document)
    }

    /// A dialect's route: the pipeline in a task, a replay or recording answering first, a
    /// scheduled fault played on the way.
    private func dispatchCodec(
        _ current: Current, endpoint: CodecEndpoint, parameters: [String: String], context: ChannelHandlerContext
    ) {
        let gateway = current.gateway
        let request = current.request
        var body = current.body ?? ByteBuffer()
        let target = QueryString.split(target: request.path ?? "/")
        var inbound = InboundRequest(
            method: request.method, path: String(target.path), query: QueryString.parse(target.query),
            headers: request.headerFields, body: body.readBytes(length: body.readableBytes) ?? [],
            pathParameters: parameters, maxJSONDepth: gateway.configuration.maxJSONDepth,
            maxJSONValues: gateway.configuration.maxJSONValues)
        inbound.authority = request.authority
        let decoded = inbound
        var facts = RequestFacts(
            dialect: endpoint.dialect, requestID: current.requestID,
            idempotencyKey: request.headerFields[.idempotencyKey], client: current.client)
        if let header = request.headerFields[.traceParentField], TraceParent(header) != nil {
            facts.traceparent = header
            facts.tracestate = request.headerFields[.traceStateField].map { String($0.prefix(512)) }
        }
        let known = facts
        let fault = gateway.faults?.take(
            Fault.Request(
                dialect: endpoint.dialect, route: endpoint.routeName, method: request.method.rawValue,
                path: inbound.path, backend: gateway.backendName(for: endpoint.dialect)))
        // Replay or record: the request is answered without the pipeline (faults still play).
        let direct = gateway.direct.map { answerer in
            (
                answerer,
                DirectRequest(
                    dialect: endpoint.dialect, route: endpoint.routeName, method: request.method.rawValue,
                    path: decoded.path, query: String(target.query), headers: request.headerFields,
                    body: decoded.body)
            )
        }
        @Sendable func serve(_ fault: Fault?) async -> CodecResponse {
            // A vendor envelope or a partial application needs the ledger's own answer.
            if let (answerer, directRequest) = direct, fault?.kind != .error, fault?.kind != .partial {
                switch await answerer.answer(directRequest) {
                case .answer(let response): return response
                case .refuse(let error): return endpoint.refuse(error)
                case .pass: break
                }
            }
            return await endpoint.handle(decoded, known, fault)
        }
        guard let fault else {
            // The common case keeps its one closure: no answerer to ask.
            if direct == nil {
                run(current, context: context) { await endpoint.handle(decoded, known, nil) }
            } else {
                run(current, context: context) { await serve(nil) }
            }
            return
        }
        shared.logger.info(
            "fault played",
            metadata: [
                "request_id": "\(current.requestID)", "fault": "\(fault.id)", "kind": "\(fault.kind.rawValue)",
                "dialect": "\(endpoint.dialect)", "route": "\(endpoint.routeName)",
            ])
        switch fault.kind {
        case .rateLimit, .unavailable:
            let limited = fault.kind == .rateLimit
            var refusal = endpoint.refuse(
                limited
                    ? GatewayError(code: .tooManyRequests, message: "too many requests (a scheduled fault)")
                    : GatewayError(code: .unavailable, message: "service unavailable (a scheduled fault)"))
            refusal.headers[.retryAfter] = String(fault.retryAfter)
            answer(refusal, for: current, context: context)
        case .hang where !fault.afterApply:
            hang(for: fault.delay.map(FaultSchedule.sample), context: context)
        case .reset where !fault.afterApply:
            reset(context: context)
        default:
            let delivery: Delivery =
                switch fault.kind {
                case .hang: .hang(fault.delay.map(FaultSchedule.sample))
                case .reset: .reset
                case .truncate: .truncate
                default: .answer
                }
            let latency = fault.kind == .latency ? fault.delay.map(FaultSchedule.sample) : nil
            run(current, context: context, delivery: delivery) {
                if let latency { try? await Task.sleep(for: latency) }
                return await serve(fault)
            }
        }
    }

    /// What is done with a pipeline's answer: written, or a fault played with it.
    enum Delivery {
        case answer
        /// Head and half the body, then the connection closes.
        case truncate
        /// The connection is reset instead.
        case reset
        /// Nothing is written; the connection closes after the delay, if there is one.
        case hang(Duration?)
    }

    /// Runs `work` in a task on this connection's loop and writes its answer back there.
    private func run(
        _ current: Current, context: ChannelHandlerContext, delivery: Delivery = .answer,
        _ work: @escaping @Sendable () async -> CodecResponse
    ) {
        state = .handling
        let executor = self.executor ?? EventLoopTaskExecutor(context.eventLoop)
        self.executor = executor
        let loopBound = NIOLoopBound((self, context, current), eventLoop: context.eventLoop)
        let metrics = current.gateway.metrics
        metrics.recordInFlight(1)
        Task(executorPreference: executor) {
            let response = await work()
            metrics.recordInFlight(-1)
            executor.loop.execute {
                let (handler, context, current) = loopBound.value
                switch delivery {
                case .answer: handler.answer(response, for: current, context: context)
                case .truncate: handler.answerTruncated(response, for: current, context: context)
                case .reset: handler.reset(context: context)
                case .hang(let delay): handler.hang(for: delay, context: context)
                }
            }
        }
    }

    /// This connection's loop as a task executor, made at its first request.
    private var executor: EventLoopTaskExecutor?

    // MARK: The answer

    /// The head `response` is written with.
    private func head(of response: CodecResponse, for current: Current) -> HTTPResponse {
        var headers = response.headers
        headers[.requestID] = current.requestID
        headers[.contentLength] = String(response.body.count)
        headers[.date] = shared.dates.now()
        headers[.server] = BuildInfo.server
        // Draining: a kept-alive client is told to reconnect, so its next request reaches an
        // instance that stays (HTTP1ConnectionPolicy closes after this answer).
        if current.gateway.isDraining { headers[.connection] = "close" }
        return HTTPResponse(status: response.status, headerFields: headers)
    }

    // MARK: Faults played on the connection (issue 16)

    /// A `truncate` fault: the head with the whole body's length, half the body, then the
    /// connection closes.
    private func answerTruncated(_ response: CodecResponse, for current: Current, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head(of: response, for: current))), promise: nil)
        let half = response.body.count / 2
        if half > 0 {
            context.write(
                wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: response.body.prefix(half)))),
                promise: nil)
        }
        context.flush()
        context.close(promise: nil)
    }

    /// A `reset` fault: SO_LINGER 0, so closing sends RST instead of FIN.
    private func reset(context: ChannelHandlerContext) {
        guard let provider = context.channel as? SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            loopBound.value.close(promise: nil)
        }
    }

    /// A `hang` fault: no answer; the connection closes after `delay` if there is one, when the
    /// client leaves, or on shutdown.
    private func hang(for delay: Duration?, context: ChannelHandlerContext) {
        hanging = true
        if closeWhenIdle {
            context.close(promise: nil)
            return
        }
        guard let delay else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        _ = context.eventLoop.scheduleTask(in: TimeAmount(delay)) {
            loopBound.value.close(promise: nil)
        }
    }

    /// Writes `response`, then logs the request and records its metrics.
    ///
    /// Writing the answer's end can hand over the next pipelined request (and a half-close the
    /// client sent after it) at once: NIO's pipelining handler delivers them from inside that
    /// write. So this request is finished before the write — a request delivered then starts
    /// from `.idle` and is not taken for this one — and a half-close arriving during the write
    /// only marks the connection to close once idle (closing inside the write would drop the
    /// answer before its flush, and closing for this request would drop the next one's).
    private func answer(_ response: CodecResponse, for current: Current, context: ChannelHandlerContext) {
        let finishing: Bool
        if case .handling = state {
            state = .idle
            finishing = true
        } else {
            finishing = false
        }
        let wasWriting = writing
        writing = true
        context.write(wrapOutboundOut(.head(head(of: response, for: current))), promise: nil)
        if current.request.method != .head && !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: response.body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        writing = wasWriting
        let elapsed = ContinuousClock.now - current.started
        let (dialect, route) = current.destination.labels
        current.gateway.metrics.recordRequest(
            dialect: dialect, route: route, status: response.status.code, duration: elapsed)
        if shared.logger.logLevel <= .info {
            // `.string` of the values as they are: an interpolation would copy each one.
            var metadata: Logger.Metadata = [
                "request_id": .string(current.requestID), "dialect": .string(dialect), "route": .string(route),
                "method": .string(current.request.method.rawValue), "status": .string(String(response.status.code)),
                "duration_ms": .string(Self.millis(elapsed)),
            ]
            if let client = current.client { metadata["client"] = .string(client) }
            let facts = response.logFacts
            if let backend = facts.backend { metadata["backend"] = .string(backend) }
            if let upstream = facts.upstream { metadata["upstream_ms"] = .string(Self.millis(upstream)) }
            if facts.itemsApplied + facts.itemsFailed > 0 {
                metadata["items_applied"] = .string(String(facts.itemsApplied))
                metadata["items_failed"] = .string(String(facts.itemsFailed))
            }
            shared.logger.info("request", metadata: metadata)
        }
        if finishing, case .idle = state {
            finishAnswer(context: context)
        }
    }

    /// After an answer, with the request wholly read: close if asked to, else wait for the next.
    private func finishAnswer(context: ChannelHandlerContext) {
        if closeWhenIdle {
            context.close(promise: nil)
        } else {
            startIdleTimer(context: context)
        }
    }

    private func startIdleTimer(context: ChannelHandlerContext) {
        // Not for a connection already gone (its client left while its request ran): the timer
        // would only keep the handler alive until it fired.
        guard let timeout = shared.idleTimeout, context.channel.isActive else { return }
        let now = NIODeadline.now()
        idleSince = now
        if idleTimer == nil { armIdleTimer(at: now + timeout, context: context) }
    }

    private func armIdleTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.idleTimerFired(context: context)
        }
    }

    private func idleTimerFired(context: ChannelHandlerContext) {
        idleTimer = nil
        // Busy with a request: the answer sets the timer again.
        guard let since = idleSince, let timeout = shared.idleTimeout, context.channel.isActive else { return }
        let deadline = since + timeout
        if deadline <= .now() {
            context.close(promise: nil)
        } else {
            armIdleTimer(at: deadline, context: context)
        }
    }

    // MARK: Helpers

    static let host = HTTPField.Name("Host")!
    static let xKey = HTTPField.Name("X-Key")!

    /// A refusal in the destination's own envelope: the dialect's, Zettle's for its Pusher API,
    /// OAuth's for `/Token`, JSON for the gateway's own endpoints.
    static func refusal(_ error: GatewayError, for destination: Destination) -> CodecResponse {
        switch destination {
        case .codec(let endpoint, _): endpoint.refuse(error)
        case .methodNotAllowed(_, let endpoint?): endpoint.refuse(error)
        case .pusher: PusherEndpoint.refusal(error.code.httpStatus, error.message, field: error.field)
        case .token:
            // RFC 6749 §5.2: a refused grant (or too many of them) is invalid_grant; the rest of
            // what is refused before the grant is read is an invalid request.
            .json(
                error.code.httpStatus,
                [
                    "error": error.code == .tooManyRequests ? "invalid_grant" : "invalid_request",
                    "error_description": .string(error.message),
                ])
        default: .json(error.code.httpStatus, ["error": .string(error.message)])
        }
    }

    /// 401: the destination's envelope, a browser's sign-in prompt for the operator page, and
    /// for the gateway's own APIs a JSON answer saying whose credentials they need.
    static func unauthenticated(_ destination: Destination) -> CodecResponse {
        switch destination {
        case .codec, .pusher:
            return refusal(
                GatewayError(code: .unauthorized, message: "missing or unknown credentials"), for: destination)
        case .console:
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            // A browser asks for a client's name and secret with its own prompt.
            headers[.wwwAuthenticate] = #"Basic realm="StockGate operator page", charset="UTF-8""#
            return CodecResponse(
                status: .unauthorized, headers: headers,
                body: Array("401 Unauthorized: sign in with a configured client's name and secret\n".utf8))
        case .metrics: return needsCredentials("/metrics needs")
        case .faults: return needsCredentials("the fault API needs")
        case .openAPI: return needsCredentials("the OpenAPI documents need")
        case .testReset: return needsCredentials("the test reset needs")
        case .health, .token, .notFound, .methodNotAllowed: return needsCredentials("this needs")
        }
    }

    /// 403 for a known client without what the destination requires, in its envelope.
    static func forbidden(_ destination: Destination) -> CodecResponse {
        let message =
            switch destination.requirement {
            case .dialect(let dialect): "this client may not use the \(dialect) API"
            case .role(let role): "this client does not hold the '\(role.rawValue)' role this needs"
            case .anyone, .anyClient: "this client may not do this"
            }
        return refusal(GatewayError(code: .forbidden, message: message), for: destination)
    }

    /// 401 for the gateway's own pages and APIs when clients are configured: `what` "… the
    /// credentials of a configured client".
    static func needsCredentials(_ what: String) -> CodecResponse {
        var refusal = CodecResponse.json(
            .unauthorized, ["error": .string("\(what) the credentials of a configured client")])
        refusal.headers[.wwwAuthenticate] = "Bearer"
        return refusal
    }

    /// HTTP/1.1: a request with neither Content-Length nor Transfer-Encoding has no body.
    static func hasBody(_ headers: HTTPFields) -> Bool {
        if let length = headers[.contentLength] { return length != "0" }
        return headers[.transferEncoding] != nil
    }

    static func declaredLength(_ headers: HTTPFields) -> Int? {
        headers[.contentLength].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    static func millis(_ duration: Duration) -> String {
        let micros = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        let whole = String(micros / 1000)
        let fraction = micros % 1000
        return whole + (fraction < 10 ? ".00" : fraction < 100 ? ".0" : ".") + String(fraction)
    }
}

extension GatewayError {
    static func tooLarge(_ limit: Int) -> GatewayError {
        GatewayError(code: .tooLarge, message: "request body is larger than \(limit) bytes")
    }
}
