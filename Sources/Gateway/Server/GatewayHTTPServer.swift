import Dialects
import Foundation
import HTTPServer
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import Operations
import ServiceLifecycle
import StockCore
import Synchronization

/// What every connection shares: the responder (routes and middleware), the connection
/// layer's limits, and the connection count.
struct ServerShared: Sendable {
    let router: Router
    let connection: ConnectionSettings
    /// The upper bound of a graceful shutdown's drain.
    let drainTimeout: TimeAmount
    let logger: Logger
    /// Open connections against `server.max_connections` (`ConnectionBudget`).
    let connections: ConnectionGate
    var live: ServedGateway { router.live }

    /// Logs at most one warning a second while connections are refused.
    func warnAtLimit() {
        guard connections.firstRefusalThisSecond() else { return }
        logger.warning(
            "connection limit reached: new connections are answered 503",
            metadata: ["max_connections": .stringConvertible(connections.limit)])
    }
}

/// The gateway's HTTP/1.1 server: SwiftNIO channel handlers, no framework in between. Each
/// connection's pipeline: `HTTP1ServerCodec` (HTTP/1.x framing of our own: one request at a
/// time, answers in order, 400 for bytes that are no request, HTTP/1.0, `Expect:
/// 100-continue`, closing after an early answer), then `HTTPConnectionHandler` (the connection
/// layer), which hands each request to the `Router` (routes and middleware).
///
/// A `Service`: on graceful shutdown it stops accepting, lets each connection finish the
/// request in hand (idle ones close at once), and returns when every connection is closed.
public struct GatewayHTTPServer: Service {
    let shared: ServerShared
    /// What the server answers with; `replace(with:)` reloads it while serving.
    public var live: ServedGateway { shared.live }
    let host: String
    let port: Int
    /// `server.admin_listen`: health and the operations routes on their own address.
    let adminAddress: (String, Int)?
    let group: any EventLoopGroup
    let onServerRunning: @Sendable (Int) async -> Void
    let onAdminRunning: @Sendable (Int) async -> Void

    public init(
        gateway: Gateway, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onAdminRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let configuration = gateway.configuration
        let throttle = AuthThrottle(maxFailures: configuration.authFailuresPerMinute)
        shared = ServerShared(
            router: Router(
                live: ServedGateway(gateway), maxBodyBytes: configuration.maxBodyBytes,
                adminSeparate: configuration.adminListen != nil, throttle: throttle,
                middleware: Self.middleware(throttle: throttle),
                observers: [RequestMetrics(), RequestLog(logger: logger)]),
            connection: ConnectionSettings(
                maxBodyBytes: configuration.maxBodyBytes,
                bodyTimeout: TimeAmount(configuration.requestTimeout),
                idleTimeout: configuration.idleTimeout > .zero ? TimeAmount(configuration.idleTimeout) : nil,
                server: BuildInfo.server, logger: logger),
            drainTimeout: TimeAmount(configuration.drainTimeout), logger: logger,
            connections: ConnectionGate(limit: configuration.maxConnections))
        host = configuration.host
        port = configuration.port
        adminAddress = configuration.adminListen.flatMap(GatewayConfiguration.hostAndPort)
        self.group = group
        self.onServerRunning = onServerRunning
        self.onAdminRunning = onAdminRunning
    }

    /// The steps every request's head passes, in order (`Middleware`).
    static func middleware(throttle: AuthThrottle) -> [any Middleware] {
        [
            HostCheck(), ThrottleGate(throttle: throttle), Authentication(throttle: throttle), ContentCoding(),
            TraceContext(),
        ]
    }

    public func run() async throws {
        // One quiescing helper per listener: a helper drains the connections of the first
        // listener it was handed only, so a second one sharing it would be left open, its
        // connections never told to close (AdminListenerTests/adminClosesAfterTraffic).
        let trafficQuiescing = ServerQuiescingHelper(group: group)
        let channel = try await bind(host: host, port: port, listener: .traffic, quiescing: trafficQuiescing)
        var quiescing = [trafficQuiescing]
        do {
            if let (adminHost, adminPort) = adminAddress {
                let adminQuiescing = ServerQuiescingHelper(group: group)
                let admin = try await bind(
                    host: adminHost, port: adminPort, listener: .admin, quiescing: adminQuiescing)
                quiescing.append(adminQuiescing)
                shared.logger.info("admin listener", metadata: ["address": "\(admin.localAddress?.description ?? "?")"])
                await onAdminRunning(admin.localAddress?.port ?? 0)
            }
        } catch {
            try? await channel.close()
            throw error
        }
        shared.logger.info("server listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
        await onServerRunning(channel.localAddress?.port ?? 0)
        let closed = group.next().makePromise(of: Void.self)
        let helpers = quiescing
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await closed.futureResult.get()
        } onCancelOrGracefulShutdown: {
            // The traffic listener drains first; the admin listener, if any, after it, so
            // /metrics and /readyz stay observable while requests in hand finish.
            Self.drain(helpers[...], group: group, then: closed)
            // The drain has an upper bound: what is still open then is closed.
            let timer = group.next().scheduleTask(in: shared.drainTimeout) {
                let count = shared.connections.closeAll()
                if count > 0 {
                    shared.logger.warning(
                        "drain timeout: closing connections still open",
                        metadata: ["connections": .stringConvertible(count)])
                }
            }
            closed.futureResult.whenComplete { _ in timer.cancel() }
        }
    }

    /// Drains each listener's connections in turn, then completes `closed` (failed with the
    /// first listener's failure, if one failed to close: the others are drained still).
    private static func drain(
        _ helpers: ArraySlice<ServerQuiescingHelper>, group: any EventLoopGroup, then closed: EventLoopPromise<Void>
    ) {
        guard let first = helpers.first else { return closed.succeed() }
        let drained = group.next().makePromise(of: Void.self)
        first.initiateShutdown(promise: drained)
        drained.futureResult.whenComplete { result in
            let rest = group.next().makePromise(of: Void.self)
            drain(helpers.dropFirst(), group: group, then: rest)
            rest.futureResult.flatMapResult { _ in result }.cascade(to: closed)
        }
    }

    /// One listening socket: `.traffic` serves the dialects, `.admin` health and operations.
    private func bind(
        host: String, port: Int, listener: Listener, quiescing: ServerQuiescingHelper
    ) async throws -> any Channel {
        let shared = self.shared
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let gate = shared.connections
                    switch gate.admit() {
                    case .serve:
                        gate.track(channel)
                    case .refuse:
                        channel.closeFuture.whenComplete { _ in gate.refusalEnded() }
                        shared.live.gateway.metrics.recordConnectionRefused()
                        shared.warnAtLimit()
                        try pipeline.addHandler(OverCapacityHandler())
                        return
                    case .drop:
                        shared.live.gateway.metrics.recordConnectionRefused()
                        shared.warnAtLimit()
                        channel.close(promise: nil)
                        return
                    }
                    var settings = shared.connection
                    settings.listener = listener
                    try configureConnection(
                        pipeline, settings: settings,
                        handler: HTTPConnectionHandler(responder: shared.router, settings: settings))
                }
            }
            .bind(host: host, port: port).get()
    }
}
