import Foundation

/// What the operator page says about a backend beyond its circuit: when a call last
/// succeeded, the last failure and when, and since when the circuit is in its state.
struct BackendActivity: Sendable {
    var lastSuccess: Date?
    var lastError: (at: Date, what: String)?
    /// The circuit's state (0 closed, 1 open, 2 half-open) and when it entered it.
    var circuit: (state: Int, since: Date)?

    mutating func record(ok: Bool, what: String, at now: Date) {
        if ok { lastSuccess = now } else { lastError = (now, what) }
    }

    /// The time is read only when the state changed (this runs twice per forward).
    mutating func circuit(_ state: Int, at now: @autoclosure () -> Date) {
        if circuit?.state != state { circuit = (state, now()) }
    }
}
