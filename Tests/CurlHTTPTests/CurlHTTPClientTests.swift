import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
import ThreadHandoff

@testable import CurlHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// The curl client's test server: the shared fake upstream with a script that can misbehave
/// on purpose — slow answers, large bodies, chunked bodies, echoes.
enum Upstream {
    static func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        try await serve { base, _ in try await body(base) }
    }

    /// The same, with the upstream itself: what it has received so far.
    static func serve<T: Sendable>(_ body: @Sendable (String, FakeUpstream) async throws -> T) async throws -> T {
        let upstream = FakeUpstream { request in
            let path = String(request.path.prefix { $0 != "?" })
            switch path {
            case "/hello": return .init(200, "hello", headers: [:])
            case "/slow": return .init(200, "late", headers: [:], delay: .seconds(3))
            // Late enough that its caller has surely suspended when the answer comes.
            case "/brief": return .init(200, "soon", headers: [:], delay: .milliseconds(50))
            case "/big": return .init(200, String(repeating: "x", count: 100_000), headers: [:])
            case "/chunked":
                return .init(200, String(repeating: "y", count: 50_000), headers: [:], delivery: .chunked(pieces: 50))
            case "/inspect":
                return .init(
                    200,
                    "\(request.method) body=\(request.body.utf8.count) custom=\(request.headers["x-custom"] ?? "-")",
                    headers: [:])
            case "/expect":
                return .init(200, "\(request.body.utf8.count) \(request.headers["expect"] ?? "-")", headers: [:])
            case "/agent":
                return .init(200, "\(request.method) \(request.headers["user-agent"] ?? "-")", headers: [:])
            case "/echo" where request.method == "POST":
                return .init(
                    201, request.body,
                    headers: [
                        "X-Method": request.method, "X-Seen-Custom": request.headers["x-custom"] ?? "-",
                        "X-Seen-Injected": request.headers["x-injected"] ?? "-",
                    ])
            default: return .init(404, "", headers: [:])
            }
        }
        return try await upstream.run { base in try await body(base, upstream) }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

func expectCurlError(
    _ code: CurlError.Code, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await body()
        Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
    } catch let error as CurlError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Sends `count` requests to `url` at once; how many new connections they opened in all.
func newConnections(_ client: CurlHTTPClient, _ url: String, count: Int) async throws -> Int {
    try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<count {
            group.addTask { try await client.execute(CurlRequest(url: url)).newConnections }
        }
        return try await group.reduce(0, +)
    }
}

