import Foundation
import NIOCore
import StockCore
import Synchronization
import ThreadHandoff

#if canImport(Glibc)
    import Glibc
#endif

/// The `Date` header's value, made once a second (RFC 9110 §5.6.7, IMF-fixdate).
public final class DateHeader: Sendable {
    public init() {}

    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    public func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        let second = time.tv_sec
        return cached.withLock { cached in
            if cached.second != second { cached = (second, Self.format(second)) }
            return cached.text
        }
    }

    static func format(_ seconds: Int) -> String {
        Timestamp.imfFixdate(Date(timeIntervalSince1970: Double(seconds)))
    }
}

/// Runs a task's jobs on one event loop: a request's pipeline stays on the thread of its
/// connection, with no hand-off to Swift's own pool and back (each a thread wake-up).
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `loop` is immutable and thread-safe itself.
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) {
        self.loop = loop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // Resumed by a thread that lets it go on there (see `Handoff`): run now, on that thread.
        if Handoff.take() {
            job.runSynchronously(on: asUnownedTaskExecutor())
            return
        }
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
