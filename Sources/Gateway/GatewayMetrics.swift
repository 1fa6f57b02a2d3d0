import CoreMetrics
import Foundation
import Prometheus

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

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    func recordRequest(dialect: String, route: String, status: Int, duration: Duration) {
        CoreMetrics.Counter(
            label: "stockgate_http_requests_total",
            dimensions: [("dialect", dialect), ("route", route), ("status", String(status))], factory: factory
        ).increment()
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        CoreMetrics.Timer(
            label: "stockgate_http_request_duration_seconds", dimensions: [("dialect", dialect), ("route", route)],
            factory: factory
        ).recordNanoseconds(nanoseconds)
    }

    func recordMovementsApplied(dialect: String, count: Int) {
        guard count > 0 else { return }
        CoreMetrics.Counter(
            label: "stockgate_movements_applied_total", dimensions: [("dialect", dialect)], factory: factory
        ).increment(by: count)
    }

    /// A backend's circuit breaker state: 0 closed, 1 open, 2 half-open.
    func recordCircuit(backend: String, state: Int) {
        CoreMetrics.Gauge(label: "stockgate_backend_circuit_state", dimensions: [("backend", backend)], factory: factory)
            .record(state)
    }

    /// One request to a backend, by outcome (`ok`, `retried`, `failed`, `rejected`).
    func recordBackendCall(backend: String, outcome: String) {
        CoreMetrics.Counter(
            label: "stockgate_backend_requests_total", dimensions: [("backend", backend), ("outcome", outcome)],
            factory: factory
        ).increment()
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
