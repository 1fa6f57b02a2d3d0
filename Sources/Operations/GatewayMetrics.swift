import Foundation
import Prometheus
import StockCore
import Synchronization

/// The gateway's metrics, in a Prometheus registry of its own (no global bootstrap, so several
/// gateways can live in one test process). Every family has a `# HELP` line.
///
/// - `stockgate_build_info{version}` (constant 1)
/// - `stockgate_http_requests_total{dialect,route,status}`
/// - `stockgate_http_request_duration_seconds{dialect,route}` (histogram)
/// - `stockgate_http_requests_in_flight` (requests whose pipeline runs now)
/// - `stockgate_movements_applied_total{dialect}`
/// - `stockgate_backend_circuit_state{backend}` (0 closed, 1 open, 2 half-open)
/// - `stockgate_backend_requests_total{backend,outcome}`
/// - `stockgate_backend_request_duration_seconds{backend}` (histogram, one HTTP call each)
/// - `stockgate_backend_requests_in_flight{backend}`
/// - `stockgate_unknown_outcomes{backend}` (refreshed at each scrape)
/// - `process_*`: CPU seconds, resident and virtual memory, open and maximum descriptors,
///   start time (read from `/proc` at each scrape)
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// A metric's name and label values: the key its object is made once under, since making
    /// one looks its labels up in the registry under the registry's lock, too much to repeat
    /// on every request.
    struct MetricKey: Hashable {
        let metric: String
        let first: String
        var second: String = ""
        var third: Int = 0
    }

    private let counters = Mutex<[MetricKey: Counter]>([:])
    private let histograms = Mutex<[MetricKey: DurationHistogram]>([:])
    private let gauges = Mutex<[MetricKey: Gauge]>([:])
    private let inFlight: Gauge
    private let connectionsRefused: Counter
    /// Requests and answers of 4xx/5xx per dialect since start: the operator page's traffic table.
    private let traffic = Mutex<[String: TrafficRow]>([:])

    /// One dialect's row of the traffic table, counted without a lock.
    final class TrafficRow: Sendable {
        let requests = Atomic<Int>(0)
        let clientErrors = Atomic<Int>(0)
        let serverErrors = Atomic<Int>(0)
        let movementsApplied = Atomic<Int>(0)

        func count(status: Int) {
            requests.add(1, ordering: .relaxed)
            if status >= 500 {
                serverErrors.add(1, ordering: .relaxed)
            } else if status >= 400 {
                clientErrors.add(1, ordering: .relaxed)
            }
        }

        var snapshot: Traffic {
            Traffic(
                requests: requests.load(ordering: .relaxed), clientErrors: clientErrors.load(ordering: .relaxed),
                serverErrors: serverErrors.load(ordering: .relaxed),
                movementsApplied: movementsApplied.load(ordering: .relaxed))
        }
    }

    private func trafficRow(_ dialect: String) -> TrafficRow {
        traffic.withLock { rows in
            if let row = rows[dialect] { return row }
            let row = TrafficRow()
            rows[dialect] = row
            return row
        }
    }

    /// Requests served for one dialect since the process started.
    public struct Traffic: Sendable, Equatable {
        public var requests = 0
        public var clientErrors = 0
        public var serverErrors = 0
        public var movementsApplied = 0

        public init(requests: Int = 0, clientErrors: Int = 0, serverErrors: Int = 0, movementsApplied: Int = 0) {
            self.requests = requests
            self.clientErrors = clientErrors
            self.serverErrors = serverErrors
            self.movementsApplied = movementsApplied
        }
    }

    static let requestBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
    ]

    /// Name (without unit) and help text of every family.
    enum Family: String, CaseIterable {
        case requests = "stockgate_http_requests"
        case requestDuration = "stockgate_http_request_duration"
        case inFlight = "stockgate_http_requests_in_flight"
        case applied = "stockgate_movements_applied"
        case circuit = "stockgate_backend_circuit_state"
        case backendRequests = "stockgate_backend_requests"
        case backendDuration = "stockgate_backend_request_duration"
        case backendInFlight = "stockgate_backend_requests_in_flight"
        case unknownOutcomes = "stockgate_unknown_outcomes"
        case buildInfo = "stockgate_build_info"
        case connectionsRefused = "stockgate_http_connections_refused"
        case webhooksDropped = "stockgate_webhook_messages_dropped"
        case reloads = "stockgate_config_reloads"
        case lastReload = "stockgate_config_last_reload_success_timestamp"

        var descriptor: MetricNameDescriptor {
            let (unit, help): (String, String) =
                switch self {
                case .requests: ("total", "HTTP requests answered, by dialect, route and status.")
                case .requestDuration: ("seconds", "Time from a request's head to its answer, by dialect and route.")
                case .inFlight: ("", "Requests whose pipeline is running now.")
                case .applied: ("total", "Movements applied, by the dialect they arrived in.")
                case .circuit: ("", "A backend's circuit breaker: 0 closed, 1 open, 2 half-open.")
                case .backendRequests:
                    ("total", "HTTP calls to a backend, by outcome (ok, retried, failed, rejected).")
                case .backendDuration: ("seconds", "Time of one HTTP call to a backend, answer or failure.")
                case .backendInFlight: ("", "HTTP calls to a backend not yet answered.")
                case .unknownOutcomes:
                    ("", "Forwarded movements whose outcome at a backend is unknown (journal state sent).")
                case .buildInfo: ("", "The running build: constant 1; its version, commit and commit date as labels.")
                case .reloads:
                    ("total", "SIGHUP reloads, by result (success: serving the new configuration; failure: refused).")
                case .lastReload:
                    (
                        "seconds",
                        "When the running configuration was loaded (at start, or by the last successful reload)."
                    )
                case .webhooksDropped:
                    ("total", "Webhook messages dropped undelivered: a subscriber's queue was full, or too old.")
                case .connectionsRefused:
                    ("total", "Client connections answered 503 (or closed) because max_connections were open.")
                }
            return MetricNameDescriptor(metricName: rawValue, unitName: unit, helpText: help)
        }
    }

    /// Every metric family StockGate exposes, by its full name (`stockgate_http_requests_total`):
    /// what the shipped alert rules and dashboard may query (`DeploymentTests/alertRules`).
    public static var familyNames: [String] { Family.allCases.map(\.descriptor.name) }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        registry.makeGauge(
            descriptor: Family.buildInfo.descriptor,
            labels: [
                ("version", BuildInfo.version), ("commit", BuildInfo.commit), ("commit_date", BuildInfo.commitDate),
            ]
        )
        .set(Int64(1))
        inFlight = registry.makeGauge(descriptor: Family.inFlight.descriptor, labels: [])
        connectionsRefused = registry.makeCounter(descriptor: Family.connectionsRefused.descriptor, labels: [])
    }

    /// The metric made once for `key`: found in `cache`, or made and kept there.
    private func cached<M: Sendable>(
        _ cache: borrowing Mutex<[MetricKey: M]>, _ key: MetricKey, make: () -> M
    ) -> M {
        cache.withLock { entries in
            if let known = entries[key] { return known }
            let made = make()
            entries[key] = made
            return made
        }
    }

    private func counter(_ family: Family, _ key: MetricKey, _ labels: @autoclosure () -> [(String, String)]) -> Counter
    {
        cached(counters, key) { registry.makeCounter(descriptor: family.descriptor, labels: labels()) }
    }

    private func gauge(_ family: Family, _ key: MetricKey, _ labels: @autoclosure () -> [(String, String)]) -> Gauge {
        cached(gauges, key) { registry.makeGauge(descriptor: family.descriptor, labels: labels()) }
    }

    private func histogram(
        _ family: Family, _ key: MetricKey, _ labels: @autoclosure () -> [(String, String)]
    ) -> DurationHistogram {
        cached(histograms, key) {
            registry.makeDurationHistogram(
                descriptor: family.descriptor, labels: labels(), buckets: Self.requestBuckets)
        }
    }

    /// What answering one route records, made once for the route: its duration histogram, its
    /// counter for each status seen (a small table by status), and its dialect's traffic row,
    /// so that an answer records them without hashing its labels (~3,500 instructions per
    /// request before, callgrind, `/healthz`).
    public final class RequestSeries: Sendable {
        let durations: DurationHistogram
        let byStatus: Mutex<[Int: Counter]>
        let counter: @Sendable (Int) -> Counter
        let traffic: TrafficRow

        init(durations: DurationHistogram, counter: @escaping @Sendable (Int) -> Counter, traffic: TrafficRow) {
            self.durations = durations
            self.byStatus = Mutex([:])
            self.counter = counter
            self.traffic = traffic
        }

        public func record(status: Int, duration: Duration) {
            let counter = byStatus.withLock { known in
                if let made = known[status] { return made }
                let made = self.counter(status)
                known[status] = made
                return made
            }
            counter.increment()
            durations.record(duration)
            traffic.count(status: status)
        }
    }

    /// The series of a route (`route` is its name): `stockgate_http_requests_total` and
    /// `stockgate_http_request_duration_seconds` under its labels.
    public func requests(dialect: DialectID, route: String) -> RequestSeries {
        let dialect = dialect.rawValue
        return RequestSeries(
            durations: histogram(
                .requestDuration, MetricKey(metric: Family.requestDuration.rawValue, first: dialect, second: route),
                [("dialect", dialect), ("route", route)]),
            counter: { [self] status in
                counter(
                    .requests,
                    MetricKey(metric: Family.requests.rawValue, first: dialect, second: route, third: status),
                    [("dialect", dialect), ("route", route), ("status", String(status))])
            },
            traffic: trafficRow(dialect))
    }

    /// A SIGHUP reload ended: served (`succeeded`) or refused.
    public func recordReload(succeeded: Bool, at time: Date = Date()) {
        let result = succeeded ? "success" : "failure"
        counter(.reloads, MetricKey(metric: Family.reloads.rawValue, first: result), [("result", result)]).increment()
        if succeeded { configurationLoaded(at: time) }
    }

    /// The running configuration was loaded now (at start, or by a reload).
    public func configurationLoaded(at time: Date = Date()) {
        gauge(.lastReload, MetricKey(metric: Family.lastReload.rawValue, first: ""), [])
            .set(time.timeIntervalSince1970)
    }

    /// A webhook message was dropped undelivered.
    public func recordWebhookDropped() {
        counter(.webhooksDropped, MetricKey(metric: Family.webhooksDropped.rawValue, first: ""), []).increment()
    }

    /// A client connection was refused at the connection cap.
    public func recordConnectionRefused() {
        connectionsRefused.increment()
    }

    /// A request's pipeline starts (`+1`) or ends (`-1`).
    public func recordInFlight(_ change: Int) {
        inFlight.increment(by: Double(change))
    }

    public func recordMovementsApplied(dialect: DialectID, count: Int) {
        let dialect = dialect.rawValue
        guard count > 0 else { return }
        counter(.applied, MetricKey(metric: Family.applied.rawValue, first: dialect), [("dialect", dialect)])
            .increment(by: Int64(count))
        trafficRow(dialect).movementsApplied.add(count, ordering: .relaxed)
    }

    /// Forwarded movements whose outcome at a backend is unknown (journal state `sent`).
    public func recordUnknownOutcomes(backend: String, count: Int) {
        gauge(
            .unknownOutcomes, MetricKey(metric: Family.unknownOutcomes.rawValue, first: backend), [("backend", backend)]
        )
        .set(Int64(count))
    }

    /// What forwarding to one backend records, made once for the backend: the objects the
    /// registry holds under its name, so that a call records them without a lookup (five
    /// lookups per forward before, each a hash of its labels under a lock).
    public struct Backend: Sendable {
        let inFlight: Gauge
        let durations: DurationHistogram
        let circuitState: Gauge
        let ok: Counter
        let retried: Counter
        let failed: Counter
        let rejected: Counter

        /// How one request to the backend ended (`stockgate_backend_requests_total{outcome}`).
        public enum Outcome: Sendable { case ok, retried, failed, rejected }

        public func record(_ outcome: Outcome) {
            switch outcome {
            case .ok: ok.increment()
            case .retried: retried.increment()
            case .failed: failed.increment()
            case .rejected: rejected.increment()
            }
        }

        /// An HTTP call to the backend starts; `ended` with what this returns ends it.
        public func started() -> ContinuousClock.Instant {
            inFlight.increment(by: 1)
            return .now
        }

        public func ended(_ start: ContinuousClock.Instant) {
            durations.record(ContinuousClock.now - start)
            inFlight.decrement(by: 1)
        }

        /// The circuit breaker's state: 0 closed, 1 open, 2 half-open.
        public func circuit(_ state: Int) {
            circuitState.set(Int64(state))
        }
    }

    /// The backend's metrics (its series appear at zero from now on).
    public func backend(_ name: String) -> Backend {
        func outcome(_ outcome: String) -> Counter {
            counter(
                .backendRequests, MetricKey(metric: Family.backendRequests.rawValue, first: name, second: outcome),
                [("backend", name), ("outcome", outcome)])
        }
        return Backend(
            inFlight: gauge(
                .backendInFlight, MetricKey(metric: Family.backendInFlight.rawValue, first: name), [("backend", name)]),
            durations: histogram(
                .backendDuration, MetricKey(metric: Family.backendDuration.rawValue, first: name), [("backend", name)]),
            circuitState: gauge(
                .circuit, MetricKey(metric: Family.circuit.rawValue, first: name), [("backend", name)]),
            ok: outcome("ok"), retried: outcome("retried"), failed: outcome("failed"), rejected: outcome("rejected"))
    }

    /// Requests per dialect since start (the operator page).
    public func trafficByDialect() -> [String: Traffic] {
        traffic.withLock { $0.mapValues(\.snapshot) }
    }

    /// The Prometheus text exposition, the process's own figures last.
    public func exposition() -> [UInt8] {
        var buffer = registry.emitToBuffer()
        buffer.append(contentsOf: ProcessFigures.read().exposition.utf8)
        return buffer
    }
}

