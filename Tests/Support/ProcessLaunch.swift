import Foundation
import Synchronization

/// Starts a child process, one at a time across the whole test run.
///
/// Foundation's `Process.run()` on Linux has open bugs when processes are started from several
/// threads at once (swift-corelibs-foundation #4772, #4795, #4810), and suites run in parallel:
/// one run here crashed with a bad pointer in a `memmove` inside `Process.run()` while
/// `VendorClientTests` and `CrashRecoveryTests` were starting processes. Every test that starts
/// a process goes through this lock.
public func launch(_ process: Process) throws {
    try launching.withLock { _ in try process.run() }
}

/// Runs `spawn` (a `posix_spawn` of its own) under the same lock as `launch`: a crash in
/// `Process.run()` came back while PostgreSQL's `pg_ctl` was being spawned beside it.
public func whileLaunching<T>(_ spawn: () -> T) -> T {
    launching.withLock { _ in spawn() }
}

private let launching = Mutex(())

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
