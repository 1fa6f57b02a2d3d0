import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import StockCore
import TestSupport
import Testing

/// Whether this build has the `OpenTelemetry` trait (`make test` builds with it; the binary and
/// the tests are built together, with the same traits).
#if OpenTelemetry
    let binaryExportsSpans = true
#else
    let binaryExportsSpans = false
#endif

/// Issue 33, point 5: traces leave the process. The binary, built with the `OpenTelemetry`
/// trait, sends its spans over OTLP/HTTP (JSON) to a receiver on loopback: the request's server
/// span continues the caller's trace, the store's work and the backend call are its children,
/// and the backend is told the client span as its parent.
@Suite(
    "Spans exported over OTLP", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt),
    .enabled(if: binaryExportsSpans, "needs a build with --traits OpenTelemetry (make test builds one)"))
struct TraceExportTests {
    @Test("server, store and client spans, one trace from the caller to the backend")
    func exported() async throws {
        let collector = FakeUpstream { _ in FakeUpstream.Answer(200, "{}") }
        let backend = FakeUpstream { _ in FakeUpstream.Answer(204, "") }
        try await collector.run { collectorURL in
            try await backend.run { backendURL in
                let directory = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: directory) }
                var environment = ProcessInfo.processInfo.environment
                environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = collectorURL
                environment["OTEL_BSP_SCHEDULE_DELAY"] = "100"
                let (process, port) = try await StockGateProcess.startRouted(
                    to: "zettle-v3", at: backendURL, directory: directory, environment: environment)
                defer { process.terminate() }
                let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
                let moved = try await HTTPClient.shared.send(
                    .POST, "http://127.0.0.1:\(port)/stockgate/v1/movements",
                    body:
                        #"{"movements": [{"product": "tshirt-blue-m", "quantity": 2, "from": "supplier", "to": "shop-floor"}]}"#,
                    headers: [("traceparent", "00-\(trace)-00f067aa0ba902b7-01")])
                #expect(moved.status == 200, "\(moved.text)")
                // All three: the client span ends first and may leave in an earlier batch than
                // the spans around it (the export runs every 100 ms).
                try await waitUntil(timeout: .seconds(15), "spans exported") {
                    let spans = Self.spans(collector).filter { $0.trace == trace }
                    return spans.contains { $0.kind == 3 } && spans.contains { $0.kind == 2 }
                        && spans.contains { $0.name == "stockgate.move" }
                }
                let spans = Self.spans(collector).filter { $0.trace == trace }
                let server = try #require(spans.first { $0.kind == 2 }, "\(Self.spans(collector))")
                let store = try #require(spans.first { $0.name == "stockgate.move" }, "\(spans)")
                let client = try #require(spans.first { $0.kind == 3 }, "\(spans)")
                #expect(server.parent == "00f067aa0ba902b7", "the caller's span is the server span's parent")
                #expect(store.parent == server.id && client.parent == store.id, "\(spans)")
                #expect(server.name == "POST /stockgate/v1/movements")
                // The backend was told the client span as its parent.
                let sent = try #require(backend.requests.first)
                let parent = sent.headers.first { $0.key.lowercased() == "traceparent" }?.value
                #expect(parent == "00-\(trace)-\(client.id)-01", "\(sent.headers)")
            }
        }
    }

    struct ExportedSpan: CustomStringConvertible {
        var trace: String
        var id: String
        var parent: String
        var name: String
        var kind: Int
        var description: String { "\(name) kind \(kind) \(id) ← \(parent)" }
    }

    /// An id as lowercase hex. The OTLP/JSON specification writes ids as hex; swift-otel 1.6
    /// writes them in protobuf's JSON form for bytes, base64 — both are read.
    static func hex(_ text: String) -> String {
        if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let data = Data(base64Encoded: text) else { return text }
        return data.map { String(format: "%02x", $0) }.joined()
    }

    /// Every span the collector received (OTLP/HTTP JSON).
    static func spans(_ collector: FakeUpstream) -> [ExportedSpan] {
        collector.requests.filter { $0.path.hasSuffix("/v1/traces") }.flatMap { request -> [ExportedSpan] in
            guard let json = try? JSONParser.parse(request.body) else { return [] }
            return (json["resourceSpans"]?.arrayValue ?? []).flatMap { resource in
                (resource["scopeSpans"]?.arrayValue ?? []).flatMap { scope in
                    (scope["spans"]?.arrayValue ?? []).compactMap { span in
                        guard let trace = span["traceId"]?.stringValue, let id = span["spanId"]?.stringValue,
                            let name = span["name"]?.stringValue
                        else { return nil }
                        let kind = span["kind"]?.numberText.flatMap { Int($0) } ?? 0
                        return ExportedSpan(
                            trace: hex(trace), id: hex(id), parent: span["parentSpanId"]?.stringValue.map(hex) ?? "",
                            name: name, kind: kind)
                    }
                }
            }
        }
    }
}
