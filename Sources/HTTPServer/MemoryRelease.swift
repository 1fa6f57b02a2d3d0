import NIOCore
import Synchronization
import ThreadHandoff

/// After a request that moved a large body (in or out), memory the allocator keeps for reuse is
/// handed back to the system, on the connection's event loop, soon after the answer.
///
/// The `stockgate` binary runs on mimalloc (Package.swift), which keeps the pages of freed
/// blocks in the heap of the thread that made them until that thread allocates again. After a
/// burst of 4 MiB bodies (`scripts/bench`'s memory attack) the event loop's heap held ~30 MB
/// that nothing would reuse; `ThreadHeap.release` returns it. Under glibc (the test binaries) there is
/// nothing to call: it gave the same memory back by itself (+1.0 MB over idle, BENCHMARKS.md).
public struct MemoryRelease: Sendable {
    /// A request whose body, or whose answer's body, reaches this many bytes is followed by a release.
    public var threshold: Int
    /// How long after the answer: what the request held is freed by then.
    public var delay: TimeAmount
    let release: @Sendable () -> Void
    /// One release waits per event loop, however many large requests end there meanwhile. Per
    /// loop, not per process: a release hands back only its own thread's heap, so a large
    /// request on one loop must not be covered by a release pending on another.
    private let pending = Pending()

    /// Per loop with a release waiting: whether another large request was answered there since
    /// that release was scheduled (it then runs once more, `delay` after it ran).
    private final class Pending: Sendable {
        let loops = Mutex<[ObjectIdentifier: Bool]>([:])
    }

    public init(threshold: Int, delay: TimeAmount, release: @escaping @Sendable () -> Void) {
        self.threshold = threshold
        self.delay = delay
        self.release = release
    }

    /// The process's allocator, after bodies of 1 MiB or more.
    public static let allocator = MemoryRelease(
        threshold: 1 << 20, delay: .milliseconds(100), release: ThreadHeap.release)

    /// A request of `bytes` has been answered on `loop`. Every such request is followed by a
    /// release at least `delay` after its answer: one answered while a release waits makes that
    /// release run once more after it (a request answered just before the waiting release ran
    /// may not have freed what it held yet; under a burst that is one release per `delay`).
    func answered(bytes: Int, on loop: any EventLoop) {
        guard bytes >= threshold else { return }
        let key = ObjectIdentifier(loop)
        let first = pending.loops.withLock { loops -> Bool in
            guard loops[key] == nil else {
                loops[key] = true
                return false
            }
            loops[key] = false
            return true
        }
        if first { schedule(on: loop, key: key) }
    }

    private func schedule(on loop: any EventLoop, key: ObjectIdentifier) {
        loop.scheduleTask(in: delay) { [self] in
            release()
            let again = pending.loops.withLock { loops -> Bool in
                if loops[key] == true {
                    loops[key] = false
                    return true
                }
                loops[key] = nil
                return false
            }
            if again { schedule(on: loop, key: key) }
        }
    }
}
