import Dialects
import HTTPServer
import HTTPTypes
import Operations

/// What an operator and their tools read: `/metrics` (the `metrics` role), the operator page
/// (`operator`; a browser signs in with Basic), and the OpenAPI documents (any client). The
/// journal's reads and settle are the canonical API's (`DialectRoutes`).
struct OperationsRoutes: RouteCollection {
    func routes(for gateway: Gateway) -> [ServedRoute] {
        var routes = [
            ServedRoute(
                [.get], "/metrics", requirement: .role(.metrics), placement: .operations, name: "metrics",
                envelope: .gateway("/metrics needs")
            ) { _ in
                .later {
                    await gateway.refreshJournalGauges()
                    var headers = HTTPFields()
                    headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                    return Answer(CodecResponse(status: .ok, headers: headers, body: gateway.metrics.exposition()))
                }
            },
            ServedRoute(
                [.get, .head], "/stockgate/console", requirement: .role(.operator), placement: .operations,
                name: "console", envelope: Self.pageEnvelope
            ) { request in
                let location = request.query.first { $0.name == "location" }.flatMap {
                    $0.value.isEmpty ? nil : $0.value
                }
                let filter = OperatorPage.Filter(query: request.query.map { ($0.name, $0.value) })
                let token = ConsoleSettle.token(client: request.client)
                return .later {
                    Answer(await Self.consolePage(gateway, location: location, filter: filter, settleToken: token))
                }
            },
            ServedRoute(
                [.get, .head], "/stockgate/v1/config", requirement: .role(.operator), placement: .operations,
                name: "config", envelope: .gateway("the running configuration needs")
            ) { _ in
                guard let running = gateway.configuration.running else {
                    return .answer(
                        .json(.notFound, ["error": "this gateway was not started by stockgate serve: no configuration"])
                    )
                }
                return .answer(.json(.ok, running))
            },
            ServedRoute(
                [.post], "/stockgate/console/settle", requirement: .role(.operator), placement: .operations,
                name: "console.settle", readsBody: true, envelope: Self.pageEnvelope
            ) { request in
                .later {
                    Answer(
                        await ConsoleSettle.settle(
                            gateway, head: request.head, body: request.body ?? [], client: request.client))
                }
            },
        ]
        if let openAPI = gateway.openAPI {
            routes.append(
                ServedRoute(
                    [.get, .head], "/stockgate/openapi/{document}", requirement: .anyClient, name: "openapi",
                    envelope: .gateway("the OpenAPI documents need")
                ) { request in .answer(Self.openAPIDocument(openAPI, name: request.parameters["document"] ?? "")) })
        }
        return routes
    }

    /// The operator page's: a browser's sign-in prompt without credentials, JSON otherwise.
    static let pageEnvelope = Envelope(refuse: { Envelope.gateway("").refuse($0) }) {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        // A browser asks for a client's name and secret with its own prompt.
        headers[.wwwAuthenticate] = #"Basic realm="StockGate operator page", charset="UTF-8""#
        return CodecResponse(
            status: .unauthorized, headers: headers,
            body: Array("401 Unauthorized: sign in with a configured client's name and secret\n".utf8))
    }

    /// The operator page, with headers that keep it from being framed, sniffed or cached.
    static func consolePage(
        _ gateway: Gateway, location: String?, filter: OperatorPage.Filter = OperatorPage.Filter(),
        settleToken: String? = nil
    ) async -> CodecResponse {
        var snapshot = await OperatorPage.snapshot(gateway: gateway, location: location, filter: filter)
        snapshot.settleToken = settleToken
        let page = OperatorPage.render(snapshot)
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'"
        return CodecResponse(status: .ok, headers: headers, body: Array(page.utf8))
    }

    /// `GET /stockgate/openapi/{dialect}.json`.
    static func openAPIDocument(_ openAPI: @Sendable (String) -> [UInt8]?, name: String) -> CodecResponse {
        guard name.hasSuffix(".json"), let document = openAPI(String(name.dropLast(5))) else {
            let known = DialectRegistry.names.joined(separator: ", ")
            return .json(
                .notFound, ["error": .string("no such document: /stockgate/openapi/<dialect>.json, one of \(known)")])
        }
        return .json(.ok, bytes: document)
    }
}
