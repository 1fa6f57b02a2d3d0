import Foundation
import Gateway
import Synchronization

/// A `BackendClock` the test moves: `sleep` advances it at once and records the wait, so
/// retries and the circuit breaker's cooldown are tested without waiting for time to pass.
public final class ManualClock: Sendable {
    public init() {}

    private let instant = Mutex(ContinuousClock.now)
    private let waits = Mutex<[Duration]>([])

    /// Every wait a backend asked for, in order.
    public var slept: [Duration] { waits.withLock { $0 } }

    public func advance(_ duration: Duration) { instant.withLock { $0 = $0 + duration } }

    public var clock: BackendClock {
        BackendClock(
            now: { self.instant.withLock { $0 } },
            sleep: { duration in
                self.waits.withLock { $0.append(duration) }
                self.advance(duration)
            })
    }
}
