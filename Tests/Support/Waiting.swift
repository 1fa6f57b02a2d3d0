import Foundation

/// Runs blocking work on a thread of its own, so the cooperative pool (two threads on this
/// machine) stays free for the server under test.
public func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// Waits until `condition` holds, checking every few milliseconds: for waiting until something
/// has happened (a request arrived, a task is parked), never for time to pass. Fails after
/// `timeout`, which only a broken test reaches.
public func waitUntil(
    timeout: Duration = .seconds(10), _ what: String = "the condition",
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(description: "\(what) did not happen") }
        try await Task.sleep(for: .milliseconds(2))
    }
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public var description: String
}
