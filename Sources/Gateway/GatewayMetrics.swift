import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// The gateway's metrics, through swift-metrics with a Prometheus registry of its own (no
/// global bootstrap, so several gateways can live in one test process).
///
/// - `stockgate_http_requests_total{dialect,route,status}`
/// - `stockgate_http_request_duration_seconds{dialect,route}` (histogram)
/// - `stockgate_movements_applied_total{dialect}`
/// - `stockgate_backend_circuit_state{backend}` (0 closed, 1 open, 2 half-open)
/// - `stockgate_backend_requests_total{backend,outcome}`
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// A metric's name and label values: the key its object is made once under, since making
    /// one looks its labels up in the registry under the registry's lock, too much to repeat
    /// on every request.
    struct MetricKey: Hashable {
        let metric: String
        let first: String
        var second: String = ""
        var third: Int = 0
    }

    private let counters = Mutex<[MetricKey: CoreMetrics.Counter]>([:])
    private let timers = Mutex<[MetricKey: CoreMetrics.Timer]>([:])
    private let gauges = Mutex<[MetricKey: CoreMetrics.Gauge]>([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = factory
        // Which build answers: constant 1, its version a label.
        registry.makeGauge(name: "stockgate_build_info", labels: [("version", BuildInfo.version)]).set(Int64(1))
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

    func recordRequest(dialect: String, route: String, status: Int, duration: Duration) {
        let requests = MetricKey(metric: "stockgate_http_requests_total", first: dialect, second: route, third: status)
        cached(counters, requests) {
            CoreMetrics.Counter(
                label: requests.metric,
                dimensions: [("dialect", dialect), ("route", route), ("status", String(status))],
                factory: factory)
        }.increment()
        let durations = MetricKey(metric: "stockgate_http_request_duration_seconds", first: dialect, second: route)
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        cached(timers, durations) {
            CoreMetrics.Timer(
                label: durations.metric, dimensions: [("dialect", dialect), ("route", route)], factory: factory)
        }.recordNanoseconds(nanoseconds)
    }

    func recordMovementsApplied(dialect: String, count: Int) {
        guard count > 0 else { return }
        let key = MetricKey(metric: "stockgate_movements_applied_total", first: dialect)
        cached(counters, key) {
            CoreMetrics.Counter(label: key.metric, dimensions: [("dialect", dialect)], factory: factory)
        }.increment(by: count)
    }

    /// A backend's circuit breaker state: 0 closed, 1 open, 2 half-open.
    func recordCircuit(backend: String, state: Int) {
        let key = MetricKey(metric: "stockgate_backend_circuit_state", first: backend)
        cached(gauges, key) {
            CoreMetrics.Gauge(label: key.metric, dimensions: [("backend", backend)], factory: factory)
        }.record(state)
    }

    /// Forwarded movements whose outcome at a backend is unknown (journal state `sent`).
    func recordUnknownOutcomes(backend: String, count: Int) {
        let key = MetricKey(metric: "stockgate_unknown_outcomes", first: backend)
        cached(gauges, key) {
            CoreMetrics.Gauge(label: key.metric, dimensions: [("backend", backend)], factory: factory)
        }.record(count)
    }

    /// One request to a backend, by outcome (`ok`, `retried`, `failed`, `rejected`).
    func recordBackendCall(backend: String, outcome: String) {
        let key = MetricKey(metric: "stockgate_backend_requests_total", first: backend, second: outcome)
        cached(counters, key) {
            CoreMetrics.Counter(
                label: key.metric, dimensions: [("backend", backend), ("outcome", outcome)], factory: factory)
        }.increment()
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
