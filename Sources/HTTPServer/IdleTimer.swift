import NIOCore

/// Closes a connection that waits longer than `timeout` for its next request. At most one
/// timer per connection, not one per request: it is set when the connection first goes idle
/// and, when it fires, closes only a connection idle for the whole timeout, else it is set for
/// the rest (a cancel and a schedule per request cost ~7,000 instructions, callgrind). Used on
/// the connection's event loop only.
final class IdleTimer {
    let timeout: TimeAmount?
    private var scheduled: Scheduled<Void>?
    /// Since when the connection has waited for a request; nil while one is in hand.
    private var since: NIODeadline?

    init(timeout: TimeAmount?) {
        self.timeout = timeout
    }

    /// The connection waits for a request from now (not one already gone: the timer would
    /// only keep it alive).
    func start(context: ChannelHandlerContext) {
        guard let timeout, context.channel.isActive else { return }
        let now = context.eventLoop.now
        since = now
        if scheduled == nil { arm(at: now + timeout, context: context) }
    }

    /// A request is in hand: the answer starts the wait again.
    func stop() {
        since = nil
    }

    func cancel() {
        scheduled?.cancel()
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        scheduled = context.eventLoop.scheduleTask(deadline: deadline) {
            let (timer, context) = loopBound.value
            timer.scheduled = nil
            guard let since = timer.since, let timeout = timer.timeout, context.channel.isActive else { return }
            if since + timeout <= context.eventLoop.now {
                context.close(promise: nil)
            } else {
                timer.arm(at: since + timeout, context: context)
            }
        }
    }
}
