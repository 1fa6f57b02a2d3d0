import ServiceLifecycle

/// The ledger as a service of the process's `ServiceGroup`: open until the group shuts down
/// gracefully, then closed. Registered before the server, it is closed after the server has
/// drained its requests.
extension Ledger: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        try close()
    }
}
