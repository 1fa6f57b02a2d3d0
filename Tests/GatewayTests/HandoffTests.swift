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

    /// Where a task that prefers `executor` goes on after a plain thread resumes it.
    /// - Returns: whether it went on on its loop, whether on the resuming thread, and the same
    ///   two for the step after its next suspension.
    static func resumed(on executor: EventLoopTaskExecutor, granting: Bool) async -> [Bool] {
        await Task(executorPreference: executor) { () -> [Bool] in
            let resumer = Mutex<UInt>(0)
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread {
                    resumer.withLock { $0 = threadID() }
                    if granting { Handoff.continuingHere { continuation.resume() } } else { continuation.resume() }
                }.start()
            }
            let first = [executor.loop.inEventLoop, threadID() == resumer.withLock { $0 }]
            // The next suspension: a second resumption by another plain thread, no grant.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread { continuation.resume() }.start()
            }
            return first + [executor.loop.inEventLoop, threadID() == resumer.withLock { $0 }]
        }.value
    }

    @Test("a task resumed under a hand-off goes on on the resuming thread, up to its next suspension")
    func granted() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        #expect(await Self.resumed(on: executor, granting: true) == [false, true, true, false])
        try await group.shutdownGracefully()
    }

    @Test("a task resumed without one goes on on its loop")
    func notGranted() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(group.next())
        #expect(await Self.resumed(on: executor, granting: false) == [true, false, true, false])
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