/// The process's own figures from `/proc/self` (Linux), as Prometheus' client libraries name them.
struct ProcessFigures {
    var cpuSeconds: Double?
    var residentBytes: Int?
    var virtualBytes: Int?
    var openDescriptors: Int?
    var maxDescriptors: Int?
    var startTime: Double?

    static func read() -> ProcessFigures {
        var figures = ProcessFigures()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = sysconf(Int32(_SC_PAGESIZE))
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            // Fields after the command's closing parenthesis, starting with field 3 (state).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
            if let user = field(14), let system = field(15), ticks > 0 { figures.cpuSeconds = (user + system) / ticks }
            if let size = field(23) { figures.virtualBytes = Int(size) }
            if let pages = field(24) { figures.residentBytes = Int(pages) * page }
            if let start = field(22), ticks > 0, let boot = bootTime() { figures.startTime = boot + start / ticks }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            figures.openDescriptors = entries.count
        }
        var limit = rlimit()
        // RLIM_INFINITY is all ones: no maximum to report.
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int.max) {
            figures.maxDescriptors = Int(limit.rlim_cur)
        }
        return figures
    }

    /// When the machine booted, seconds since 1970 (`btime` of `/proc/stat`).
    static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    var exposition: String {
        var text = ""
        func add(_ name: String, _ type: String, _ help: String, _ value: String?) {
            guard let value else { return }
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        add(
            "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
            cpuSeconds.map { String(format: "%.2f", $0) })
        add(
            "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
            residentBytes.map(String.init))
        add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtualBytes.map(String.init))
        add("process_open_fds", "gauge", "Open file descriptors.", openDescriptors.map(String.init))
        add("process_max_fds", "gauge", "Maximum number of open file descriptors.", maxDescriptors.map(String.init))
        add(
            "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
            startTime.map { String(format: "%.2f", $0) })
        return text
    }
}
