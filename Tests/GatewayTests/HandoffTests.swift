import Foundation
import HTTPServer
import NIOCore
import NIOPosix
import Synchronization
import Testing
import ThreadHandoff

#if canImport(Glibc)
    import Glibc
#endif

/// A request's task prefers its connection's loop; a thread that resumes it under a hand-off
/// (the ledger's commit thread, the curl thread) lets it go on there instead (`Handoff`).
@Suite("Thread hand-off")
struct HandoffTests {
    /// The calling thread.
    static func threadID() -> UInt { UInt(pthread_self()) }

    /// What the resuming threads share with the task.
    final class Shared: Sendable {
        let resumer = Mutex<UInt>(0)
        let firstResumed = Mutex(false)
    }

    /// Blocks until the task that started this thread has suspended: until the loop it ran on
    /// has finished its current job, and (for the second step) until the first resumer's
    /// resumption has returned. A resumption before the suspension would let the task go on
    /// where it was, which is not what is measured here.
    static func awaitSuspension(of loop: any EventLoop, after shared: Shared? = nil) {
        while let shared, !shared.firstResumed.withLock({ $0 }) { usleep(1000) }
        try? loop.submit {}.wait()
    }

    /// Where a task that prefers `executor` goes on after a plain thread resumes it.
    /// - Returns: whether it went on on its loop, whether on the resuming thread, and the same
    ///   two for the step after its next suspension.
    static func resumed(on executor: EventLoopTaskExecutor, granting: Bool) async -> [Bool] {
        let shared = Shared()
        return await Task(executorPreference: executor) { () -> [Bool] in
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread {
                    awaitSuspension(of: executor.loop)
                    shared.resumer.withLock { $0 = threadID() }
                    if granting { Handoff.continuingHere { continuation.resume() } } else { continuation.resume() }
                    shared.firstResumed.withLock { $0 = true }
                }.start()
            }
            let first = [executor.loop.inEventLoop, threadID() == shared.resumer.withLock { $0 }]
            // The next suspension: a second resumption by another plain thread, no grant.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread {
                    awaitSuspension(of: executor.loop, after: shared)
                    continuation.resume()
                }.start()
            }
            return first + [executor.loop.inEventLoop, threadID() == shared.resumer.withLock { $0 }]
        }.value
    }

    /// Whether the first resumption grants a step, and where the task must go on: on its loop,
    /// on the resuming thread, and the same two after its next (ungranted) resumption.
    @Test(
        "a task resumed under a hand-off goes on on the resuming thread up to its next suspension; without one, on its loop",
        arguments: [(true, [false, true, true, false]), (false, [true, false, true, false])])
    func resumption(granting: Bool, expected: [Bool]) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        #expect(await Self.resumed(on: executor, granting: granting) == expected)
        try await group.shutdownGracefully()
    }

    @Test("a grant is taken once, and is gone when its resumption returns")
    func takenOnce() {
        #expect(!Handoff.take())
        var taken: [Bool] = []
        Handoff.continuingHere {
            taken.append(Handoff.take())
            taken.append(Handoff.take())
        }
        Handoff.continuingHere {}
        taken.append(Handoff.take())
        #expect(taken == [true, false, false])
    }
}
