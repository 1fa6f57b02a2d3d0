import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

/// W3C Trace Context (issue 17): a caller's `traceparent` continues at the backend, this hop
/// its parent span; `tracestate` travels as sent; a malformed header is not passed on.
@Suite("Trace context")
struct TraceContextTests {
    @Test("traceparent reaches a recording backend as a child span of the caller's trace")
    func forwarded() async throws {
        let upstream = FakeUpstream { _ in FakeUpstream.Answer(200, #"{"status": "ok", "id": 7}"#) }
        try await upstream.run { base in
            try await withCurlClient(.init(timeout: .seconds(10))) { client in
                try await withForwardingGateway(dialect: "open2b-v6", baseURL: base, client: client) { port, _ in
                    let url = "http://127.0.0.1:\(port)/api/v2/public/stores/1001/storeproductlocation/movement"
                    let body =
                        #"[{"product_number": "100200", "quantity": 1, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
                    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                    for headers in [
                        [("traceparent", parent), ("tracestate", "congo=t61rcWkgMzE")],
                        [("traceparent", parent.uppercased())], [],
                    ] {
                        let answer = try await HTTPClient.shared.send(.POST, url, body: body, headers: headers)
                        #expect(answer.status == 200, "\(answer.text)")
                    }
                    let sent = upstream.requests
                    try #require(sent.count == 3)
                    let forwarded = try #require(sent[0].headers["traceparent"].flatMap(TraceParent.init))
                    #expect(forwarded.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
                    #expect(forwarded.parentID != "00f067aa0ba902b7" && forwarded.parentID.count == 16)
                    #expect(forwarded.flags == "01")
                    #expect(sent[0].headers["tracestate"] == "congo=t61rcWkgMzE")
                    #expect(sent[1].headers["traceparent"] == nil, "a malformed traceparent is not passed on")
                    #expect(sent[2].headers["traceparent"] == nil)
                }
            }
        }
    }

    @Test(
        "traceparent is read as the W3C spec says",
        arguments: [
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
            ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
            ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
            ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false),
            ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true),
            ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
        ])
    func parsing(_ header: String, _ valid: Bool) {
        #expect((TraceParent(header) != nil) == valid, "\(header)")
    }
}
