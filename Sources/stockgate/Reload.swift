import CurlHTTP
import Foundation
import Gateway
import Logging
import Operations
import Simulator
import StockCore

/// SIGHUP: the config file and the catalog read again and served from the next request on,
/// all of it or none of it. A file that does not read, a catalog that does not load, a backend
/// that cannot be built: the reload is refused with one log line naming the problem and the
/// running gateway keeps serving unchanged.
///
/// Reloaded: the catalog (`mappings`), clients, backends and routes, dialect settings, JSON
/// limits, `max_batch_items`, `max_concurrent_requests`. Settings fixed for the process's life
/// (the listener, the store, the log setup, the HTTP limits) are logged as needing a restart
/// when they changed, and keep their running values.
struct Reloader: Sendable {
    let flags: ServeSettings.Flags
    let started: ServeSettings
    let storage: any Storage
    let client: CurlHTTPClient
    let metrics: GatewayMetrics
    let faults: FaultSchedule?
    let pusher: PusherHub?
    let live: ServedGateway
    let logger: Logger

    /// The settings that keep their running value until a restart (`Setting.reloadable`).
    static let restartOnly = Setting.all.filter { !$0.reloadable }.map(\.key)

    func reload() {
        logger.notice("SIGHUP: reloading the configuration and the catalog")
        var settings: ServeSettings
        let catalog: Catalog
        let gateway: Gateway
        do {
            settings = try ServeSettings.read(flags: flags, environment: ProcessInfo.processInfo.environment)
            catalog = try Serve.loadCatalog(settings, logger: logger)
            // What only a restart changes keeps its running value.
            let restartOnly = Self.restartOnly.filter { settings.effective[$0] != started.effective[$0] }
            if !restartOnly.isEmpty {
                logger.warning(
                    "reload: these settings changed but take effect only at a restart",
                    metadata: ["settings": "\(restartOnly.joined(separator: ", "))"])
            }
            var configuration = started.configuration
            configuration.mappingsDirectory = settings.configuration.mappingsDirectory
            configuration.dialectSettings = settings.configuration.dialectSettings
            configuration.maxJSONDepth = settings.configuration.maxJSONDepth
            configuration.maxJSONValues = settings.configuration.maxJSONValues
            configuration.maxBatchItems = settings.configuration.maxBatchItems
            configuration.maxConcurrentRequests = settings.configuration.maxConcurrentRequests
            settings.configuration = configuration
            settings.testReset = started.testReset
            gateway = try Serve.makeGateway(
                settings, catalog: catalog, storage: storage, client: client, metrics: metrics, faults: faults,
                pusher: pusher, logger: logger)
        } catch {
            metrics.recordReload(succeeded: false)
            logger.error(
                "reload refused: the running configuration and catalog stay",
                metadata: ["problem": "\(error)"])
            return
        }
        // The store checks movements against the new catalog, then requests arriving from now
        // on are translated with it (one in flight keeps the gateway it started with).
        storage.replaceCatalog(catalog)
        live.replace(with: gateway)
        metrics.recordReload(succeeded: true)
        logger.notice(
            "reloaded",
            metadata: [
                "products": "\(catalog.products.count)", "locations": "\(catalog.locations.count)",
                "clients": "\(settings.clients.count)", "backends": "\(settings.file.backends.count)",
            ])
    }
}
