import AsyncHTTPClient
import Foundation
import Ledger
import NIOHTTP1
import StockCore
import Testing

@testable import Gateway

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP client that can send part of a request and wait: what a slow or hostile client does.
final class RawClient: @unchecked Sendable {
    // @unchecked: the socket is used by one test at a time, from one thread at a time.
    let socket: Int32

    init(port: Int, timeoutSeconds: Int = 10) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(socket, $0, strlen($0), 0) }
    }

    func send(bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Says nothing more will be sent (half-close), so the server sees the end of the input.
    func finishSending() {
        shutdown(socket, Int32(SHUT_WR))
    }

    /// Everything until the peer closes or the receive timeout passes (at most `limit` bytes).
    func readToEnd(limit: Int = 1_000_000) -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < limit {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Everything until the peer closes its side (`closed`) or the receive timeout passes.
    func readUntilClosed(limit: Int = 1_000_000) -> (text: String, closed: Bool) {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < limit {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 { return (String(decoding: output, as: UTF8.self), true) }
            if count < 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return (String(decoding: output, as: UTF8.self), false)
    }

    /// Reads exactly up to the first blank line (one response head, e.g. `100 Continue`).
    func readHead() -> String {
        var output: [UInt8] = []
        var byte: UInt8 = 0
        while !output.suffix(4).elementsEqual([13, 10, 13, 10]), recv(socket, &byte, 1, 0) == 1 { output.append(byte) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Sends `bytes` over and over until the peer has closed the socket (true: a send failed
    /// with a reset or a broken pipe) or `seconds` pass (false).
    func sendsFailWithin(seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        let deadline = Date().addingTimeInterval(Double(seconds))
        while Date() < deadline {
            let sent = chunk.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && (errno == EPIPE || errno == ECONNRESET) { return true }
            if sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
            usleep(10_000)
        }
        return false
    }

    /// Reads until the peer closes or the receive timeout passes.
    func readAll() -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if String(decoding: output, as: UTF8.self).contains("\r\n\r\n{") && output.last == UInt8(ascii: "}") {
                break
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    deinit { close(socket) }
}

/// Runs blocking work on a thread of its own, so the cooperative pool (two threads on this
/// machine) stays free for the server under test.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

@Suite("Limits")
struct LimitsTests {
    @Test("a body that does not arrive in time is answered 408 in the dialect's envelope")
    func slowBody() async throws {
        try await LiveGateway.run(configure: { $0.requestTimeout = 0.5 }) { live in
            let client = try RawClient(port: live.port)
            client.send(
                "POST /api/v2/public/stores/1001/storeproductlocation/movement HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"product"
            )
            let started = ContinuousClock.now
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains(#""success":false"#))
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    static let canonicalWrite =
        #"{"movements": [{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}]}"#
    static let canonicalOK =
        #"{"atomic": false, "applied": 1, "failed": 0, "results": [{"index": 0, "status": "applied", "movement": {"id": 1}}]}"#

    @Test("bodies that trickle in, or never finish, hold no slot: every dialect still answers")
    func slowBodiesHoldNoSlot() async throws {
        try await LiveGateway.run(configure: {
            $0.maxConcurrentRequests = 2
            $0.requestTimeout = 5
        }) { live in
            let paths = [
                "/stockgate/v1/movements", "/api/v2/public/stores/1001/storeproductlocation/movement",
                "/stocklocations/create-transfers", "/api/v6/commerce.movements.create",
                "/open2b/api/v3/commerce.movements.create",
                "/organizations/self/v2/inventory/bulk",
            ]
            var holders: [RawClient] = []
            for path in paths {
                let holder = try RawClient(port: live.port)
                holder.send(
                    "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n["
                )
                holders.append(holder)
            }
            try await Task.sleep(for: .milliseconds(200))
            let read = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/balances")
            #expect(read.status == 200)
            let write = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: Self.canonicalWrite)
            #expect(write.status == 200)
            let zettle = try await HTTPClient.shared.send(.GET, live.baseURL + "/organizations/self/locations")
            #expect(zettle.status == 200)
            #expect(holders.count == paths.count)
        }
    }

    @Test(
        "writes waiting on a slow backend fill at most three quarters of the slots: more writes 429, reads still answered"
    )
    func readsNotStarved() async throws {
        let upstream = RecordingUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5),
                configure: { $0.maxConcurrentRequests = 4 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<3 {
                        group.addTask { try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite).status }
                    }
                    try await Task.sleep(for: .milliseconds(500))
                    let refused = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite)
                    #expect(refused.status == 429)
                    #expect(refused.json?["error"]?["code"] == "tooManyRequests")
                    #expect(refused.headers.first(name: "Retry-After") == "1")
                    let open2bWrite = try await HTTPClient.shared.send(
                        .POST, live.baseURL + "/api/v6/commerce.movements.create",
                        body: #"{"movement": {"sku": "sku5", "adjustment": "1.00"}}"#)
                    #expect(open2bWrite.text == "429 Too Many Requests")
                    // Reads: an Open2b count (a POST, but a read) and a Colleqtive list.
                    let count = try await HTTPClient.shared.send(
                        .POST, live.baseURL + "/api/v6/commerce.movements.count", body: "{}")
                    #expect(count.json?["status"] == "ok", "\(count.text)")
                    let stores = try await HTTPClient.shared.send(.GET, live.baseURL + "/api/v2/public/stores")
                    #expect(stores.status == 200)
                    for try await status in group { #expect(status == 200) }
                }
            }
        }
    }

    @Test("/healthz says busy (503) while every request slot is taken, and ok again after")
    func healthWhenSaturated() async throws {
        let upstream = RecordingUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5),
                configure: { $0.maxConcurrentRequests = 1 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                let before = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(before.status == 200)
                let write = Task { try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite).status }
                try await Task.sleep(for: .milliseconds(500))
                let during = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(during.status == 503, "\(during.text)")
                #expect(during.json?["reason"]?.stringValue?.contains("every request slot is taken") == true)
                #expect(try await write.value == 200)
                let after = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
                #expect(after.status == 200)
            }
        }
    }

    @Test("with clients configured, one client cannot take more than half the slots")
    func perClientShare() async throws {
        let upstream = RecordingUpstream(delay: { _ in .milliseconds(1500) }) { _ in (200, Self.canonicalOK) }
        let clients = ClientAuthenticator(clients: [
            .init(name: "greedy", secret: Secret("greedy-secret"), dialects: ["stockgate"]),
            .init(name: "other", secret: Secret("other-secret"), dialects: ["stockgate"]),
        ])
        try await upstream.run { base in
            try await UntrustedBackendTests.withRoutedGateway(
                "stockgate", to: "stockgate", base: base, timeout: .seconds(5), clients: clients,
                configure: { $0.maxConcurrentRequests = 4 }
            ) { live in
                let url = live.baseURL + "/stockgate/v1/movements"
                let greedy = [("Authorization", "Bearer greedy-secret")]
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite, headers: greedy)
                                .status
                        }
                    }
                    try await Task.sleep(for: .milliseconds(500))
                    let third = try await HTTPClient.shared.send(.POST, url, body: Self.canonicalWrite, headers: greedy)
                    #expect(third.status == 429)
                    let other = try await HTTPClient.shared.send(
                        .POST, url, body: Self.canonicalWrite, headers: [("Authorization", "Bearer other-secret")])
                    #expect(other.status == 200)
                    for try await status in group { #expect(status == 200) }
                }
            }
        }
    }

    @Test("the admission state machine")
    func admissionStateMachine() {
        var admission = Admission(limit: 4, clients: 2)
        func take(_ write: Bool, _ client: String?) -> Bool { admission.admit(write: write, client: client) }
        #expect(take(true, "a"))
        #expect(take(true, "a"))
        #expect(!take(true, "a"))  // half the slots per client
        #expect(take(true, "b"))
        #expect(!take(true, "b"))  // three quarters for writes
        #expect(take(false, "b"))
        #expect(!take(false, nil))  // all taken
        admission.release(write: true, client: "a")
        #expect(take(false, nil))
        #expect(admission.total == 4)
        var single = Admission(limit: 1, clients: 0)
        let first = single.admit(write: true, client: nil)
        let second = single.admit(write: false, client: nil)
        #expect(first && !second)
    }

    @Test(
        "a body of millions of tiny values is refused 413 before it is built: in an array, and in a field Zettle ignores"
    )
    func manyValues() async throws {
        let empties = "[" + Array(repeating: "{}", count: 1_300_000).joined(separator: ",") + "]"  // ~3.9 MiB
        try await LiveGateway.run { live in
            let colleqtive = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/api/v2/public/stores/1001/storeproductlocation/movement", body: empties)
            #expect(colleqtive.status == 413)
            #expect(colleqtive.json?["success"] == false)
            let zettle =
                #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 5}], "padding": \#(empties)}"#
            let ignored = try await HTTPClient.shared.send(
                .PUT, live.baseURL + "/organizations/self/inventory", body: zettle)
            #expect(ignored.status == 413)
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
        // The limit is the parser's: a document within it parses, one past it is refused as too many values.
        let within = Array(("[" + Array(repeating: "{}", count: 9).joined(separator: ",") + "]").utf8)
        #expect(throws: Never.self) { try JSONParser.parse(within, maxValues: 10) }
        let past = Array(("[" + Array(repeating: "{}", count: 10).joined(separator: ",") + "]").utf8)
        #expect { try JSONParser.parse(past, maxValues: 10) } throws: { ($0 as? JSONParseError)?.tooManyValues == true }
    }

    @Test("a batch over max_batch_items is refused, naming the limit")
    func batchLimit() async throws {
        try await LiveGateway.run(configure: { $0.maxBatchItems = 2 }) { live in
            let item = #"{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}"#
            let result = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: #"{"movements": [\#(item), \#(item), \#(item)]}"#
            )
            #expect(result.status == 400)
            #expect(result.json?["error"]?["field"] == "items")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }
}
