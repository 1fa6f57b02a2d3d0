import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import GatewayTestSupport
import Ledger
import NIOHTTP1
import StockCore
import TestSupport
import Testing

@testable import Gateway
@testable import Simulator

/// Issue 30, roles: every credential could do everything (a Prometheus scraper's secret could
/// write stock and settle the journal). Every route now needs a dialect's stock right or a
/// role. This walks the route table itself — every route of every feature, all enabled — with
/// a caller of each kind, so a new route cannot escape it: the policy below must name it.
@Suite("Roles: every route × every kind of caller")
struct RoleMatrixTests {
    static let stockClients = DialectRegistry.ids.map { dialect in
        ClientAuthenticator.Client(
            name: "stock-\(dialect)", secret: Secret("secret-stock-\(dialect)"), dialects: [dialect])
    }
    static let clients = ClientAuthenticator(
        clients: stockClients + [
            .init(name: "scraper", secret: Secret("secret-scraper"), dialects: [], roles: [.metrics]),
            .init(name: "operator", secret: Secret("secret-operator"), dialects: [], roles: [.operator]),
            .init(name: "tester", secret: Secret("secret-tester"), dialects: [], roles: [.test]),
        ])

    /// Who may call each destination: the documented policy, written out again here (not read
    /// from `ServedRoute.requirement`), by each route's labels, so a change to either shows.
    static func allowed(_ route: ServedRoute, caller: String) -> Bool {
        switch (route.dialect, route.name) {
        case ("-", "healthz"), ("-", "readyz"), ("storefeeder", "token"): return true
        case ("-", "metrics"): return caller == "scraper"
        case ("-", "console"), ("-", "console.settle"), ("-", "config"): return caller == "operator"
        case ("-", "test.reset"), ("-", "test.faults"): return caller == "tester"
        case ("-", "openapi"): return caller != "anonymous"
        case ("zettle", "subscriptions"): return caller == "stock-zettle"
        case ("stockgate", "journal.settle"): return caller == "operator"
        case ("-", let name):
            Issue.record("a route of the gateway's own this policy does not name: \(name)")
            return false
        case (let dialect, _): return caller == "stock-\(dialect)"
        }
    }

    /// A concrete path for a template: every parameter "1".
    static func samplePath(_ template: RouteTemplate) -> String {
        "/"
            + template.segments.map { segment -> String in
                switch segment {
                case .literal(let text): text
                case .parameter: "1"
                }
            }.joined(separator: "/")
    }

    static func withEverythingEnabled<T: Sendable>(
        _ body: @Sendable (Int, RouteTable) async throws -> T
    ) async throws -> T {
        try await withCurlClient(.init()) { client in
            try await LiveGateway.run(
                clients: clients, configure: { $0.authFailuresPerMinute = 1_000_000 },  // it fails on purpose, often
                faults: FaultSchedule(), pusher: PusherHub(client: client, logger: quietLogger), testReset: true,
                openAPI: { _ in Array("{}".utf8) }
            ) { live in try await body(live.port, RouteTable(gateway: live.gateway)) }
        }
    }