@Suite("CurlHTTP client against a loopback upstream")
struct CurlHTTPClientTests {
    @Test("a connection is reused across requests")
    func reuse() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let first = try await client.execute(CurlRequest(url: base + "/hello"))
            let second = try await client.execute(CurlRequest(url: base + "/hello"))
            let third = try await client.execute(CurlRequest(url: base + "/hello"))
            await client.shutdown()
            #expect(first.status == 200 && String(decoding: first.body, as: UTF8.self) == "hello")
            #expect(first.newConnections == 1)
            #expect(second.newConnections == 0)
            #expect(third.newConnections == 0)
            #expect(first.httpVersion == "1.1")
        }
    }

    @Test(
        "connections opened under load stay kept when the load falls: a burst after requests one at a time reuses them all"
    )
    func keptAcrossLoad() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            // 16 requests at once, each held 50 ms by the upstream: 16 connections.
            let opened = try await newConnections(client, base + "/brief", count: 16)
            // Quiet: one transfer in flight at a time. libcurl's default cache holds 4 connections
            // per transfer in flight and closed the oldest on each of these.
            var quiet = 0
            for _ in 0..<20 { quiet += try await client.execute(CurlRequest(url: base + "/hello")).newConnections }
            let reopened = try await newConnections(client, base + "/brief", count: 16)
            await client.shutdown()
            // No more than 16 were ever in flight, so a client that keeps its connections never
            // opens more than 16 in all (on a loaded machine the first burst may open fewer, and
            // the second the rest).
            #expect(opened > 4, "the first burst did not run its requests side by side")
            #expect(
                opened + quiet + reopened <= 16,
                "opened \(opened), then \(quiet) one at a time, then \(reopened) again: connections were closed")
        }
    }

    @Test("kept connections never starve another host: at the limit, an idle one is closed to make room")
    func keptMakeRoom() async throws {
        try await Upstream.run { first in
            try await Upstream.run { second in
                let client = CurlHTTPClient(configuration: .init(maxConnectionsPerHost: 2, maxTotalConnections: 2))
                // Two at once to the first upstream: both connections of the limit, then idle.
                let opened = try await newConnections(client, first + "/brief", count: 2)
                let other = try await client.execute(CurlRequest(url: second + "/hello"))
                let back = try await client.execute(CurlRequest(url: first + "/hello"))
                await client.shutdown()
                #expect(opened == 2)
                #expect(other.status == 200 && other.newConnections == 1)
                // The first upstream's other connection was kept.
                #expect(back.status == 200 && back.newConnections == 0)
            }
        }
    }

    @Test("a request that asks for it lets its task go on on the client's thread; one that does not, not")
    func resumesOnClientThread() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            var granted: [Bool] = []
            for asked in [true, false, true] {
                let executor = GrantRecorder()
                var request = CurlRequest(url: base + "/brief")
                request.resumesOnClientThread = asked
                let status = try await Task(executorPreference: executor) {
                    try await client.execute(request).status
                }.value
                #expect(status == 200)
                granted.append(executor.grants.withLock { $0.contains(true) })
            }
            await client.shutdown()
            #expect(granted == [true, false, true])
        }
    }

    @Test("method, headers and body travel both ways")
    func echo() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let response = try await client.execute(
                CurlRequest(
                    method: .post, url: base + "/echo",
                    headerFields: [HTTPField.Name("X-Custom")!: "yes", .contentType: "application/json"],
                    body: Array(#"{"quantity": 0.1}"#.utf8)))
            await client.shutdown()
            #expect(response.status == 201)
            #expect(response.header("x-method") == "POST")
            #expect(response.header("X-Seen-Custom") == "yes")
            #expect(response.header("X-Not-Sent") == nil)
            // Every line in order, names as sent, values trimmed, the status line not among them.
            let lowered = response.headers.map { ($0.name.lowercased(), $0.value) }
            #expect(lowered.contains { $0 == ("x-method", "POST") })
            #expect(lowered.contains { $0 == ("x-seen-custom", "yes") })
            #expect(!response.headers.contains { $0.name.hasPrefix("HTTP/") || $0.value.hasSuffix("\r") })
            #expect(lowered.filter { $0.0 == "x-method" }.count == 1)
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"quantity": 0.1}"#)
        }
    }

    @Test(
        "the configured User-Agent goes with every method, a custom one (PUT, DELETE) as the method; a request's own User-Agent replaces it; none configured, none sent"
    )
    func agentAndMethods() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient(configuration: .init(userAgent: "probe/7 (StockGate test)"))
            var seen: [String] = []
            for method in [HTTPRequest.Method.put, .get, .delete, .post, .get] {
                let body: [UInt8]? = method == .get ? nil : Array("x".utf8)
                let response = try await client.execute(
                    CurlRequest(method: method, url: base + "/agent", body: body))
                seen.append(String(decoding: response.body, as: UTF8.self))
            }
            // A request that names its own User-Agent sends that one alone.
            var own = CurlRequest(url: base + "/agent")
            own.head.headerFields[.userAgent] = "mine/1"
            let named = try await client.execute(own)
            await client.shutdown()
            #expect(
                seen == ["PUT", "GET", "DELETE", "POST", "GET"].map { "\($0) probe/7 (StockGate test)" })
            #expect(String(decoding: named.body, as: UTF8.self) == "GET mine/1")
            // None configured: none sent.
            let silent = CurlHTTPClient(configuration: .init(userAgent: ""))
            let unnamed = try await silent.execute(CurlRequest(url: base + "/agent"))
            await silent.shutdown()
            #expect(String(decoding: unnamed.body, as: UTF8.self) == "GET -")
        }
    }

    @Test(
        "a body libcurl would announce with Expect: 100-continue goes without the round trip; a GET carries no Expect")
    func noExpect() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let posted = try await client.execute(
                CurlRequest(
                    method: .post, url: base + "/expect", body: Array(repeating: UInt8(ascii: "x"), count: 2_000_000)))
            let read = try await client.execute(CurlRequest(url: base + "/expect"))
            await client.shutdown()
            #expect(String(decoding: posted.body, as: UTF8.self) == "2000000 -")
            #expect(String(decoding: read.body, as: UTF8.self) == "0 -")
        }
    }

    @Test("many concurrent requests all complete")
    func concurrent() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<64 { group.addTask { try await client.execute(CurlRequest(url: base + "/hello")).status } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            await client.shutdown()
            #expect(statuses.count == 64 && statuses.allSatisfy { $0 == 200 })
        }
    }

    @Test("a refused connection is connectFailed")
    func refused() async throws {
        // A port bound but not listening: connections to it are refused, and since the socket
        // stays bound, no other test or process can take the port meanwhile (closing it first
        // left a window in which a test's own PostgreSQL once took it).
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
        }
        try #require(bound == 0)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let client = CurlHTTPClient()
        await expectCurlError(.connectFailed) {
            _ = try await client.execute(CurlRequest(url: "http://127.0.0.1:\(port)/"))
        }
        await client.shutdown()
    }

    @Test("a slow answer times out")
    func timeout() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient(configuration: .init(timeout: .milliseconds(300)))
            let started = ContinuousClock.now
            await expectCurlError(.timedOut) { _ = try await client.execute(CurlRequest(url: base + "/slow")) }
            #expect(ContinuousClock.now - started < .seconds(2))
            await client.shutdown()
        }
    }

    @Test("a response over the limit fails, announced or streamed")
    func tooLarge() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient(configuration: .init(maxResponseBytes: 10_000))
            await expectCurlError(.responseTooLarge) { _ = try await client.execute(CurlRequest(url: base + "/big")) }
            await expectCurlError(.responseTooLarge) {
                _ = try await client.execute(CurlRequest(url: base + "/chunked"))
            }
            let small = try await client.execute(CurlRequest(url: base + "/hello"))
            #expect(small.status == 200)
            await client.shutdown()
        }
    }

    @Test(
        "after an answer over the threshold, the engine thread releases its heap once idle for the set time; small answers do not"
    )
    func idleRelease() async throws {
        try await Upstream.run { base in
            let releases = Atomic<Int>(0)
            let release = IdleRelease(threshold: 50_000, idleMillis: 200) { releases.add(1, ordering: .relaxed) }
            let client = CurlHTTPClient(configuration: .init(), idleRelease: release)
            // 5 bytes: nothing follows.
            _ = try await client.execute(CurlRequest(url: base + "/hello"))
            try await Task.sleep(for: .milliseconds(500))
            #expect(releases.load(ordering: .relaxed) == 0)
            // 100,000 bytes: one release, not before the engine has been idle 200 ms.
            let big = try await client.execute(CurlRequest(url: base + "/big"))
            #expect(big.body.count == 100_000)
            #expect(releases.load(ordering: .relaxed) == 0)
            // Waited for, not timed: a loaded machine may run the engine thread late.
            let deadline = ContinuousClock.now + .seconds(5)
            while releases.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(releases.load(ordering: .relaxed) == 1)
            // Once released, idle time alone brings no other.
            try await Task.sleep(for: .milliseconds(400))
            #expect(releases.load(ordering: .relaxed) == 1)
            await client.shutdown()
        }
    }

    @Test("a reused easy handle carries nothing over: after a POST with a body and a header, a GET is plain")
    func handleReuse() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            // Sequential requests on one client: every request after the first gets the
            // previous request's handle back from the engine.
            for round in 0..<3 {
                let posted = try await client.execute(
                    CurlRequest(
                        method: .post, url: base + "/echo", headerFields: [HTTPField.Name("X-Custom")!: "r\(round)"],
                        body: Array("payload".utf8)))
                #expect(posted.status == 201)
                #expect(posted.header("X-Seen-Custom") == "r\(round)")
                #expect(posted.header("X-Method") == "POST")
                let plain = try await client.execute(CurlRequest(url: base + "/inspect"))
                #expect(String(decoding: plain.body, as: UTF8.self) == "GET body=0 custom=-")
            }
            await client.shutdown()
        }
    }

    @Test("a body several times libcurl's upload buffer arrives whole and in order, on a new handle and on reused ones")
    func largeBodyOnReusedHandles() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            // 100,000 bytes against a 16 KiB upload buffer; a GET between the rounds gets the
            // handle back reset, and the next POST must not write past a buffer of the old size.
            for round in 0..<3 {
                let body = (0..<100_000).map { UInt8(ascii: "a") + UInt8(($0 / 7 + round) % 26) }
                let posted = try await client.execute(CurlRequest(method: .post, url: base + "/echo", body: body))
                #expect(posted.status == 201)
                #expect(posted.body == body)
                let plain = try await client.execute(CurlRequest(url: base + "/inspect"))
                #expect(String(decoding: plain.body, as: UTF8.self) == "GET body=0 custom=-")
            }
            await client.shutdown()
        }
    }

    @Test("cancelling the calling task cancels the transfer")
    func cancellation() async throws {
        try await Upstream.serve { base, upstream in
            let client = CurlHTTPClient()
            let task = Task { try await client.execute(CurlRequest(url: base + "/slow")) }
            try await waitUntil("the request reaching the upstream") { upstream.requests.count == 1 }
            let started = ContinuousClock.now
            task.cancel()
            await expectCurlError(.cancelled) { _ = try await task.value }
            #expect(ContinuousClock.now - started < .seconds(2))
            await client.shutdown()
        }
    }

    @Test("shutdown fails what is in flight and refuses new work")
    func shutdown() async throws {
        try await Upstream.serve { base, upstream in
            let client = CurlHTTPClient()
            let inFlight = Task { try await client.execute(CurlRequest(url: base + "/slow")) }
            try await waitUntil("the request reaching the upstream") { upstream.requests.count == 1 }
            await client.shutdown()
            await expectCurlError(.shutdown) { _ = try await inFlight.value }
            await expectCurlError(.shutdown) { _ = try await client.execute(CurlRequest(url: base + "/hello")) }
            await client.shutdown()  // twice is fine
        }
    }

    @Test("a header value with a line break cannot smuggle in another header")
    func headerInjection() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let response = try await client.execute(
                CurlRequest(
                    method: .post, url: base + "/echo",
                    headerFields: [HTTPField.Name("X-Custom")!: "a\r\nX-Injected: yes"], body: Array("x".utf8)))
            await client.shutdown()
            #expect(response.status == 201)
            #expect(response.header("X-Seen-Injected") == "-")
            let seen = response.header("X-Seen-Custom") ?? ""
            #expect(seen.hasPrefix("a") && seen.hasSuffix("X-Injected: yes"))
            #expect(!seen.utf8.contains(0x0D) && !seen.utf8.contains(0x0A))
        }
    }
}

