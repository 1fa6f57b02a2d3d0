import Foundation
import Logging
import ServiceLifecycle
import StockCore

extension GatewayServer {
    /// Runs `gateway` on its configured address (port 0 picks a free one) for the duration of
    /// `body`, which receives the bound port; then shuts the server down gracefully.
    /// Used by the in-process contract runner and the tests.
    public static func withRunning<T: Sendable>(
        _ gateway: Gateway, logger: Logger, _ body: @Sendable (Int) async throws -> T
    ) async throws -> T {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = makeServer(gateway: gateway, logger: logger) { port in
            continuation.yield(port)
            continuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                do {
                    try await group.run()
                } catch {
                    continuation.finish()  // the server never ran: no port will come
                    throw error
                }
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else {
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                throw GatewayError.internalError("the server did not start")
            }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(port))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return try result.get()
        }
    }
}