    @Test("each route answers each caller as the policy says: allowed, or 401 / 403 in its envelope")
    func matrix() async throws {
        try await Self.withEverythingEnabled { port, table in
            let callers: [(String, [(String, String)])] =
                [("anonymous", [])]
                + Self.clients.clients.map { ($0.name, [("Authorization", "Bearer \($0.secret.value)")]) }
            var checked = 0
            for route in table.all {
                let path = Self.samplePath(route.template)
                for method in route.methods ?? [.get, .post] where method != .head {
                    for (caller, headers) in callers {
                        let answer = try await HTTPClient.shared.send(
                            HTTPMethod(rawValue: method.rawValue), "http://127.0.0.1:\(port)" + path,
                            body: method == .get || method == .delete ? nil : "{}",
                            headers: headers + [("Content-Type", "application/json")])
                        let (dialect, name) = (route.dialect, route.name)
                        let what =
                            "\(method) \(path) (\(dialect) \(name)) as \(caller): \(answer.status) \(answer.text.prefix(160))"
                        if Self.allowed(route, caller: caller) {
                            #expect(answer.status != 401 && answer.status != 403, "\(what)")
                        } else if caller == "anonymous" {
                            // Open2b refuses unknown callers 403, as the vendor does; the rest 401.
                            #expect(
                                answer.status == 401 || (dialect.rawValue.hasPrefix("open2b") && answer.status == 403),
                                "\(what)"
                            )
                        } else {
                            #expect(answer.status == 403, "\(what)")
                        }
                        checked += 1
                    }
                }
            }
            #expect(checked > 500, "\(checked) route × caller pairs")
        }
    }

    @Test("a scraper with only the metrics role reads /metrics and cannot write stock, settle or open the page")
    func scraper() async throws {
        try await Self.withEverythingEnabled { port, _ in
            let base = "http://127.0.0.1:\(port)"
            let headers = [("Authorization", "Bearer secret-scraper")]
            #expect(try await HTTPClient.shared.send(.GET, base + "/metrics", headers: headers).status == 200)
            let write = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#,
                headers: headers)
            #expect(write.status == 403, "\(write.text)")
            let settle = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/journal/1/settle", body: #"{"state": "applied"}"#, headers: headers)
            #expect(settle.status == 403, "\(settle.text)")
            #expect(try await HTTPClient.shared.send(.GET, base + "/stockgate/console", headers: headers).status == 403)
            #expect(try await HTTPClient.shared.send(.GET, base + "/healthz").status == 200, "health stays open")
        }
    }

    @Test("a browser's Basic credentials open the operator's pages, never a write")
    func basicOnlyReads() async throws {
        try await Self.withEverythingEnabled { port, _ in
            let base = "http://127.0.0.1:\(port)"
            let basic = ("Authorization", "Basic " + Data("operator:secret-operator".utf8).base64EncodedString())
            #expect(try await HTTPClient.shared.send(.GET, base + "/stockgate/console", headers: [basic]).status == 200)
            let settle = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/journal/1/settle", body: #"{"state": "applied"}"#, headers: [basic])
            #expect(settle.status == 401, "a cross-site form could send what the browser keeps: \(settle.text)")
        }
    }

    /// Issue 30: a method a route does not serve got 404 with an empty body; Open2b's 405 had
    /// no `Allow`.
    @Test("every path answers a method it does not serve with 405 and Allow, in the dialect's envelope")
    func methodNotAllowed() async throws {
        try await Self.withEverythingEnabled { port, table in
            let byPath = Dictionary(grouping: table.all) { Self.samplePath($0.template) }
            var checked = 0
            for (path, routes) in byPath.sorted(by: { $0.key < $1.key }) {
                // Routes that take any method (Open2b's RPC) are judged by their codec below.
                let methods = routes.compactMap(\.methods)
                guard methods.count == routes.count else { continue }
                let served = Set(methods.flatMap { $0 })
                guard !served.contains(.patch) else { continue }
                // A literal path may also fit another route's template (a parameter): skip those.
                let answer = try await HTTPClient.shared.send(
                    .PATCH, "http://127.0.0.1:\(port)" + path, headers: [("Authorization", "Bearer secret-tester")])
                guard answer.status == 405 else {
                    Issue.record("PATCH \(path): \(answer.status) \(answer.text.prefix(120))")
                    continue
                }
                let allow = answer.headers.first(name: "Allow") ?? ""
                let listed = Set(allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                #expect(served.map(\.rawValue).allSatisfy(listed.contains), "PATCH \(path): Allow \(allow)")
                if routes[0].isDialectAPI, routes[0].dialect == "open2b-v6" {
                    #expect(answer.text.contains("405"))
                } else if routes[0].isDialectAPI {
                    #expect(!answer.text.isEmpty, "PATCH \(path): an envelope, not an empty body")
                }
                checked += 1
            }
            #expect(checked > 20, "\(checked) paths")
            // Open2b's RPC route takes any method: its codec answers 405 itself, with Allow too.
            let open2b = try await HTTPClient.shared.send(
                .GET, "http://127.0.0.1:\(port)/api/v6/commerce.movements.find",
                headers: [("Authorization", "Bearer secret-stock-open2b-v6")])
            #expect(
                open2b.status == 405 && open2b.headers.first(name: "Allow") == "POST", "\(open2b.status) \(open2b.text)"
            )
        }
    }
}

/// Issue 30: `translate` and the server matched routes by different rules. Both now read one
/// rule (`RouteMatcher`); this walks every route of every served codec, with every feature
/// enabled, and asks both where its request line leads.
@Suite("translate and the server agree on every route")
struct OneRouteTableTests {
    static func probe<Codec: InboundCodec>(
        _ codec: Codec, table: RouteTable
    ) -> [String] {
        var problems: [String] = []
        for route in codec.routes {
            let path = RoleMatrixTests.samplePath(RouteTemplate(route.path))
            for method in route.method.map({ [$0] }) ?? [.get, .post, .put, .delete] {
                let (served, parameters) = table.route(method: method, path: path[...])
                let translated = codec.route(method: method, path: path)
                let line = "\(codec.dialect) \(method) \(path)"
                if served.dialect != codec.dialect || served.name != route.name {
                    problems.append("\(line): the server serves \(served.dialect) \(served.name), not \(route.name)")
                }
                if translated?.route.name != route.name || translated?.parameters != parameters {
                    problems.append("\(line): translate finds \(translated?.route.name ?? "nothing")")
                }
            }
        }
        return problems
    }

    @Test("each codec route's request line reaches that route in the server's table and in translate")
    func agree() async throws {
        try await RoleMatrixTests.withEverythingEnabled { _, table in
            var problems: [String] = []
            var codecs = 0
            for dialect in DialectRegistry.all {
                let codec = dialect.inboundCodec(settings: [:])
                problems += Self.probe(codec, table: table)
                codecs += 1
            }
            #expect(codecs == DialectRegistry.ids.count && codecs >= 7)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }

    @Test("the one rule: literals over parameters, then the first given; HEAD where GET; 405 lists the methods")
    func matcherRule() {
        let matcher = RouteMatcher([
            .init(RouteTemplate("/a/{x}"), methods: [.get]),
            .init(RouteTemplate("/a/b"), methods: [.get]),
            .init(RouteTemplate("/a/{y}"), methods: [.get]),
            .init(RouteTemplate("/c"), methods: [.post, .put]),
            .init(RouteTemplate("/d"), methods: nil),
        ])
        #expect(matcher.match(method: .get, path: "/a/b") == .route(1, parameters: [:]))
        #expect(matcher.match(method: .get, path: "/a/z") == .route(0, parameters: ["x": "z"]))
        #expect(matcher.match(method: .head, path: "/a/z") == .route(0, parameters: ["x": "z"]))
        #expect(matcher.match(method: .get, path: "/c") == .otherMethods([.post, .put], first: 3))
        #expect(matcher.match(method: .patch, path: "/a/b") == .otherMethods([.get, .head], first: 0))
        #expect(matcher.match(method: .patch, path: "/d") == .route(4, parameters: [:]))
        #expect(matcher.match(method: .get, path: "/e") == .none)
    }
}
