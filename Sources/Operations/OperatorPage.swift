import Dialects
import Foundation
import StockCore

/// `GET /stockgate/console`: a read-only page for the people who run the gateway, rendered on
/// the server (no script, no build step): health, unknown outcomes to reconcile, backends and
/// their circuits, traffic per dialect, balances by location, the latest movements with the
/// dialect each arrived in. `?location=KEY` narrows balances and movements to one location.
///
/// Every value shown is escaped: product keys, descriptions and backend answers are other
/// people's text. The page refreshes itself every 30 seconds.
public struct OperatorPage: Sendable {
    /// How many rows each table shows at most (the page says when there are more).
    public static let maxBalances = 500
    public static let maxMovements = 50
    public static let maxUnknown = 100
    /// The longest note a settle form takes (`ConsoleSettle` refuses longer ones).
    public static let maxSettleNote = 500

    /// The latest movements' filters (`?state=&backend=&dialect=&request=`) and the refresh
    /// switch (`?refresh=off`), as the query gave them; the location is the snapshot's own.
    public struct Filter: Sendable, Equatable {
        public var state: MovementState?
        /// A remote backend's name, or `embedded`.
        public var backend: String?
        public var dialect: DialectID?
        public var request: String?
        /// `?refresh=off`: the page does not reload itself.
        public var paused = false

        public init(
            state: MovementState? = nil, backend: String? = nil, dialect: DialectID? = nil, request: String? = nil
        ) {
            self.state = state
            self.backend = backend
            self.dialect = dialect
            self.request = request
        }

        /// From the query: empty values are no filter; an unknown state is no filter.
        public init(query: [(name: String, value: String)]) {
            func value(_ name: String) -> String? {
                query.first { $0.name == name }.flatMap { $0.value.isEmpty ? nil : String($0.value.prefix(200)) }
            }
            state = value("state").flatMap(MovementState.init(rawValue:))
            backend = value("backend")
            dialect = value("dialect").map { DialectID($0) }
            request = value("request")
            paused = value("refresh") == "off"
        }

        var isEmpty: Bool { state == nil && backend == nil && dialect == nil && request == nil }

        /// This filter (and `location`) as a query string, each value escaped; `paused` kept.
        func query(location: String?, paused: Bool? = nil) -> String {
            var parts: [String] = []
            let pairs: [(String, String?)] = [
                ("location", location), ("state", state?.rawValue), ("backend", backend),
                ("dialect", dialect?.rawValue),
                ("request", request), ("refresh", (paused ?? self.paused) ? "off" : nil),
            ]
            for (name, value) in pairs {
                if let value { parts.append(name + "=" + OperatorPage.queryEscaped(value)) }
            }
            return "?" + parts.joined(separator: "&")
        }
    }

    /// What the page shows, gathered from the gateway at one moment.
    public struct Snapshot {
        public var generatedAt: Date
        public var version: String
        public var status: String
        public var problem: String?
        public var location: String?
        public var backends: [BackendRow] = []
        public var traffic: [(dialect: String, traffic: GatewayMetrics.Traffic)] = []
        public var unknown: [Movement] = []
        public var unknownTotal = 0
        public var balancesSource: String = "embedded ledger"
        public var balances: [Balance] = []
        public var balancesError: String?
        public var movements: [Movement] = []
        public var movementsError: String?
        public var filter = Filter()
        /// The token of this page's settle forms (nil: no forms).
        public var settleToken: String?
        /// Names the backend filter offers: `embedded` and every remote backend.
        public var backendNames: [String] = ["embedded"]

        public init(generatedAt: Date, version: String, status: String, problem: String?, location: String?) {
            self.generatedAt = generatedAt
            self.version = version
            self.status = status
            self.problem = problem
            self.location = location
        }

        /// The headline: `ok` only when nothing needs a person — no problem, no open circuit,
        /// no unknown outcome (issue 33: it said a green "ok" beside an open circuit).
        var headline: (text: String, kind: String) {
            guard status == "ok" else { return (status, status) }
            var attention: [String] = []
            let open = backends.filter { $0.circuit.hasPrefix("open") }.count
            if open > 0 { attention.append("\(open) circuit\(open == 1 ? "" : "s") open") }
            if unknownTotal > 0 {
                attention.append("\(unknownTotal) unknown outcome\(unknownTotal == 1 ? "" : "s") to settle")
            }
            return attention.isEmpty ? ("ok", "ok") : ("attention: " + attention.joined(separator: ", "), "attention")
        }
    }

