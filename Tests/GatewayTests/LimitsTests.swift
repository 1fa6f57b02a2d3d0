import AsyncHTTPClient
import Foundation
import Gateway
import NIOHTTP1
import StockCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP client that can send part of a request and wait: what a slow or hostile client does.
final class RawClient: @unchecked Sendable {
    // @unchecked: the socket is used by one test at a time, from one thread at a time.
    let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        _ = text.withCString { Glibc.send(socket, $0, strlen($0), 0) }
    }

    /// Reads until the peer closes or the receive timeout passes.
    func readAll() -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if String(decoding: output, as: UTF8.self).contains("\r\n\r\n{") && output.last == UInt8(ascii: "}") { break }
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
            client.send("POST /api/v2/public/stores/1001/storeproductlocation/movement HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"product")
            let started = ContinuousClock.now
            let answer = await offPool { client.readAll() }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
            #expect(answer.contains(#""success":false"#))
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }

    @Test("more requests at once than allowed are answered 429")
    func concurrency() async throws {
        try await LiveGateway.run(configure: {
            $0.maxConcurrentRequests = 1
            $0.requestTimeout = 3
        }) { live in
            // One request holds the only slot while its body trickles in.
            let holder = try RawClient(port: live.port)
            holder.send("POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            try await Task.sleep(for: .milliseconds(200))
            let refused = try await HTTPClient.shared.send(.GET, live.baseURL + "/stockgate/v1/balances")
            #expect(refused.status == 429)
            #expect(refused.json?["error"]?["code"] == "tooManyRequests")
            let open2b = try await HTTPClient.shared.send(.POST, live.baseURL + "/api/v6/commerce.movements.count", body: "{}")
            #expect(open2b.status == 429)
            #expect(open2b.text == "429 Too Many Requests")
        }
    }

    @Test("a batch over max_batch_items is refused, naming the limit")
    func batchLimit() async throws {
        try await LiveGateway.run(configure: { $0.maxBatchItems = 2 }) { live in
            let item = #"{"product": "mug-white", "quantity": 1, "from": "supplier", "to": "shop-floor"}"#
            let result = try await HTTPClient.shared.send(
                .POST, live.baseURL + "/stockgate/v1/movements", body: #"{"movements": [\#(item), \#(item), \#(item)]}"#)
            #expect(result.status == 400)
            #expect(result.json?["error"]?["field"] == "items")
            #expect(try await live.ledger.count(MovementQuery()) == 0)
        }
    }
}
