import Foundation
import HTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// How many client connections the server holds at once, so that the process never runs out
/// of file descriptors.
///
/// Running out is not a matter of refused connections only: libdispatch (under Swift's global
/// executor) opens `/proc/<tid>/stat` to watch its worker threads whenever the global queue has
/// work, and traps when that `open` fails — the whole process dies with SIGILL. Swift tasks
/// reach that pool on the forwarding and webhook paths (actor hops, `Task.sleep`, the journal's
/// commit), so it cannot be kept out of reach. Instead the descriptors are budgeted: client
/// connections may use what is left after a reserve for everything else the process opens
/// (backend connections, the database pool, the ledger's files, event loops, logs, and
/// libdispatch's own look), and a connection over the cap is answered 503 and closed at once
/// (`OverCapacityHandler`). docs/operations.md, "Connections and descriptors".
public struct ConnectionBudget: Sendable, Equatable {
    /// Descriptors kept for the process's own files, event loops and libdispatch, besides the
    /// backend connections and the database pool.
    public static let baseReserve = 64
    /// The fewest client connections worth serving: a lower budget refuses to start.
    public static let minimumConnections = 16

    /// The soft `RLIMIT_NOFILE` in force.
    public let descriptorLimit: Int
    /// Descriptors not given to client connections.
    public let reserved: Int
    /// Client connections held at once.
    public let maxConnections: Int

    /// - Parameters:
    ///   - configured: `server.max_connections`.
    ///   - descriptorLimit: the soft descriptor limit (`raiseDescriptorLimit()`).
    ///   - backendConnections: most connections to backends at once (libcurl's total cap).
    ///   - databaseConnections: the PostgreSQL pool's size (0 on the embedded ledger).
    /// - Throws: `Problem` when the limit leaves fewer than `minimumConnections`.
    public init(
        configured: Int, descriptorLimit: Int, backendConnections: Int, databaseConnections: Int
    ) throws(Problem) {
        self.descriptorLimit = descriptorLimit
        reserved = Self.baseReserve + backendConnections + databaseConnections
        let available = descriptorLimit - reserved
        guard available >= Self.minimumConnections else {
            throw Problem(
                description:
                    "the descriptor limit (ulimit -n) is \(descriptorLimit): \(reserved) are kept for backends, the database and the process itself, which leaves fewer than \(Self.minimumConnections) for client connections; raise it to at least \(reserved + Self.minimumConnections)"
            )
        }
        maxConnections = min(configured, available)
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Raises the soft descriptor limit to the hard one (as Go's runtime and nginx's
    /// `worker_rlimit_nofile` do) and returns the soft limit then in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, 1 << 20))  // RLIM_INFINITY (all ones) included
    }
}
