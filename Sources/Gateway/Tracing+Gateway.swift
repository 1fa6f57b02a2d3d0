import Dialects
import HTTPTypes
import StockCore
import Synchronization
import Tracing

/// Spans for whatever tracer the process bootstrapped (`stockgate serve` built with the
/// `OpenTelemetry` trait and an `OTEL_EXPORTER_OTLP_*` endpoint: swift-otel; otherwise the
/// no-op tracer, and nothing is recorded). A server span per request continues the caller's
/// W3C trace context; a client span per backend call is its child and is what the backend is
/// told as its parent; the store's write is a span of its own.
public enum GatewayTracing {
    /// Whether a tracer records anything: without one (the default build, or no OTLP endpoint)
    /// the request path opens no span at all, and pays for none. Read from a flag set once
    /// when the process bootstraps its tracer (`tracerBootstrapped`): asking
    /// `InstrumentationSystem.tracer` walks the bootstrapped instruments with dynamic casts,
    /// ~7,000 instructions per read request for three asks (callgrind).
    static var recording: Bool { recordingFlag.load(ordering: .relaxed) }
    private static let recordingFlag = Atomic<Bool>(false)

    /// Called once the process has bootstrapped `InstrumentationSystem` (before it serves):
    /// spans are recorded from then on if the tracer is not the no-op one.
    public static func tracerBootstrapped() {
        recordingFlag.store(!(InstrumentationSystem.tracer is NoOpTracer), ordering: .relaxed)
    }

    /// The caller's trace context (already checked by `TraceContext`) as a service context.
    static func context(traceparent: String?, tracestate: String?) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let traceparent else { return context }
        var carrier = ["traceparent": traceparent]
        if let tracestate { carrier["tracestate"] = tracestate }
        InstrumentationSystem.instrument.extract(carrier, into: &context, using: DictionaryExtractor())
        return context
    }

    /// Writes the current span's context into outbound headers, when a tracer has one to give
    /// (`traceparent`, `tracestate`); the no-op tracer writes nothing.
    static func inject(into fields: inout HTTPFields) {
        guard let context = ServiceContext.current else { return }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: DictionaryInjector())
        for (name, value) in carrier {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
