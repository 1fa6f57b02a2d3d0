import ServiceLifecycle

/// The client as a service of the process's `ServiceGroup`: it runs until the group shuts
/// down gracefully, then fails what is still in flight and stops its engine. The group
/// stops it after the services registered later (the server), so forwards finish first.
extension CurlHTTPClient: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}
