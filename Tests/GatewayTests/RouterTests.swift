import AsyncHTTPClient
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import Ledger
import StockCore
import Testing

@testable import Gateway
@testable import HTTPServer
@testable import Operations

/// The server's routes and its own endpoints, over a socket.
@Suite("Routes")
struct RouterTests {
    func withApp(_ body: @Sendable (LiveGateway) async throws -> Void) async throws {
        try await LiveGateway.run(configure: { $0.maxBodyBytes = 1024 }) { live in try await body(live) }
    }

    @Test("health, metrics and an unknown path")
    func healthAndMetrics() async throws {
        try await withApp { live in
            let health = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
            #expect(health.status == 200)
            #expect(health.headers["X-Request-Id"].first?.count == 32)
            #expect(health.headers["Server"].first == "StockGate/\(BuildInfo.version)")
            #expect(health.headers["Date"].first?.hasSuffix(" GMT") == true)
            #expect(try await HTTPClient.shared.send(.GET, live.baseURL + "/nowhere").status == 404)
            let metrics = try await HTTPClient.shared.send(.GET, live.baseURL + "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers["Content-Type"].first?.hasPrefix("text/plain") == true)
            #expect(
                metrics.text.contains(#"stockgate_http_requests_total{dialect="-",route="healthz",status="200"} 1"#))
            #expect(metrics.text.contains(#"route="unmatched",status="404""#))
            let head = try await HTTPClient.shared.send(.HEAD, live.baseURL + "/healthz")
            #expect(head.status == 200 && head.body.isEmpty)
        }
    }

    @Test("a caller's request id is kept; an unusable one is replaced")
    func requestID() async throws {
        try await withApp { live in
            let kept = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/healthz", headers: [("X-Request-Id", "abc-123")])
            #expect(kept.headers["X-Request-Id"].first == "abc-123")
            let long = String(repeating: "x", count: 200)
            let replaced = try await HTTPClient.shared.send(
                .GET, live.baseURL + "/healthz", headers: [("X-Request-Id", long)])
            #expect(replaced.headers["X-Request-Id"].first != long)
            // Fresh ids: 32 hex digits, never the same twice.
            var fresh: [String] = []
            for _ in 0..<50 {
                fresh.append(
                    try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz").headers["X-Request-Id"].first
                        ?? "")
            }
            #expect(Set(fresh).count == 50)
            #expect(
                fresh.allSatisfy {
                    $0.utf8.count == 32 && $0.utf8.allSatisfy { Character(UnicodeScalar($0)).isHexDigit }
                })
        }
    }

    @Test("a body over the limit is a 413 in the dialect's envelope and changes nothing")
    func bodyLimit() async throws {
        try await withApp { live in
            let padding = String(repeating: " ", count: 2048)
            let body =
                #"{"movements": [{"product": "socks", "quantity": 1, "from": "supplier", "to": "warehouse"}]}"#
                + padding
            let answer = try await HTTPClient.shared.send(.POST, live.baseURL + "/stockgate/v1/movements", body: body)
            #expect(answer.status == 413)
            #expect(answer.json?["error"]?["code"] == "tooLarge")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("a body nested deeper than max_json_depth is refused in the dialect's envelope")
    func depthLimit() async throws {
        try await withApp { live in
            // 40 levels: under the parser's own ceiling of 64, over the configured 32.
            let nested = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
            let answer = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v6/commerce.movements.create", body: #"{"movement": "# + nested + "}")
            #expect(answer.status == 200)
            #expect(answer.json?["status"] == "error")
            #expect(answer.json?["error"]?["type"] == "Malformed")
            #expect(answer.json?["error"]?["description"]?.stringValue?.contains("deeper than 32") == true)
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }

    @Test("the wrong method on a canonical route is not served: 405 with Allow, in the API's envelope")
    func wrongMethod() async throws {
        try await withApp { live in
            let answer = try await HTTPClient.shared.send(.DELETE, live.baseURL + "/stockgate/v1/balances")
            #expect(answer.status == 405)
            #expect(answer.headers.first(name: "Allow") == "GET, HEAD", "\(answer.headers)")
            #expect(answer.json?["error"]?["code"] != nil, "\(answer.text)")
        }
    }

    /// The server's route table over the embedded ledger, without a socket.
    static func makeRouteTable() throws -> RouteTable {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
        defer { try? ledger.close() }
        let gateway = Gateway(
            configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
            backend: ledger, logger: quietLogger)
        return RouteTable(gateway: gateway)
    }

    @Test("the route table without a socket: literals over parameters, trailing slashes, methods, parameters")
    func routeTable() throws {
        let table = try Self.makeRouteTable()
        func labels(_ method: HTTPRequest.Method, _ path: Substring) -> String {
            let (route, parameters) = table.route(method: method, path: path)
            let (dialect, name) = (route.dialect.rawValue, route.name)
            if !parameters.isEmpty {
                return dialect + " " + name + " "
                    + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    .joined(separator: ",")
            }
            return dialect + " " + name
        }
        #expect(labels(.post, "/stocklocations/create-transfers") == "storefeeder transfers.create")
        #expect(labels(.get, "/stocklocations/5431") == "storefeeder location.get stockLocationID=5431")
        #expect(labels(.get, "/organizations/self/locations/") == "zettle locations.list org=self")
        #expect(labels(.get, "/healthz") == "- healthz")
        #expect(labels(.head, "/healthz") == "- healthz")
        #expect(labels(.post, "/healthz") == "- method_not_allowed")
        #expect(labels(.delete, "/stockgate/v1/balances") == "stockgate method_not_allowed")
        #expect(labels(.post, "/stockgate/v1/test/reset") == "- unmatched")  // not enabled
        #expect(labels(.get, "/api/v6/commerce.movements.find") == "open2b-v6 rpc method=commerce.movements.find")
        #expect(labels(.get, "/") == "- unmatched")
        #expect(labels(.get, "//organizations//self/locations") == "zettle locations.list org=self")
        #expect(labels(.head, "/stockgate/v1/balances") == "stockgate balances.read", "HEAD wherever GET")
        #expect(labels(.get, "/stocklocations/A%2F1") == "storefeeder location.get stockLocationID=A/1")
        #expect(labels(.get, "/stocklocations/a+b%") == "storefeeder location.get stockLocationID=a+b%")
        #expect(RouteMatcher.segments("//a//bé/c/") == ["a", "bé", "c"])
        #expect(RouteMatcher.segments("") == [] && RouteMatcher.segments("/") == [])
        #expect(RouteMatcher.withoutQuery("/stockgate/v1/balances?location=a?b") == "/stockgate/v1/balances")
        #expect(RouteMatcher.withoutQuery("/é/x") == "/é/x")
        // A part of a longer text, and a long native string (not stored inline).
        #expect(RouteMatcher.segments("xé/ü//ab/".dropFirst(2)) == ["ü", "ab"])
        let long = "/" + String(repeating: "segment/", count: 6) + "é?q=/x"
        #expect(RouteMatcher.segments(RouteMatcher.withoutQuery(long)) == Array(repeating: "segment", count: 6) + ["é"])
        #expect("aé?b?".firstIndex(ofASCII: UInt8(ascii: "?")).map { "aé?b?"[..<$0] } == "aé")
    }

    @Test(
        "a path that is exactly a template without parameters finds what the rule over segments finds, for every route and method"
    )
    func exactPathLookup() throws {
        let routes = try Self.makeRouteTable().all
        let matcher = RouteMatcher(routes.map { .init($0.template, methods: $0.methods) })
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        var exact = 0
        for route in routes {
            let path =
                "/"
                + route.template.segments.map { if case .literal(let text) = $0 { text } else { "p" } }
                .joined(separator: "/")
            for candidate in [path, path + "/", "/" + path, path.uppercased()] {
                for method in methods {
                    let answer = matcher.match(method: method, path: candidate[...])
                    #expect(
                        answer == matcher.matchBySegments(method: method, path: candidate[...]),
                        "\(method) \(candidate)")
                    // A path that is exactly this template, asked with a method it serves.
                    let serves = route.methods.map { $0.contains(method) } ?? true
                    if route.template.literals == route.template.segments.count, candidate == path, serves,
                        case .route(let index, let parameters) = answer
                    {
                        #expect(parameters.isEmpty)
                        #expect(routes[index].template == route.template)
                        exact += 1
                    }
                }
            }
        }
        // The read of the hop and the health probe take the exact lookup.
        #expect(exact > 10)
        #expect(matcher.match(method: .get, path: "/stockgate/v1/balances") != .none)
        #expect(matcher.match(method: .get, path: "/healthz") != .none)
    }

    @Test("the Date header: IMF-fixdate, RFC 9110's own example")
    func dateHeader() {
        #expect(DateHeader.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(DateHeader.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(DateHeader.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(DateHeader.format(4_102_444_799) == "Thu, 31 Dec 2099 23:59:59 GMT")
    }
}