    public struct BackendRow {
        public var name: String
        public var dialect: DialectID
        public var baseURL: String
        public var circuit: String
        public var unknownOutcomes: Int?
        /// When the circuit entered its state (nil: not since start).
        public var circuitSince: Date?
        public var lastSuccess: Date?
        public var lastError: (at: Date, what: String)?
        /// Since start, from the metrics' histogram and counters.
        public var figures: GatewayMetrics.BackendFigures

        public init(
            name: String, dialect: DialectID, baseURL: String, circuit: String, unknownOutcomes: Int? = nil,
            circuitSince: Date? = nil, lastSuccess: Date? = nil, lastError: (at: Date, what: String)? = nil,
            figures: GatewayMetrics.BackendFigures = GatewayMetrics.BackendFigures()
        ) {
            self.name = name
            self.dialect = dialect
            self.baseURL = baseURL
            self.circuit = circuit
            self.unknownOutcomes = unknownOutcomes
            self.circuitSince = circuitSince
            self.lastSuccess = lastSuccess
            self.lastError = lastError
            self.figures = figures
        }
    }

    /// The latest movements the filter lets through, newest first: the embedded ledger's and
    /// (with remote backends) the journal of forwards, or only the backend filtered on.
    public static func latestMovements(
        _ journal: any MovementReader, location: String?, filter: Filter, remote: Bool
    ) async throws -> [Movement] {
        var latest = MovementQuery()
        latest.location = location
        latest.state = filter.state
        latest.requestID = filter.request
        latest.order = [.init(.id, descending: true)]
        // A dialect is filtered here, not in the store: read more so the page still fills.
        latest.limit = filter.dialect == nil ? maxMovements : maxMovements * 20
        var rows: [Movement] = []
        if filter.backend == nil || filter.backend == "embedded" { rows += try await journal.movements(latest) }
        if remote && filter.backend != "embedded" {
            latest.backend = filter.backend ?? MovementQuery.anyBackend
            rows += try await journal.movements(latest)
        }
        if let dialect = filter.dialect { rows = rows.filter { $0.dialect == dialect } }
        return Array(
            rows.sorted { ($0.createdAt ?? .distantPast) > ($1.createdAt ?? .distantPast) }.prefix(maxMovements))
    }

