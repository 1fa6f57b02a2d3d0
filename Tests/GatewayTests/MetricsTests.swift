import AsyncHTTPClient
import CurlHTTP
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import Operations
import StockCore
import TestSupport
import Testing

/// `/metrics` as an operator's Prometheus reads it (issue 17): a HELP line for every family,
/// the process's own figures, backend call latency and calls in flight.
@Suite("Metrics")
struct MetricsTests {
    @Test("every family has HELP and TYPE; process figures; backend latency histogram and in-flight gauges")
    func exposition() async throws {
        let backend = FakeUpstream { _ in
            FakeUpstream.Answer(200, #"{"balances": []}"#)
        }
        try await backend.run { backendURL in
            let config = """
                backends:
                  - name: erp
                    dialect: stockgate
                    base_url: \(backendURL)
                routes:
                  stockgate: erp
                """
            try await LiveGateway.run(config: config, metrics: GatewayMetrics()) { live, _ in
                let base = live.baseURL
                // Before any call, the configured backend's series are there at zero.
                let first = try await HTTPClient.shared.send(.GET, base + "/metrics").text
                for series in [
                    #"stockgate_backend_requests_total{backend="erp",outcome="rejected"} 0"#,
                    #"stockgate_backend_requests_total{backend="erp",outcome="ok"} 0"#,
                    #"stockgate_backend_circuit_state{backend="erp"} 0"#,
                    #"stockgate_backend_request_duration_seconds_count{backend="erp"} 0"#,
                ] {
                    #expect(first.contains(series), "\(series): \(first)")
                }
                for _ in 0..<3 {
                    let read = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/balances")
                    #expect(read.status == 200, "\(read.text)")
                }
                let text = try await HTTPClient.shared.send(.GET, base + "/metrics").text
                let lines = text.split(separator: "\n").map(String.init)
                // Every family announced by TYPE has its HELP right before it.
                let types = lines.indices.filter { lines[$0].hasPrefix("# TYPE ") }
                #expect(types.count >= 12, "\(text)")
                for index in types {
                    let name = lines[index].split(separator: " ")[2]
                    #expect(index > 0 && lines[index - 1].hasPrefix("# HELP \(name) "), "no HELP for \(name)")
                }
                func value(_ series: String) -> Double? {
                    lines.first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
                }
                #expect(value(#"stockgate_backend_request_duration_seconds_count{backend="erp"}"#) == 3, "\(text)")
                #expect(value(#"stockgate_backend_requests_in_flight{backend="erp"}"#) == 0, "\(text)")
                #expect(value(#"stockgate_backend_requests_total{backend="erp",outcome="ok"}"#) == 3, "\(text)")
                // The scrape itself is the one request in flight.
                #expect(value("stockgate_http_requests_in_flight") == 1, "\(text)")
                let resident = try #require(value("process_resident_memory_bytes"), "\(text)")
                #expect(resident > 1_000_000)
                let started = try #require(value("process_start_time_seconds"))
                #expect(abs(started - Date().timeIntervalSince1970) < 24 * 3600, "\(started)")
                #expect(value("process_cpu_seconds_total").map { $0 > 0 } == true)
                #expect(value("process_open_fds").map { $0 > 3 } == true)
            }
        }
    }
}
