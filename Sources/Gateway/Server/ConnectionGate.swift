import NIOCore
import Synchronization

/// The open client connections and the cap on them (`ConnectionBudget`), shared by every
/// connection of one server.
final class ConnectionGate: Sendable {
    let limit: Int
    /// Connections answered 503 that have not closed yet: bounded, so a flood of refused
    /// connections cannot itself use up the descriptors the cap keeps free.
    static let maxRefusing = 32
    private let open = Atomic<Int>(0)
    private let refusing = Atomic<Int>(0)
    /// The served connections, for closing what a drain left open when its time is up.
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    enum Decision {
        /// Served; `track(_:)` it.
        case serve
        /// Over the cap: answered 503 and closed; `refusalEnded()` when it closes.
        case refuse
        /// Over the cap while many refusals are still closing: closed without a word.
        case drop
    }

    /// Decides a new connection's fate, counting it in when it is served.
    func admit() -> Decision {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return .serve }
        open.wrappingSubtract(1, ordering: .relaxed)
        if refusing.wrappingAdd(1, ordering: .relaxed).newValue <= Self.maxRefusing { return .refuse }
        refusing.wrappingSubtract(1, ordering: .relaxed)
        return .drop
    }

    /// Keeps a served connection until it closes.
    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in
            self.channels.withLock { $0[id] = nil }
            self.open.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// Closes every served connection still open; returns how many there were.
    @discardableResult
    func closeAll() -> Int {
        let open = channels.withLock { Array($0.values) }
        for channel in open { channel.close(promise: nil) }
        return open.count
    }
    func refusalEnded() { refusing.wrappingSubtract(1, ordering: .relaxed) }

    /// When a refusal was last logged (seconds since boot).
    private let lastWarning = Atomic<Int64>(-1)

    /// True for the first refusal of each second: the log says so once a second, not per connection.
    func firstRefusalThisSecond() -> Bool {
        let second = Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        let last = lastWarning.load(ordering: .relaxed)
        return last != second
            && lastWarning.compareExchange(expected: last, desired: second, ordering: .relaxed).exchanged
    }
}
