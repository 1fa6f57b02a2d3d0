import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Logging
import ServiceLifecycle
import StockCore
import Synchronization
import TestSupport
import Testing

@testable import Gateway

/// A backend that holds every command until released: a request kept in flight on purpose.
final class HeldBackend: StockBackend {
    let entered = Atomic<Int>(0)
    private let released = Mutex<[CheckedContinuation<Void, Never>]?>([])

    func execute(_ command: Command, facts: RequestFacts) async throws -> Outcome {
        entered.add(1, ordering: .relaxed)
        await withCheckedContinuation { continuation in
            let now = released.withLock { waiting -> Bool in
                guard waiting != nil else { return true }
                waiting?.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        return .balances([])
    }

    func release() {
        let waiting = released.withLock { waiting in
            defer { waiting = nil }
            return waiting ?? []
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// A server for `gateway` in a service group of its own, running until the group is shut
/// down: its port, the group, and the task that returns once every connection has closed.
func startServer(_ gateway: Gateway) async throws -> (port: Int, group: ServiceGroup, running: Task<Void, any Error>) {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let server = GatewayServer.makeServer(gateway: gateway, logger: quietLogger) { port in
        continuation.yield(port)
        continuation.finish()
    }
    let group = ServiceGroup(configuration: .init(services: [server], logger: quietLogger))
    let running = Task { try await group.run() }
    var iterator = ports.makeAsyncIterator()
    let port = try #require(await iterator.next())
    return (port, group, running)
}

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("a request in flight when shutdown begins is answered, after the listener has closed")
    func inFlightAnswered() async throws {
        let backend = HeldBackend()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = Gateway(
            configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
            backend: backend, logger: quietLogger)
        let (port, group, running) = try await startServer(gateway)
        let base = "http://127.0.0.1:\(port)"
        let inFlight = Task {
            try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/balances?location=shop-floor")
        }
        try await waitUntil("the request reached the backend") { backend.entered.load(ordering: .relaxed) == 1 }
        await group.triggerGracefulShutdown()
        // Shutdown has begun (the listener is closed) while the request is still held.
        try await waitUntil("the listener closed") { (try? RawClient(port: port)) == nil }
        #expect(backend.entered.load(ordering: .relaxed) == 1)
        backend.release()
        let answer = try await inFlight.value
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json?["balances"] != nil)
        try await running.value  // returns once every connection is closed
    }

    @Test("kept-alive connections whose last answer was given at once (404, /metrics, /Token) close at shutdown")
    func idleConnectionsClose() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gateway = Gateway(
            configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
            backend: HeldBackend(), logger: quietLogger)
        let (port, group, running) = try await startServer(gateway)
        var clients: [RawClient] = []
        for request in [
            "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST /Token HTTP/1.1\r\nHost: a\r\nContent-Length: 19\r\n\r\ngrant_type=password",
        ] {
            let client = try RawClient(port: port, timeoutSeconds: 10)
            client.send(request)
            let head = await offPool { client.readHead() }
            #expect(head.hasPrefix("HTTP/1.1 "), "\(head)")
            clients.append(client)
        }
        await group.triggerGracefulShutdown()
        // The server returns once every connection is closed: long before the 60 s idle timeout.
        let started = ContinuousClock.now
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(10))
        for client in clients {
            let (_, closed) = await offPool { client.readUntilClosed() }
            #expect(closed)
        }
    }
}
