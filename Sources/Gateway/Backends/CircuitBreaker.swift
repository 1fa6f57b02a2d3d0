import Dialects
import Foundation

/// The state machine of a backend's circuit breaker, as a value: it opens after
/// `threshold` consecutive failures, lets one probe through after `cooldown` (half-open),
/// closes again on a success and reopens on a failure. Guarded by a lock where it is used.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probing: Bool)

        /// 0 closed, 1 open, 2 half-open: the value of `stockgate_backend_circuit_state`.
        public var metricValue: Int {
            switch self {
            case .closed: return 0
            case .open: return 1
            case .halfOpen: return 2
            }
        }
    }

    public enum Admission: Sendable, Equatable {
        case allowed
        case rejected
    }

    public private(set) var state: State = .closed(failures: 0)
    public let threshold: Int
    public let cooldown: Duration

    public init(threshold: Int = 5, cooldown: Duration = .seconds(5)) {
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// May a request go to the backend now?
    public mutating func admit(now: ContinuousClock.Instant) -> Admission {
        switch state {
        case .closed:
            return .allowed
        case .open(let until):
            guard now >= until else { return .rejected }
            state = .halfOpen(probing: true)
            return .allowed
        case .halfOpen(let probing):
            if probing { return .rejected }
            state = .halfOpen(probing: true)
            return .allowed
        }
    }

    public mutating func recordSuccess() {
        state = .closed(failures: 0)
    }

    public mutating func recordFailure(now: ContinuousClock.Instant) {
        switch state {
        case .closed(let failures):
            state = failures + 1 >= threshold ? .open(until: now + cooldown) : .closed(failures: failures + 1)
        case .halfOpen, .open:
            state = .open(until: now + cooldown)
        }
    }
}

/// The time a backend's retries and circuit breaker go by: the system clock in production; in
/// tests a manual one whose `sleep` moves time on at once, so no test waits for time to pass.
public struct BackendClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(
        now: @escaping @Sendable () -> ContinuousClock.Instant,
        sleep: @escaping @Sendable (Duration) async throws -> Void
    ) {
        self.now = now
        self.sleep = sleep
    }

    public static let system = BackendClock(now: { .now }, sleep: { try await Task.sleep(for: $0) })
}

/// When to try a backend request again.
public struct RetryPolicy: Sendable, Equatable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// A longer `Retry-After` than this is not waited for.
    public var maxRetryAfter: Duration

    public init(
        maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(2),
        maxRetryAfter: Duration = .seconds(5)
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxRetryAfter = maxRetryAfter
    }

    /// Exponential backoff with full jitter for attempt `n` (1 = the first retry).
    public func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let exponential = baseDelay * (1 << min(attempt - 1, 16))
        let capped = min(exponential, maxDelay)
        let nanos = capped.components.seconds * 1_000_000_000 + capped.components.attoseconds / 1_000_000_000
        return .nanoseconds(Int64.random(in: (nanos / 2)...max(nanos / 2, nanos), using: &generator))
    }

    /// The wait a `Retry-After` header asks for, if we are willing to wait it (the header is
    /// read by `RetryAfterHeader`, with saturation: never a trap, whatever the backend sends).
    public func retryAfter(_ header: String?, now: Date = Date()) -> Duration? {
        guard let header, let wait = RetryAfterHeader.delay(header, now: now) else { return nil }
        return wait <= maxRetryAfter ? wait : nil
    }
}
