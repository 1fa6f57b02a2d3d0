import Foundation
import StockCore
import Synchronization

/// Serializes level commands for one product at one location of one remote backend, from the
/// read of the backend's balance until the difference is sent and settled: within this process
/// by waiting in line (first come, first served), across gateway instances by a claim in the
/// shared store (`ResponseStore.claim`: a row in PostgreSQL, taken over once stale).
///
/// Keys are taken in sorted order and released together, so two batches that share keys cannot
/// wait for each other.
final class LevelLocks: Sendable {
    /// The claims' namespace in the store (beside the dialects' idempotency keys).
    static let claimSpace: DialectID = "level-lock"

    private let waiting = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])
    private let claims: (any ResponseStore)?
    private let clock: BackendClock

    init(claims: (any ResponseStore)?, clock: BackendClock) {
        self.claims = claims
        self.clock = clock
    }

    /// Takes every key, waiting for the holders; the store's claims are polled until `deadline`.
    /// - Throws: `unavailable` when another instance holds a key past the deadline (nothing was
    ///   read or sent), or the store's error.
    func acquire(_ keys: [String], until deadline: ContinuousClock.Instant) async throws {
        let sorted = Array(Set(keys)).sorted()
        var taken: [String] = []
        do {
            for key in sorted {
                await acquireLocally(key)
                taken.append(key)
                try await claim(key, until: deadline)
            }
        } catch {
            await release(taken, claimed: Array(taken.dropLast()))
            throw error
        }
    }

    /// Gives every key back (the store's claims first).
    func release(_ keys: [String]) async {
        await release(keys, claimed: keys)
    }

    private func release(_ keys: [String], claimed: [String]) async {
        for key in claimed { await claims?.releaseClaim(dialect: Self.claimSpace, key: key) }
        for key in Set(keys) { releaseLocally(key) }
    }

    private func acquireLocally(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let owned = waiting.withLock { queues -> Bool in
                if queues[key] == nil {
                    queues[key] = []
                    return true
                }
                queues[key]?.append(continuation)
                return false
            }
            if owned { continuation.resume() }
        }
    }

    /// Hands the key to the next waiter, or frees it.
    private func releaseLocally(_ key: String) {
        let next = waiting.withLock { queues -> CheckedContinuation<Void, Never>? in
            guard var queue = queues[key], !queue.isEmpty else {
                queues[key] = nil
                return nil
            }
            let first = queue.removeFirst()
            queues[key] = queue
            return first
        }
        next?.resume()
    }

    private func claim(_ key: String, until deadline: ContinuousClock.Instant) async throws {
        guard let claims else { return }
        var wait = Duration.milliseconds(5)
        while true {
            let now = Date()
            // A claim older than a minute past the deadline belongs to an instance that died.
            if try await claims.claim(
                dialect: Self.claimSpace, key: key, now: now, staleBefore: now.addingTimeInterval(-120))
            {
                return
            }
            guard clock.now() + wait < deadline else {
                throw GatewayError(
                    code: .unavailable,
                    message: "another gateway instance is changing this level; nothing was read or sent: try again")
            }
            try await clock.sleep(wait)
            wait = min(wait * 2, .milliseconds(100))
        }
    }
}
