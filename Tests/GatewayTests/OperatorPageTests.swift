import AsyncHTTPClient
import CurlHTTP
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

@testable import Gateway
@testable import Operations

/// The operator's page (issue 17): `GET /stockgate/console` over a real socket, read as HTML.
/// The page in a real browser is `BrowserTests` (headless Chromium against the executable).
@Suite("Operator page")
struct OperatorPageTests {
    @Test("balances by location, latest movements with their dialect, unknown outcomes, backends, traffic")
    func content() async throws {
        // A Zettle backend that answers after the gateway gave up: the forward's outcome is unknown.
        let late = FakeUpstream { _ in FakeUpstream.Answer(200, "{}", delay: .seconds(3)) }
        try await late.run { lateURL in
            let config = """
                backends:
                  - name: pos
                    dialect: zettle
                    base_url: http://pos-user:pos-password@\(lateURL.dropFirst("http://".count))
                    timeout_ms: 500
                routes:
                  zettle: pos
                """
            try await LiveGateway.run(config: config) { live, _ in
                let base = live.baseURL
                for (product, quantity, to) in [("mug-black", "5", "shop-floor"), ("socks", "2", "back-room")] {
                    let moved = try await HTTPClient.shared.send(
                        .POST, base + "/stockgate/v1/movements",
                        body:
                            #"{"movements": [{"product": "\#(product)", "quantity": \#(quantity), "from": "supplier", "to": "\#(to)"}]}"#
                    )
                    #expect(moved.status == 200, "\(moved.text)")
                }
                let zettle = try await HTTPClient.shared.send(
                    .PUT, base + "/organizations/self/inventory",
                    body:
                        #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 1}]}"#
                )
                #expect(zettle.status == 504, "\(zettle.text)")

                let page = try await HTTPClient.shared.send(.GET, base + "/stockgate/console")
                #expect(page.status == 200)
                #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
                #expect(page.headers["Content-Security-Policy"].first?.contains("default-src 'none'") == true)
                #expect(page.headers["Cache-Control"].first == "no-store")
                let html = page.text
                let unknown = try Self.section("unknown", of: html)
                #expect(unknown.contains("1 forwarded movement(s)"), "\(unknown)")
                #expect(
                    unknown.contains(
                        "<td>pos</td><td>tshirt-blue-m</td><td class=\"n\">1</td><td>supplier</td><td>shop-floor</td><td>zettle</td>"
                    ), "\(unknown)")
                let backendsSection = try Self.section("backends", of: html)
                #expect(
                    backendsSection.contains(#"<td><a href="?backend=pos">pos</a></td><td>zettle</td>"#),
                    "\(backendsSection)")
                // Issue 33: the last error, the error rate and p50/p95 from the histograms.
                #expect(backendsSection.contains("unreachable ("), "\(backendsSection)")
                #expect(backendsSection.contains("<td>100.0 %</td>"), "\(backendsSection)")
                #expect(backendsSection.contains(" ms</td>"), "\(backendsSection)")
                #expect(backendsSection.contains("<td class=\"n\">1</td>"), "one unknown outcome: \(backendsSection)")
                #expect(!html.contains("pos-password") && !html.contains("pos-user"), "credentials of a base URL")
                let traffic = try Self.section("traffic", of: html)
                #expect(
                    traffic.contains(
                        "<td>stockgate</td><td class=\"n\">2</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">2</td>"
                    ), "\(traffic)")
                #expect(
                    traffic.contains(
                        "<td>zettle</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">1</td><td class=\"n\">0</td>"
                    ), "\(traffic)")
                let balances = try Self.section("balances", of: html)
                #expect(balances.contains("<td>mug-black</td><td class=\"n\">5</td>"), "\(balances)")
                #expect(balances.contains("<td>socks</td><td class=\"n\">2</td>"), "\(balances)")
                #expect(balances.contains(#"<a href="?location=shop-floor">shop-floor</a>"#), "\(balances)")
                let movements = try Self.section("movements", of: html)
                #expect(
                    movements.contains(
                        "<td>mug-black</td><td class=\"n\">5</td><td>supplier</td><td>shop-floor</td><td>applied</td><td>stockgate</td><td>embedded</td>"
                    ), "\(movements)")
                #expect(movements.contains("<td>sent</td><td>zettle</td><td>pos</td>"), "\(movements)")

                // One location: the others' balances and movements are left out.
                let floor = try await HTTPClient.shared.send(.GET, base + "/stockgate/console?location=shop-floor")
                #expect(floor.status == 200)
                #expect(try Self.section("balances", of: floor.text).contains("mug-black"))
                #expect(!(try Self.section("balances", of: floor.text)).contains("socks"))
                #expect(!(try Self.section("movements", of: floor.text)).contains("socks"))
                // HEAD answers the headers alone.
                let head = try await HTTPClient.shared.send(.HEAD, base + "/stockgate/console")
                #expect(head.status == 200 && head.body.isEmpty)
                try await Self.settleFromThePage(base: base, html: html)
            }
        }
    }

    /// Issue 33: the page's settle buttons — a token bound to the page, same-origin only, a note
    /// required; the row settled and the note kept on it.
    static func settleFromThePage(base: String, html: String) async throws {
        let token = try #require(html.firstMatch(of: /name="token" value="([0-9a-f]{64})"/)?.output.1)
        let id = try #require(html.firstMatch(of: /name="id" value="([0-9]+)"/)?.output.1)
        let url = base + "/stockgate/console/settle"
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        let good = "token=\(token)&id=\(id)&state=applied&note=checked+the+POS%3A+it+holds+the+change"
        let host = String(base.dropFirst("http://".count))
        let refusals: [(body: String, headers: [(String, String)], why: String)] = [
            (good, form + [("Sec-Fetch-Site", "cross-site")], "from the operator page itself"),
            (good, form + [("Origin", "http://evil.example")], "another site"),
            ("token=\(String(repeating: "0", count: 64))&id=\(id)&state=applied&note=x", form, "stale"),
            ("token=\(token)&id=\(id)&state=applied&note=", form, "a note"),
            ("token=\(token)&id=\(id)&state=sent&note=x", form, "applied or failed"),
        ]
        for refusal in refusals {
            let answer = try await HTTPClient.shared.send(.POST, url, body: refusal.body, headers: refusal.headers)
            #expect(answer.status == 403 || answer.status == 400, "\(refusal.why): \(answer.status) \(answer.text)")
            #expect(answer.text.contains("Not settled") && answer.text.contains(refusal.why), "\(answer.text)")
        }
        let unsettled = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/movements?backend=*&state=sent")
        #expect(unsettled.json?["movements"]?.arrayValue?.count == 1, "nothing settled by a refused form")
        let settled = try await HTTPClient.shared.send(
            .POST, url, body: good,
            headers: form + [("Sec-Fetch-Site", "same-origin"), ("Origin", "http://" + host)])
        #expect(settled.status == 303 || settled.status == 200, "\(settled.status) \(settled.text)")
        let row = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/movements/\(id)")
        #expect(row.json?["movement"]?["state"] == "applied", "\(row.text)")
        let note = row.json?["movement"]?["settlement"]?.stringValue ?? ""
        #expect(note.hasPrefix("applied by ") && note.hasSuffix(": checked the POS: it holds the change"), "\(note)")
        // Settled once: the same form again is refused (the row is no longer unknown).
        let again = try await HTTPClient.shared.send(.POST, url, body: good, headers: form)
        #expect(again.status == 409, "\(again.status) \(again.text)")
    }

    @Test(
        "with clients configured: an operator signs in with Basic or its bearer token; a stock client is refused 403")
    func credentials() async throws {
        let clients = ClientAuthenticator(clients: [
            .init(name: "ops", secret: Secret("ops-secret-1"), dialects: ["stockgate"], roles: [.operator, .metrics]),
            .init(name: "pos", secret: Secret("pos-secret-2"), dialects: ["zettle"], roles: [.operator]),
            .init(name: "till", secret: Secret("till-secret-3"), dialects: ["zettle"]),
        ])
        try await LiveGateway.run(clients: clients) { live in
            let url = live.baseURL + "/stockgate/console"
            let anonymous = try await HTTPClient.shared.send(.GET, url)
            #expect(anonymous.status == 401)
            #expect(anonymous.headers["WWW-Authenticate"].first?.hasPrefix(#"Basic realm="StockGate"#) == true)
            #expect(!anonymous.text.contains("<table"))
            func basic(_ user: String, _ password: String) -> (String, String) {
                ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
            }
            for refused in [basic("ops", "wrong"), basic("pos", "ops-secret-1"), basic("nobody", "ops-secret-1")] {
                #expect(try await HTTPClient.shared.send(.GET, url, headers: [refused]).status == 401, "\(refused)")
            }
            for allowed in [
                basic("ops", "ops-secret-1"), basic("pos", "pos-secret-2"), ("Authorization", "Bearer ops-secret-1"),
                ("X-Key", "pos-secret-2"),
            ] {
                let page = try await HTTPClient.shared.send(.GET, url, headers: [allowed])
                #expect(page.status == 200, "\(allowed)")
                #expect(page.text.contains(#"<span class="status-ok" id="status">ok</span>"#))
            }
            // A stock client without the operator role is known, not allowed.
            let stockOnly = try await HTTPClient.shared.send(.GET, url, headers: [basic("till", "till-secret-3")])
            #expect(stockOnly.status == 403, "\(stockOnly.text)")
            #expect(!stockOnly.text.contains("<table"))
            // Basic opens /metrics too (Prometheus' basic_auth), and never a dialect's API.
            #expect(
                try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/metrics", headers: [basic("ops", "ops-secret-1")]
                )
                .status == 200)
            #expect(
                try await HTTPClient.shared.send(
                    .GET, live.baseURL + "/stockgate/v1/balances", headers: [basic("ops", "ops-secret-1")]
                ).status == 401)
        }
    }

    @Test("other people's text is escaped; a backend's credentials never reach the page")
    func escaping() {
        #expect(
            HTML.escape(#"<script>alert("x" & 'y')</script>"#)
                == "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;")
        #expect(OperatorPage.withoutUserInfo("https://user:secret@erp.example/api") == "https://erp.example/api")
        #expect(OperatorPage.withoutUserInfo("https://erp.example/a@b") == "https://erp.example/a@b")
        var snapshot = OperatorPage.Snapshot(
            generatedAt: Date(timeIntervalSince1970: 0), version: "1", status: "ok", problem: "<b>disk</b>",
            location: nil)
        snapshot.balances = [Balance(product: "<img src=x onerror=alert(1)>", location: "a\"b", quantity: .zero)]
        let html = OperatorPage.render(snapshot)
        #expect(!html.contains("<img src=x"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("<p class=\"problem\">&lt;b&gt;disk&lt;/b&gt;</p>"))
        #expect(html.contains("?location=a%22b"))
    }

    /// Issue 33: numbers were left-aligned, a negative balance unmarked, and at 390 px the
    /// tables were cut off.
    @Test("numbers right-aligned, a negative balance marked, every table in a box that scrolls sideways")
    func numbersAndNarrowScreens() {
        var snapshot = OperatorPage.Snapshot(
            generatedAt: Date(timeIntervalSince1970: 0), version: "1", status: "ok", problem: nil, location: nil)
        snapshot.balances = [
            Balance(product: "mug-white", location: "shop-floor", quantity: Quantity(-2)),
            Balance(product: "mug-black", location: "shop-floor", quantity: Quantity(7)),
        ]
        let html = OperatorPage.render(snapshot)
        #expect(html.contains(#"<td>mug-white</td><td class="n neg">-2</td>"#), "\(html)")
        #expect(html.contains(#"<td>mug-black</td><td class="n">7</td>"#))
        #expect(
            html.components(separatedBy: "<table").count - 1 == html.components(
                separatedBy: #"<div class="wide"><table"#
            ).count - 1)
        #expect(html.contains("@media (max-width:480px)") && html.contains("overflow-x:auto"))
        #expect(HTML.cell("shop-floor") == "<td>shop-floor</td>" && HTML.cell("") == "<td></td>")
    }

    /// Issue 33: the headline was a green "ok" while a circuit was open and outcomes unknown.
    @Test("the headline says what needs a person: an open circuit, unknown outcomes; ok only when nothing does")
    func headline() {
        var snapshot = OperatorPage.Snapshot(
            generatedAt: Date(timeIntervalSince1970: 0), version: "1", status: "ok", problem: nil, location: nil)
        #expect(snapshot.headline == ("ok", "ok"))
        snapshot.backends = [
            .init(
                name: "pos", dialect: "zettle", baseURL: "http://x",
                circuit: "open: the next call is let through as the probe")
        ]
        snapshot.unknownTotal = 2
        #expect(snapshot.headline.text == "attention: 1 circuit open, 2 unknown outcomes to settle")
        #expect(OperatorPage.render(snapshot).contains(#"<span class="status-attention" id="status">attention: "#))
        snapshot.status = "draining"
        #expect(snapshot.headline == ("draining", "draining"))
    }

    /// Issue 33: the latest movements filter by state, backend, dialect and request id; a request
    /// id links to its rows; times say how long ago; the refresh is shown and can be paused.
    @Test("filters, request links, relative times, a refresh that can be paused")
    func filtersAndRefresh() async throws {
        try await withTemporaryLedger { directory, ledger in
            for (dialect, request) in [("stockgate", "r-1"), ("zettle", "r-2"), ("stockgate", "r-3")] {
                _ = try await ledger.move(
                    MoveBatch(
                        items: [
                            Movement(product: "mug-white", quantity: Quantity(1), from: "supplier", to: "shop-floor")
                        ],
                        atomicity: .perItem),
                    facts: RequestFacts(dialect: DialectID(dialect), requestID: request))
            }
            let byDialect = try await OperatorPage.latestMovements(
                ledger, location: nil, filter: OperatorPage.Filter(dialect: "zettle"), remote: false)
            #expect(byDialect.map(\.requestID) == ["r-2"])
            let byRequest = try await OperatorPage.latestMovements(
                ledger, location: nil, filter: OperatorPage.Filter(request: "r-3"), remote: false)
            #expect(byRequest.map(\.requestID) == ["r-3"])
            let byState = try await OperatorPage.latestMovements(
                ledger, location: nil, filter: OperatorPage.Filter(state: .failed), remote: false)
            #expect(byState.isEmpty)
            let filter = OperatorPage.Filter(query: [
                ("state", "applied"), ("dialect", "stockgate"), ("refresh", "off"), ("backend", ""),
            ])
            #expect(filter.state == .applied && filter.dialect == "stockgate" && filter.backend == nil && filter.paused)
            var snapshot = OperatorPage.Snapshot(
                generatedAt: Date(timeIntervalSince1970: 100), version: "1", status: "ok", problem: nil, location: nil)
            snapshot.filter = filter
            snapshot.movements = [
                Movement(
                    id: 7, product: "mug-white", quantity: Quantity(1), from: "supplier", to: "shop-floor",
                    createdAt: Date(timeIntervalSince1970: 40), state: .failed, dialect: "stockgate", requestID: "r&1",
                    backend: "pos")
            ]
            snapshot.movements[0].failureReason = "invalidValue: Variant not tracked"
            let html = OperatorPage.render(snapshot)
            #expect(!html.contains(#"http-equiv="refresh""#), "paused")
            #expect(
                html.contains(#"refresh paused (<a href="?state=applied&amp;dialect=stockgate">resume</a>)"#), "\(html)"
            )
            #expect(html.contains(#"<a href="?request=r%261&amp;refresh=off">r&amp;1</a>"#), "\(html)")
            #expect(html.contains("(1 min ago)"), "\(html)")
            #expect(html.contains("failed: invalidValue: Variant not tracked"))
            #expect(html.contains(#"<option value="applied" selected>applied</option>"#))
            #expect(html.contains(#"<option value="stockgate" selected>stockgate</option>"#))
            snapshot.filter = OperatorPage.Filter()
            let live = OperatorPage.render(snapshot)
            #expect(live.contains(#"<meta http-equiv="refresh" content="30">"#))
            #expect(live.contains(#"refreshes every 30 s (<a href="?refresh=off">pause</a>)"#), "\(live)")
        }
    }

    /// Issue 33: p50/p95 and the error rate come from the histogram and counters /metrics has.
    @Test("backend figures read back from the exposition: calls, errors, quantiles as histogram_quantile")
    func backendFigures() {
        let text = """
            stockgate_backend_request_duration_seconds_bucket{backend="pos",le="0.01"} 50
            stockgate_backend_request_duration_seconds_bucket{backend="pos",le="0.1"} 90
            stockgate_backend_request_duration_seconds_bucket{backend="pos",le="1.0"} 100
            stockgate_backend_request_duration_seconds_bucket{backend="pos",le="+Inf"} 100
            stockgate_backend_requests_total{backend="pos",outcome="ok"} 96
            stockgate_backend_requests_total{backend="pos",outcome="retried"} 3
            stockgate_backend_requests_total{backend="pos",outcome="failed"} 1
            stockgate_backend_requests_total{backend="pos",outcome="rejected"} 7
            """
        let figures = GatewayMetrics.backendFigures(exposition: text)["pos"]
        #expect(figures?.calls == 100 && figures?.errors == 4)
        #expect(figures?.errorRate == 0.04)
        #expect(figures?.p50 == 0.01)
        #expect(abs((figures?.p95 ?? 0) - 0.55) < 1e-9)
        #expect(GatewayMetrics.labels(#"a="1",b="x\"y""#) == ["a": "1", "b": "x\"y"])
    }

    /// The HTML of one `<section id=…>`.
    static func section(_ id: String, of html: String) throws -> String {
        guard let start = html.range(of: "<section id=\"\(id)\">"),
            let end = html.range(of: "</section>", range: start.upperBound..<html.endIndex)
        else { throw TestFailure("no section \(id) in \(html)") }
        return String(html[start.upperBound..<end.lowerBound])
    }
}
