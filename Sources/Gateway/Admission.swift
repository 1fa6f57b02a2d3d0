/// Who holds the request slots, and who may take one more: a value-type state machine,
/// guarded by a lock where it is used (`Gateway.admit`).
///
/// A slot is taken only once a request's body has arrived whole (the server reads it first,
/// within the body timeout), so connections that trickle a body, or never finish one, hold
/// no slot. Writes (any request with a body or a method other than GET/HEAD) may hold at most
/// three quarters of the slots, so reads are never starved by writes waiting on a slow
/// backend; with two or more clients configured, no client holds more than half, so one
/// client cannot lock the others out.
struct Admission: Sendable, Equatable {
    let limit: Int
    let writeLimit: Int
    let clientLimit: Int?
    private(set) var total = 0
    private(set) var writes = 0
    private(set) var byClient: [String: Int] = [:]

    /// - Parameters:
    ///   - limit: requests handled at once (`server.max_concurrent_requests`).
    ///   - clients: how many clients are configured (a per-client share from two on).
    init(limit: Int, clients: Int) {
        self.limit = max(1, limit)
        self.writeLimit = max(1, self.limit * 3 / 4)
        self.clientLimit = clients > 1 ? max(1, self.limit / 2) : nil
    }

    /// Takes a slot if the request may run now.
    mutating func admit(write: Bool, client: String?) -> Bool {
        guard total < limit else { return false }
        if write && writes >= writeLimit { return false }
        if let client, let clientLimit, byClient[client, default: 0] >= clientLimit { return false }
        total += 1
        if write { writes += 1 }
        if let client { byClient[client, default: 0] += 1 }
        return true
    }

    /// Gives back a slot taken by `admit` with the same arguments.
    mutating func release(write: Bool, client: String?) {
        total -= 1
        if write { writes -= 1 }
        if let client {
            let held = byClient[client, default: 1] - 1
            byClient[client] = held > 0 ? held : nil
        }
    }
}