@Suite("Curl request URLs")
struct CurlRequestURLTests {
    @Test(
        "an absolute URL splits into scheme, authority and path, and back",
        arguments: [
            ("http://127.0.0.1:8080", "http", "127.0.0.1:8080", "/"),
            ("https://shop.example/api/v6/", "https", "shop.example", "/api/v6/"),
            ("http://h:1?limit=5", "http", "h:1", "/?limit=5"),
            ("http://[::1]:9/x/y?z=1#", "http", "[::1]:9", "/x/y?z=1#"),
        ])
    func split(_ url: String, _ scheme: String, _ authority: String, _ path: String) {
        let request = CurlRequest(url: url)
        #expect(request.head.scheme == scheme)
        #expect(request.head.authority == authority)
        #expect(request.head.path == path)
        #expect(request.url == scheme + "://" + authority + path)
    }
}

/// libcurl resends a request by itself when a reused connection closes before any byte of the
/// answer (Curl_retry_request). For a write that is a second application at a backend that
/// applied the first and then dropped the connection: the client must fail instead.
@Suite("CurlHTTP never resends a write on its own")
struct CurlNoResendTests {
    /// Answers every request on a new connection; on a reused one, reads the request whole
    /// and closes without answering.
    static func upstream() throws -> RawUpstream {
        try RawUpstream { request in
            request.indexOnConnection == 0 ? .answer(200, #"{"ok": true}"#) : .dropConnection
        }
    }

    @Test(
        "a POST or PUT on a reused connection that closes after reading it is sent once and fails",
        arguments: [
            HTTPRequest.Method.post, .put,
        ])
    func writeNotResent(method: HTTPRequest.Method) async throws {
        let upstream = try Self.upstream()
        try await upstream.run { base in
            let client = CurlHTTPClient()
            let first = try await client.execute(
                CurlRequest(method: method, url: base + "/write", body: Array(#"{"n": 1}"#.utf8)))
            #expect(first.status == 200)
            await expectCurlError(.transfer) {
                _ = try await client.execute(
                    CurlRequest(method: method, url: base + "/write", body: Array(#"{"n": 2}"#.utf8)))
            }
            await client.shutdown()
            let writes = upstream.received.filter { $0.method == method.rawValue }
            #expect(writes.map(\.body) == [#"{"n": 1}"#, #"{"n": 2}"#], "the second write arrived once")
            #expect(writes.map(\.indexOnConnection) == [0, 1])
        }
    }

    @Test("the failure says the request went out and was not sent again")
    func failureMessage() async throws {
        let upstream = try Self.upstream()
        try await upstream.run { base in
            let client = CurlHTTPClient()
            _ = try await client.execute(CurlRequest(method: .post, url: base + "/w", body: Array("a".utf8)))
            do {
                _ = try await client.execute(CurlRequest(method: .post, url: base + "/w", body: Array("b".utf8)))
                Issue.record("the dropped write succeeded")
            } catch let error as CurlError {
                #expect(error.message.contains("not sent again"), "\(error)")
            }
            await client.shutdown()
        }
    }

    @Test("a GET in the same situation is sent again on a new connection and answered (reads may repeat)")
    func readResent() async throws {
        let upstream = try Self.upstream()
        try await upstream.run { base in
            let client = CurlHTTPClient()
            _ = try await client.execute(CurlRequest(url: base + "/read"))
            let second = try await client.execute(CurlRequest(url: base + "/read"))
            await client.shutdown()
            #expect(second.status == 200)
            #expect(upstream.received.map(\.indexOnConnection) == [0, 1, 0])
        }
    }

    @Test("a write reuses a connection used in the last second, and opens a new one after ~2 s idle; a read reuses it")
    func writeAfterIdleOpensConnection() async throws {
        try await Upstream.run { base in
            let client = CurlHTTPClient()
            let warm = try await client.execute(CurlRequest(method: .post, url: base + "/echo", body: Array("1".utf8)))
            let soon = try await client.execute(CurlRequest(method: .post, url: base + "/echo", body: Array("2".utf8)))
            try await Task.sleep(for: .milliseconds(2500))
            let read = try await client.execute(CurlRequest(url: base + "/hello"))
            try await Task.sleep(for: .milliseconds(2500))
            let late = try await client.execute(CurlRequest(method: .post, url: base + "/echo", body: Array("3".utf8)))
            await client.shutdown()
            #expect(warm.newConnections == 1)
            #expect(soon.newConnections == 0)
            #expect(read.newConnections == 0, "a read reuses an idle connection")
            #expect(late.newConnections == 1, "a write after 2.5 s idle opens a new connection")
            #expect(String(decoding: late.body, as: UTF8.self) == "3")
        }
    }
}

/// A task executor that runs jobs on a queue of its own and records, for each, whether the
/// enqueuing thread granted it a step there (`Handoff`): what a request's executor asks.
final class GrantRecorder: TaskExecutor, @unchecked Sendable {
    let grants = Mutex<[Bool]>([])
    private let queue = DispatchQueue(label: "grant-recorder")

    func enqueue(_ job: consuming ExecutorJob) {
        let granted = Handoff.take()
        grants.withLock { $0.append(granted) }
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The gateway hands the client a URL it made (a backend's base and a codec's path); a byte that
/// does not belong in a URL must not reach the backend in any form.
@Suite("CurlHTTP refuses a URL that is not one")
struct CurlURLTests {
    @Test(
        "a control character, a space or a NUL in the path is refused and nothing is sent",
        arguments: ["\r\nX-Injected: 1", " HTTP/1.0", "\t", "\u{7F}", "\u{0}", "\u{0}/other", "\n"])
    func refused(_ inserted: String) async throws {
        let upstream = try RawUpstream { _ in .answer(200, "{}") }
        try await upstream.run { base in
            let client = CurlHTTPClient()
            let head = HTTPRequest(method: .get, scheme: nil, authority: nil, path: nil)
            await expectCurlError(.invalidRequest) {
                _ = try await client.execute(CurlRequest(head, url: base + "/items" + inserted + "x"))
            }
            // The same client still sends a good URL, and only that one arrives.
            let answer = try await client.execute(CurlRequest(head, url: base + "/items%0D%0Ax"))
            #expect(answer.status == 200)
            await client.shutdown()
            #expect(upstream.received.map(\.path) == ["/items%0D%0Ax"])
        }
    }
}
