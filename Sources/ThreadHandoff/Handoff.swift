#if canImport(Glibc)
    import Glibc
#endif

/// Lets a task that waited on one of StockGate's own threads (the ledger's commit thread, the
/// curl thread) go on on that thread, instead of waking its event loop to run it there.
///
/// Resuming a continuation enqueues its task on the executor it prefers; for a request's task
/// that is its connection's event loop (`EventLoopTaskExecutor`), and a loop asleep in
/// `epoll_wait` is woken for it: a thread switch, which on a virtual machine costs more than
/// most of a request's own work (BENCHMARKS.md). A thread that resumes under
/// `continuingHere` grants the task one step on itself: the executor, asked to enqueue the
/// task while the grant stands, runs it on the spot up to its next suspension (typically the
/// next hand-off: a journal write, a transfer) or its end, and the answer is played on the loop.
///
/// The grant is per thread, taken by the first job enqueued under it, and gone when
/// `continuingHere` returns whether taken or not. The thread granting it holds no lock the
/// task could want, and is not itself running a task.
public enum Handoff {
    /// The calling thread's grant: non-nil while `continuingHere` runs and nobody has taken it.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-specific key for the hand-off")
        return key
    }()
    /// Runs `resume` (which resumes one continuation) with a grant on this thread.
    public static func continuingHere(_ resume: () -> Void) {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: 1))
        resume()
        pthread_setspecific(key, nil)
    }

    /// Whether this thread granted a step and nobody has taken it yet; takes it.
    public static func take() -> Bool {
        guard pthread_getspecific(key) != nil else { return false }
        pthread_setspecific(key, nil)
        return true
    }
}
