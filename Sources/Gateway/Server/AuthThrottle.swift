import HTTPServer
import NIOCore
import Synchronization

/// Slows down guessing of client secrets (issue 29, finding 13): after `maxFailures` failed
/// credential checks (credentials presented and wrong; a request with none is refused 401 and
/// not counted) within `window` from one peer address — or, on `POST /Token`, for one
/// user name — further requests from that peer (or for that name) are answered 429 with
/// `Retry-After` until the window has passed, whatever credentials they carry. The server
/// keeps one for all connections, across reloads. Requests that pass are never slowed: with
/// nobody failing, a request costs one atomic load here.
final class AuthThrottle: Sendable {
    let maxFailures: Int
    let window: TimeAmount
    /// Most peers and names tracked at once; the oldest windows are forgotten first.
    static let maxTracked = 10_000

    private struct Entry {
        var failures: Int
        var since: NIODeadline
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let tracked = Atomic<Int>(0)

    init(maxFailures: Int = 10, window: TimeAmount = .seconds(60)) {
        self.maxFailures = maxFailures
        self.window = window
    }

    /// True while nobody has failed within a window: nothing to look up.
    var isQuiet: Bool { tracked.load(ordering: .relaxed) == 0 }

    /// How long `key` must still wait, or nil when it may try.
    func blocked(_ key: String, now: NIODeadline = .now()) -> TimeAmount? {
        guard tracked.load(ordering: .relaxed) > 0 else { return nil }
        return entries.withLock { entries -> TimeAmount? in
            guard let entry = entries[key] else { return nil }
            let end = entry.since + window
            if end <= now {
                entries[key] = nil
                tracked.store(entries.count, ordering: .relaxed)
                return nil
            }
            return entry.failures >= maxFailures ? end - now : nil
        }
    }

    /// Counts a failed credential check for `key`.
    func failed(_ key: String, now: NIODeadline = .now()) {
        entries.withLock { entries in
            if var entry = entries[key], entry.since + window > now {
                entry.failures += 1
                entries[key] = entry
            } else {
                if entries.count >= Self.maxTracked {
                    entries = entries.filter { $0.value.since + window > now }
                    if entries.count >= Self.maxTracked,
                        let oldest = entries.min(by: { $0.value.since < $1.value.since })?.key
                    {
                        entries[oldest] = nil
                    }
                }
                entries[key] = Entry(failures: 1, since: now)
            }
            tracked.store(entries.count, ordering: .relaxed)
        }
    }

    /// The peer part of a key: the client's IP address (no port: one host, one budget).
    static func peer(_ address: SocketAddress?) -> String {
        "peer:" + (address?.ipAddress ?? "?")
    }
}

extension ConnectionFacts {
    /// The peer's address, as `AuthThrottle` keys it (made only when asked for).
    var peer: String { AuthThrottle.peer(channel.remoteAddress) }
}
