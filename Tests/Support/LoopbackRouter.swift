import Hummingbird
import Logging
import ServiceLifecycle

/// Serves `router` on `127.0.0.1:<free port>` for the duration of `body`, which gets the
/// base URL; then shuts the server down gracefully, and cancels it only if handlers are still
/// running after a few seconds (a fake backend that never answers). The harness of every fake
/// upstream in the tests.
///
/// Cancelling a server that holds an accepted connection it has not started serving traps in
/// NIO ("Deinited NIOAsyncWriter without calling finish()", apple/swift-nio#3481), so
/// cancelling is the last resort, never the routine.
public func withRouter<T: Sendable>(
    _ router: Router<BasicRequestContext>,
    logger: Logger = Logger(label: "test.upstream", factory: { _ in SwiftLogNoOpLogHandler() }),
    _ body: @Sendable (String) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        }, logger: logger)
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let result: Result<T, any Error>
        do { result = .success(try await body("http://127.0.0.1:\(port)")) } catch { result = .failure(error) }
        await group.triggerGracefulShutdown()
        tasks.addTask { try await Task.sleep(for: .seconds(5)) }  // the watchdog
        _ = try? await tasks.next()  // the server, once its graceful shutdown is done, or the watchdog
        tasks.cancelAll()
        try? await tasks.waitForAll()
        return try result.get()
    }
}