    /// "12 s ago", "3 min ago", "2 h ago", "4 d ago" (or "in 3 s" for a clock ahead).
    public static func ago(_ date: Date, now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(date).rounded())
        if seconds < 0 { return "in \(-seconds) s" }
        switch seconds {
        case ..<60: return "\(seconds) s ago"
        case ..<3600: return "\(seconds / 60) min ago"
        case ..<86_400: return "\(seconds / 3600) h ago"
        default: return "\(seconds / 86_400) d ago"
        }
    }

    /// A time as the page shows it: ISO 8601 and how long ago.
    public static func when(_ date: Date?, now: Date) -> String {
        guard let date else { return "" }
        return Timestamp.iso8601(date) + " (" + ago(date, now: now) + ")"
    }

    public static func reason(_ error: any Error) -> String {
        (error as? GatewayError)?.message ?? "\(type(of: error))"
    }

    /// `https://user:secret@host/path` → `https://host/path`: credentials never reach the page.
    public static func withoutUserInfo(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else {
            return url
        }
        let slash = url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex
        guard at < slash else { return url }
        return String(url[..<scheme.upperBound]) + String(url[url.index(after: at)...])
    }

    // MARK: Rendering

    public static func render(_ page: Snapshot) -> String {
        var html = HTML()
        renderHeader(page, into: &html)
        renderUnknown(page, into: &html)
        renderBackends(page, into: &html)
        renderTraffic(page, into: &html)
        renderBalances(page, into: &html)
        renderMovements(page, into: &html)
        html.raw("</body></html>\n")
        return html.output
    }

    /// The document's head, the status line and the location filter.
    static func renderHeader(_ page: Snapshot, into html: inout HTML) {
        html.raw(
            """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(page.filter.paused ? "" : "<meta http-equiv=\"refresh\" content=\"30\">")
            <title>StockGate operator page</title>
            <style>\(style)</style></head><body>
            """)
        html.raw("<header><h1>StockGate</h1><p>")
        let headline = page.headline
        html.element("span", headline.text, attributes: ["id": "status", "class": "status-\(headline.kind)"])
        html.text(" · version \(page.version) · generated \(Timestamp.iso8601(page.generatedAt)) · ")
        // The refresh is shown, and can be paused (to read a table without it moving).
        if page.filter.paused {
            html.text("refresh paused (")
            html.element("a", "resume", attributes: ["href": page.filter.query(location: page.location, paused: false)])
        } else {
            html.text("refreshes every 30 s (")
            html.element("a", "pause", attributes: ["href": page.filter.query(location: page.location, paused: true)])
        }
        html.text(")")
        if let location = page.location {
            html.text(" · location ")
            html.element("code", location)
            html.raw(" (<a href=\"?\">all locations</a>)")
        }
        html.raw("</p>")
        if let problem = page.problem { html.element("p", problem, attributes: ["class": "problem"]) }
        html.raw("</header>")
    }

    /// Forwarded movements whose outcome is unknown, with what to do about them.
    static func renderUnknown(_ page: Snapshot, into html: inout HTML) {
        html.section("unknown", "Unknown outcomes to reconcile")
        if page.unknownTotal == 0 {
            html.element("p", "None: every forwarded movement's outcome is known.", attributes: ["class": "empty"])
        } else {
            html.element(
                "p",
                "\(page.unknownTotal) forwarded movement(s) may or may not have been applied by their backend. "
                    + "Run `stockgate reconcile` to ask the backends, or settle each with "
                    + "POST /stockgate/v1/journal/{id}/settle once a person has checked.")
            html.table(
                ["Id", "Backend", "Product", "Quantity", "From", "To", "Dialect", "Request", "Sent"],
                rows: page.unknown.map { movement in
                    [
                        movement.id.map(String.init) ?? "", movement.backend ?? "", movement.product,
                        movement.quantity.description, movement.from, movement.to, movement.dialect?.rawValue ?? "",
                        movement.requestID ?? "", when(movement.createdAt, now: page.generatedAt),
                    ]
                }, links: [7: { requestLink($0, page) }])
            html.more(shown: page.unknown.count, total: page.unknownTotal)
            if let token = page.settleToken { renderSettleForms(page.unknown, token: token, into: &html) }
        }
        html.raw("</section>")
    }

    static func renderBackends(_ page: Snapshot, into html: inout HTML) {
        html.section("backends", "Backends")
        if page.backends.isEmpty {
            html.element(
                "p", "No remote backend: every dialect is served by the \(page.balancesSource).",
                attributes: ["class": "empty"])
        } else {
            html.table(
                [
                    "Backend", "Dialect", "Base URL", "Circuit", "Since", "Last success", "Last error", "Calls",
                    "Error rate", "p50", "p95", "Unknown outcomes",
                ],
                rows: page.backends.map { backend in
                    [
                        backend.name, backend.dialect.rawValue, backend.baseURL, backend.circuit,
                        backend.circuitSince.map { ago($0, now: page.generatedAt) } ?? "start",
                        backend.lastSuccess.map { ago($0, now: page.generatedAt) } ?? "none yet",
                        backend.lastError.map { "\($0.what), \(ago($0.at, now: page.generatedAt))" } ?? "none",
                        String(backend.figures.calls),
                        backend.figures.errorRate.map { String(format: "%.1f %%", $0 * 100) } ?? "",
                        backend.figures.p50.map(milliseconds) ?? "", backend.figures.p95.map(milliseconds) ?? "",
                        backend.unknownOutcomes.map(String.init) ?? "?",
                    ]
                }, links: [0: { "?backend=" + queryEscaped($0) }])
            html.element(
                "p", "Calls, error rate (transport errors and 5xx, retried or not) and p50/p95 since start.",
                attributes: ["class": "source"])
        }
        html.raw("</section>")
    }

    static func renderTraffic(_ page: Snapshot, into html: inout HTML) {
        html.section("traffic", "Traffic per dialect since start")
        if page.traffic.isEmpty {
            html.element("p", "No request yet.", attributes: ["class": "empty"])
        } else {
            html.table(
                ["Dialect", "Requests", "4xx", "5xx", "Movements applied"],
                rows: page.traffic.map {
                    [
                        $0.dialect == "-" ? "(gateway's own endpoints)" : $0.dialect, String($0.traffic.requests),
                        String($0.traffic.clientErrors), String($0.traffic.serverErrors),
                        String($0.traffic.movementsApplied),
                    ]
                })
        }
        html.raw("</section>")
    }

    /// Balances grouped by location, each location a link to its filter.
    static func renderBalances(_ page: Snapshot, into html: inout HTML) {
        html.section("balances", "Balances by location")
        html.element("p", "From the \(page.balancesSource); zero balances left out.", attributes: ["class": "source"])
        if let error = page.balancesError {
            html.element("p", "Could not be read: \(error)", attributes: ["class": "problem"])
        } else if page.balances.isEmpty {
            html.element("p", "No stock anywhere.", attributes: ["class": "empty"])
        } else {
            var current: String?
            let shown = page.balances.prefix(maxBalances)
            for balance in shown {
                if balance.location != current {
                    if current != nil { html.raw("</tbody></table></div>") }
                    current = balance.location
                    html.raw("<h3>")
                    html.element(
                        "a", balance.location,
                        attributes: ["href": "?location=" + Self.queryEscaped(balance.location)])
                    html.raw(
                        "</h3><div class=\"wide\"><table class=\"balances\"><thead><tr><th>Product</th><th>Quantity</th></tr></thead><tbody>"
                    )
                }
                html.row([balance.product, balance.quantity.description])
            }
            html.raw("</tbody></table></div>")
            html.more(shown: shown.count, total: page.balances.count)
        }
        html.raw("</section>")
    }

    static func renderMovements(_ page: Snapshot, into html: inout HTML) {
        html.section("movements", "Latest movements")
        renderFilterForm(page, into: &html)
        if let error = page.movementsError {
            html.element("p", "Could not be read: \(error)", attributes: ["class": "problem"])
        } else if page.movements.isEmpty {
            html.element("p", "No movement yet.", attributes: ["class": "empty"])
        } else {
            html.table(
                ["Id", "When", "Product", "Quantity", "From", "To", "State", "Arrived in", "Backend", "Request"],
                rows: page.movements.map { movement in
                    [
                        movement.id.map(String.init) ?? "", when(movement.createdAt, now: page.generatedAt),
                        movement.product, movement.quantity.description, movement.from, movement.to,
                        movement.state.rawValue + (movement.failureReason.map { ": " + $0 } ?? "")
                            + (movement.settlementNote.map { " (settled " + $0 + ")" } ?? ""),
                        movement.dialect?.rawValue ?? "", movement.backend ?? "embedded", movement.requestID ?? "",
                    ]
                }, links: [9: { requestLink($0, page) }])
        }
        html.raw("</section>")
    }

    /// One settle form per unknown outcome: applied or failed, and a note saying what was
    /// checked (`ConsoleSettle`). Only after a person has looked at the backend.
    static func renderSettleForms(_ rows: [Movement], token: String, into html: inout HTML) {
        html.element(
            "p", "After checking the backend, record what became of each (kept on the row with your note):",
            attributes: ["class": "source"])
        for movement in rows {
            guard let id = movement.id else { continue }
            html.raw("<form method=\"post\" action=\"/stockgate/console/settle\" class=\"settle\">")
            html.raw("<input type=\"hidden\" name=\"token\" value=\"" + HTML.escape(token) + "\">")
            html.raw("<input type=\"hidden\" name=\"id\" value=\"\(id)\">")
            html.text("\(id) (\(movement.backend ?? "")): ")
            html.raw(
                "<select name=\"state\"><option value=\"applied\">applied</option><option value=\"failed\">failed</option></select> "
                    + "<input name=\"note\" required maxlength=\"\(maxSettleNote)\" size=\"30\" placeholder=\"what you checked\"> "
                    + "<button type=\"submit\">Settle</button></form>")
        }
    }

    /// The page narrowed to one request's journal rows (location and refresh kept).
    static func requestLink(_ request: String, _ page: Snapshot) -> String {
        var filter = Filter(request: request)
        filter.paused = page.filter.paused
        return filter.query(location: page.location)
    }

    static func milliseconds(_ seconds: Double) -> String {
        seconds < 0.001 ? "< 1 ms" : String(format: "%.0f ms", seconds * 1000)
    }

    /// The filters of the latest movements: a GET form (state, backend, dialect, request id).
    static func renderFilterForm(_ page: Snapshot, into html: inout HTML) {
        let filter = page.filter
        html.raw("<form method=\"get\" action=\"\" class=\"filters\">")
        if let location = page.location {
            html.raw("<input type=\"hidden\" name=\"location\" value=\"" + HTML.escape(location) + "\">")
        }
        if filter.paused { html.raw("<input type=\"hidden\" name=\"refresh\" value=\"off\">") }
        func select(_ name: String, _ options: [String], selected: String?) {
            html.raw("<label>" + name + " <select name=\"" + name + "\"><option value=\"\">any</option>")
            for option in options {
                html.raw(
                    "<option value=\"" + HTML.escape(option) + "\"" + (option == selected ? " selected" : "") + ">"
                        + HTML.escape(option) + "</option>")
            }
            html.raw("</select></label> ")
        }
        select("state", MovementState.allCases.map(\.rawValue), selected: filter.state?.rawValue)
        select("backend", page.backendNames, selected: filter.backend)
        select("dialect", DialectRegistry.names, selected: filter.dialect?.rawValue)
        html.raw(
            "<label>request <input name=\"request\" size=\"16\" value=\"" + HTML.escape(filter.request ?? "")
                + "\"></label> <button type=\"submit\">Filter</button>")
        if !filter.isEmpty {
            var cleared = Filter()
            cleared.paused = filter.paused
            html.raw(" ")
            html.element("a", "clear", attributes: ["href": cleared.query(location: page.location)])
        }
        html.raw("</form>")
    }

    static func queryEscaped(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
        h1{margin:0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}h3{margin:.8em 0 .3em}
        table{border-collapse:collapse;margin:.3em 0}th,td{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left}
        th{background:#f4f4f4}td.n{text-align:right}.empty,.source{color:#666}.problem{color:#a00}
        .status-ok{color:#070;font-weight:bold}.status-draining,.status-unavailable{color:#a00;font-weight:bold}.status-attention{color:#a50;font-weight:bold}
        code{background:#f4f4f4;padding:0 .2em}
        td.neg{color:#a00;font-weight:bold}.wide{overflow-x:auto;max-width:100%}
        form.filters,form.settle{margin:.4em 0}form.filters label{margin-right:.6em;white-space:nowrap}
        @media (max-width:480px){body{margin:.6em}th,td{padding:.2em .35em}h2{font-size:1.1em}}
        """
}

/// HTML written as text, every value escaped.
public struct HTML {
    public private(set) var output = ""

    public init() {}

    public mutating func raw(_ markup: String) { output += markup }

    public mutating func text(_ value: String) { output += Self.escape(value) }

    public mutating func element(_ name: String, _ value: String, attributes: [String: String] = [:]) {
        output += "<\(name)"
        for (key, attribute) in attributes.sorted(by: { $0.key < $1.key }) {
            output += " \(key)=\"\(Self.escape(attribute))\""
        }
        output += ">" + Self.escape(value) + "</\(name)>"
    }

    public mutating func section(_ id: String, _ title: String) {
        output += "<section id=\"\(id)\"><h2>" + Self.escape(title) + "</h2>"
    }

    /// A row; a number is right-aligned, a negative one marked (`neg`).
    public mutating func row(_ cells: [String]) {
        output += "<tr>" + cells.map { Self.cell($0) }.joined() + "</tr>"
    }

    public static func cell(_ text: String) -> String {
        guard !text.isEmpty, let quantity = try? Quantity(parsing: text) else { return "<td>" + escape(text) + "</td>" }
        return (quantity < .zero ? "<td class=\"n neg\">" : "<td class=\"n\">") + escape(text) + "</td>"
    }

    /// A table in a box that scrolls sideways on a narrow screen instead of cutting it off.
    /// - Parameter links: per column, the link a non-empty cell's text leads to.
    public mutating func table(_ headers: [String], rows: [[String]], links: [Int: (String) -> String] = [:]) {
        output +=
            "<div class=\"wide\"><table><thead><tr>" + headers.map { "<th>" + Self.escape($0) + "</th>" }.joined()
            + "</tr></thead><tbody>"
        for cells in rows {
            guard !links.isEmpty else {
                row(cells)
                continue
            }
            output += "<tr>"
            for (column, text) in cells.enumerated() {
                if let link = links[column], !text.isEmpty {
                    output += "<td><a href=\"" + Self.escape(link(text)) + "\">" + Self.escape(text) + "</a></td>"
                } else {
                    output += Self.cell(text)
                }
            }
            output += "</tr>"
        }
        output += "</tbody></table></div>"
    }

    public mutating func more(shown: Int, total: Int) {
        if total > shown { element("p", "Showing \(shown) of \(total).", attributes: ["class": "source"]) }
    }

    public static func escape(_ value: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(value.utf8.count)
        for character in value.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
