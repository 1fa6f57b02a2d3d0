import Foundation
import Gateway
import Logging
import ServiceLifecycle

#if OpenTelemetry
    import OTel
#endif

extension Serve {
    /// The span exporter, when this build has one (`--traits OpenTelemetry`) and the
    /// environment names an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; the other `OTEL_*` variables as the OpenTelemetry
    /// specification defines them). Traces only: metrics stay on `/metrics`, logs on stderr.
    /// Nil otherwise, and spans are not recorded.
    static func tracingService(environment: [String: String], logger: Logger) throws -> (any Service)? {
        let wanted =
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
        #if OpenTelemetry
            guard wanted else { return nil }
            var configuration = OTel.Configuration.default
            configuration.serviceName = "stockgate"
            configuration.metrics.enabled = false
            configuration.logs.enabled = false
            configuration.traces.otlpExporter.protocol = .httpJSON
            let service = try OTel.bootstrap(configuration: configuration, environment: environment)
            GatewayTracing.tracerBootstrapped()
            logger.notice("exporting spans over OTLP/HTTP")
            return service
        #else
            if wanted {
                logger.warning(
                    "OTEL_EXPORTER_OTLP_* is set, but this build has no exporter: build with --traits OpenTelemetry")
            }
            return nil
        #endif
    }
}
