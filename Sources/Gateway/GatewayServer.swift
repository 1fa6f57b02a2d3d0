import Dialects
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import StockCore

/// The HTTP face of a gateway: the router with every dialect's routes, `/healthz` and
/// `/metrics`, as a Hummingbird application.
public enum GatewayServer {
    /// Builds the router: the request-log middleware, health and metrics, and each codec's routes.
    public static func makeRouter(gateway: Gateway, logger: Logger) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger, metrics: gateway.metrics))
        // `/healthz` and `/readyz` (what a load balancer asks): 503 with the reason while the
        // store cannot take writes (a ledger file gone, a database unreachable) or every slot
        // is taken; the store is asked each time.
        for path in ["healthz", "readyz"] {
            let health: @Sendable (Request, GatewayRequestContext) async throws -> Response = { _, context in
                context.routeLabel.set(dialect: "-", route: path)
                if let problem = await gateway.checkHealth() {
                    return jsonResponse(.serviceUnavailable, ["status": "unavailable", "reason": .string(problem)])
                }
                return jsonResponse(.ok, ["status": "ok"])
            }
            router.get(RouterPath(path), use: health)
            router.head(RouterPath(path), use: health)  // the server sends the head alone
        }
        router.get("/metrics") { _, context -> Response in
            context.routeLabel.set(dialect: "-", route: "metrics")
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: gateway.metrics.exposition())))
        }
        // StoreFeeder's OAuth2 password grant: a StoreFeeder client pointed at StockGate gets its
        // bearer token here, for a configured client (user name = client name, password = its secret).
        router.post("/Token") { request, context -> Response in
            context.routeLabel.set(dialect: "storefeeder", route: "token")
            let body = await readBody(request, limit: 16 * 1024, timeout: gateway.configuration.requestTimeout)
            let form = QueryString.parse(String(decoding: (try? body.get()) ?? [], as: UTF8.self))
            func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
            guard field("grant_type") == "password" else {
                return jsonResponse(.badRequest, ["error": "unsupported_grant_type"])
            }
            let username = field("username") ?? ""
            let name: String
            if gateway.clients.isOpen {
                name = username  // no clients configured: every caller is let in anyway
            } else if let client = gateway.clients.client(name: username, secret: field("password") ?? ""),
                client.dialects.contains(StoreFeederCodec.dialect)
            {
                name = client.name
            } else {
                return jsonResponse(
                    .badRequest,
                    ["error": "invalid_grant", "error_description": "The user name or password is incorrect."])
            }
            var headers = HTTPFields()
            headers[.cacheControl] = "no-store"
            headers[.contentType] = "application/json; charset=utf-8"
            let token = gateway.clients.issueToken(for: name)
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        bytes: JSONWriter.bytes([
                            "access_token": .string(token), "token_type": "bearer",
                            "expires_in": .integer(IssuedTokens.lifetime), "userName": .string(username),
                        ]))))
        }
        if let reset = gateway.testReset {
            router.post("/stockgate/v1/test/reset") { _, context -> Response in
                context.routeLabel.set(dialect: "-", route: "test.reset")
                try await reset()
                return jsonResponse(.ok, ["reset": true])
            }
        }
        for codec in gateway.codecs {
            register(codec, on: router, gateway: gateway)
        }
        return router
    }

    /// Builds the application. `onServerRunning` receives the bound port (useful with port 0).
    public static func makeApplication(
        gateway: Gateway, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = makeRouter(gateway: gateway, logger: logger)
        return Application(
            router: router,
            server: .gatewayHTTP1(
                idleTimeout: .milliseconds(Int64(gateway.configuration.idleTimeout * 1000)),
                maxBodyBytes: gateway.configuration.maxBodyBytes),
            configuration: ApplicationConfiguration(
                address: .hostname(gateway.configuration.host, port: gateway.configuration.port),
                serverName: "StockGate"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static let anyMethod: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options]

    static func register<Codec: InboundCodec>(
        _ codec: Codec, on router: Router<GatewayRequestContext>, gateway: Gateway
    ) {
        for route in codec.routes {
            let parameterNames = route.path.split(separator: "/").compactMap { segment -> String? in
                guard segment.hasPrefix("{"), segment.hasSuffix("}") else { return nil }
                return String(segment.dropFirst().dropLast())
            }
            let routerPath = route.path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
                segment.hasPrefix("{") && segment.hasSuffix("}")
                    ? ":" + segment.dropFirst().dropLast() : String(segment)
            }.joined(separator: "/")
            let maxBody = gateway.configuration.maxBodyBytes
            let handler: @Sendable (Request, GatewayRequestContext) async throws -> Response = { request, context in
                context.routeLabel.set(dialect: codec.dialect, route: route.name)
                let client: String?
                switch gateway.clients.decide(dialect: codec.dialect, headers: request.headers) {
                case .allowed(let name): client = name
                case .unauthenticated:
                    let error = GatewayError(code: .unauthorized, message: "missing or unknown credentials")
                    return response(codec.encode(error, route: route, context: nil))
                case .forbidden:
                    let error = GatewayError(
                        code: .forbidden, message: "this client may not use the \(codec.dialect) API")
                    return response(codec.encode(error, route: route, context: nil))
                }
                if let refusal = unsupportedCoding(request.headers) {
                    return response(codec.encode(refusal, route: route, context: nil))
                }
                // The body first, bounded by size and time; a slot is taken only once it is whole
                // and decoded (`Gateway.handle`), so a body that trickles in holds none.
                let body: [UInt8]
                switch await readBody(request, limit: maxBody, timeout: gateway.configuration.requestTimeout) {
                case .success(let bytes):
                    body = bytes
                case .failure(let error):
                    return response(codec.encode(error, route: route, context: nil))
                }

                var parameters: [String: String] = [:]
                for name in parameterNames {
                    parameters[name] = context.parameters.get(name)
                }
                var inbound = InboundRequest(
                    method: request.method, path: request.uri.path, query: QueryString.parse(request.uri.query ?? ""),
                    headers: request.headers, body: body, pathParameters: parameters,
                    maxJSONDepth: gateway.configuration.maxJSONDepth, maxJSONValues: gateway.configuration.maxJSONValues
                )
                inbound.authority = request.head.authority
                let facts = RequestFacts(
                    dialect: codec.dialect, requestID: context.requestID,
                    idempotencyKey: request.headers[.idempotencyKey], client: client)
                return response(await gateway.handle(codec, route: route, request: inbound, facts: facts))
            }
            for method in route.method.map({ [$0] }) ?? anyMethod {
                // Hummingbird's trie matches the same path with a trailing slash too, which real
                // clients send (`organizations/self/locations/`, SwagPayPal PosRequestUri.php).
                router.on(RouterPath(routerPath), method: method, use: handler)
            }
        }
    }

    /// A content or transfer coding the gateway does not decode: refused rather than reading a
    /// compressed body as if it were plain JSON (or a plain one labelled gzip as if it were).
    static func unsupportedCoding(_ headers: HTTPFields) -> GatewayError? {
        if let encoding = headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
            !encoding.isEmpty, encoding != "identity"
        {
            return GatewayError.unsupported(
                "Content-Encoding '\(encoding)' is not supported: send the body uncompressed", field: "Content-Encoding"
            )
        }
        for field in headers where field.name == .transferEncoding {
            let codings = field.value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if codings.contains(where: { $0 != "chunked" && $0 != "identity" }) {
                return GatewayError.unsupported(
                    "Transfer-Encoding '\(field.value)' is not supported: only chunked", field: "Transfer-Encoding")
            }
        }
        return nil
    }

    /// Reads the whole body within the size limit and the time limit.
    static func readBody(_ request: Request, limit: Int, timeout: Double) async -> Result<[UInt8], GatewayError> {
        // HTTP/1.1: a request with neither Content-Length nor Transfer-Encoding has no body,
        // so there is nothing to wait for (most reads): no timer, no child tasks.
        if request.headers[.contentLength] == nil && request.headers[.transferEncoding] == nil
            || request.headers[.contentLength] == "0"
        {
            return .success([])
        }
        // A declared length over the limit is refused before a byte of the body is read (the
        // connection then closes: see `HTTP1ConnectionPolicy`).
        if let declared = request.headers[.contentLength].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
            declared > limit
        {
            return .failure(GatewayError(code: .tooLarge, message: "request body is larger than \(limit) bytes"))
        }
        return await withTaskGroup(of: Result<[UInt8], GatewayError>?.self) { group in
            group.addTask {
                var request = request
                do {
                    var buffer = try await request.collectBody(upTo: limit)
                    return .success(buffer.readBytes(length: buffer.readableBytes) ?? [])
                } catch is NIOTooManyBytesError {
                    return .failure(
                        GatewayError(code: .tooLarge, message: "request body is larger than \(limit) bytes"))
                } catch {
                    // Bad chunk framing, a connection closed mid-body: not a size problem.
                    return .failure(GatewayError.malformed("the request body could not be read (\(type(of: error)))"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                return Task.isCancelled
                    ? nil
                    : .failure(
                        GatewayError(
                            code: .requestTimeout, message: "the request body did not arrive within \(timeout) seconds")
                    )
            }
            var outcome: Result<[UInt8], GatewayError> = .failure(GatewayError.internalError("no body"))
            for await result in group {
                if let result {
                    outcome = result
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
    }

    static func response(_ response: CodecResponse) -> Response {
        Response(
            status: response.status, headers: response.headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: response.body)))
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        response(.json(status, value))
    }
}
