import Dialects
import HTTPServer
import HTTPTypes
import Simulator
import StockCore

/// Every route of every served dialect's codec (the canonical API's among them): each needs
/// what its codec's `Route` declares — its dialect's stock right, or the operator's role (the
/// journal's settle) — and is served where the route's exposure says. A request
/// runs the pipeline (`Gateway.handle`: decode → plan → journal → backend → encode) in a task;
/// a replay or recording may answer first (`DirectAnswerer`), and a scheduled fault is played
/// on the way (`FaultPlay`).
struct DialectRoutes: RouteCollection {
    func routes(for gateway: Gateway) -> [ServedRoute] {
        gateway.codecs.flatMap { Self.routes($0, gateway: gateway) }
    }

    static func routes<Codec: InboundCodec>(_ codec: Codec, gateway: Gateway) -> [ServedRoute] {
        codec.routes.map { route in
            let operates = route.audience == .operator
            let placement: ServedRoute.Placement =
                switch route.exposure {
                case .traffic: .traffic
                case .operations: .operations
                case .both: .both
                }
            let handle: @Sendable (InboundRequest, RequestFacts, Fault?) async -> CodecResponse = {
                request, facts, fault in
                await gateway.handle(codec, route: route, request: request, facts: facts, fault: fault)
            }
            let refuse: @Sendable (GatewayError) -> CodecResponse = { codec.encode($0, route: route, context: nil) }
            return ServedRoute(
                route.method.map { [$0] }, route.path,
                requirement: operates ? .role(.operator) : .dialect(codec.dialect), placement: placement,
                dialect: codec.dialect, name: route.name, readsBody: true, isDialectAPI: true,
                envelope: .dialect(refuse)
            ) { request in
                reply(
                    to: request, dialect: codec.dialect, route: route.name, gateway: gateway, refuse: refuse,
                    handle: handle)
            }
        }
    }

    /// The pipeline in a task, a replay or recording answering first, a scheduled fault played.
    static func reply(
        to request: RouteRequest, dialect: DialectID, route: String, gateway: Gateway,
        refuse: @escaping @Sendable (GatewayError) -> CodecResponse,
        handle: @escaping @Sendable (InboundRequest, RequestFacts, Fault?) async -> CodecResponse
    ) -> Reply {
        let head = request.head
        let target = QueryString.split(target: head.path ?? "/")
        var inbound = InboundRequest(
            method: head.method == .head ? .get : head.method, path: String(target.path),
            query: QueryString.parse(target.query), headers: head.headerFields,
            body: request.body ?? [], pathParameters: request.parameters,
            maxJSONDepth: gateway.configuration.maxJSONDepth, maxJSONValues: gateway.configuration.maxJSONValues)
        inbound.authority = head.authority
        let decoded = inbound
        var facts = RequestFacts(
            dialect: dialect, requestID: request.requestID, idempotencyKey: head.headerFields[.idempotencyKey],
            client: request.client)
        facts.traceparent = request.trace?.parent
        facts.tracestate = request.trace?.state
        let known = facts
        let fault = gateway.faults?.take(
            Fault.Request(
                dialect: dialect, route: route, method: head.method.rawValue, path: decoded.path,
                backend: gateway.backendName(for: dialect)))
        guard gateway.direct != nil || fault != nil else {
            return .later { Answer(await handle(decoded, known, nil)) }  // the common case: one closure
        }
        // Replay or record: the request is answered without the pipeline (faults still play).
        let direct = gateway.direct.map { answerer in
            (
                answerer,
                DirectRequest(
                    dialect: dialect, route: route, method: head.method.rawValue, path: decoded.path,
                    query: String(target.query), headers: head.headerFields, body: decoded.body)
            )
        }
        @Sendable func serve(_ fault: Fault?) async -> CodecResponse {
            // A vendor envelope or a partial application needs the ledger's own answer.
            if let (answerer, directRequest) = direct, fault?.kind != .error, fault?.kind != .partial {
                switch await answerer.answer(directRequest) {
                case .answer(let response): return response
                case .refuse(let error): return refuse(error)
                case .pass: break
                }
            }
            return await handle(decoded, known, fault)
        }
        guard let fault else { return .later { Answer(await serve(nil)) } }
        gateway.logger.info(
            "fault played",
            metadata: [
                "request_id": "\(request.requestID)", "fault": "\(fault.id)", "kind": "\(fault.kind.rawValue)",
                "dialect": "\(dialect)", "route": "\(route)",
            ])
        return FaultPlay.reply(fault, refuse: refuse, serve: serve)
    }
}
