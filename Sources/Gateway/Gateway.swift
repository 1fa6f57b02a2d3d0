import Dialects
import Foundation
import Logging
import StockCore

/// The pipeline: a request decoded by its dialect's codec, the commands carried out by the
/// backend, the outcome encoded in the same dialect. Everything between the HTTP server and
/// the backend passes through `handle`.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let catalog: Catalog
    /// The backend of every dialect without a route of its own.
    public let backend: any StockBackend
    /// Inbound dialect → its backend, from the configuration's `routes`.
    public let routes: [String: any StockBackend]
    public let metrics: GatewayMetrics
    /// Empties the backend between contract cases; nil unless `--enable-test-reset`.
    public let testReset: (@Sendable () async throws -> Void)?
    let logger: Logger

    /// - Parameters:
    ///   - configuration: limits and addresses.
    ///   - catalog: the products and locations every dialect is translated through.
    ///   - backend: where commands are carried out (the embedded ledger by default).
    ///   - metrics: the Prometheus registry to record into.
    ///   - logger: the gateway's logger.
    ///   - testReset: when given, `POST /stockgate/v1/test/reset` calls it (contract testing only).
    public init(
        configuration: GatewayConfiguration, catalog: Catalog, backend: any StockBackend,
        metrics: GatewayMetrics = GatewayMetrics(), logger: Logger = Logger(label: "stockgate"),
        testReset: (@Sendable () async throws -> Void)? = nil, routes: [String: any StockBackend] = [:]
    ) {
        self.routes = routes
        self.testReset = testReset
        self.configuration = configuration
        self.catalog = catalog
        self.backend = backend
        self.metrics = metrics
        self.logger = logger
    }

    /// Every inbound dialect this gateway serves.
    public var codecs: [any InboundCodec] { Self.codecs(configuration) }

    /// Every inbound dialect, configured.
    public static func codecs(_ configuration: GatewayConfiguration) -> [any InboundCodec] {
        [
            CanonicalCodec(), ColleqtiveCodec(), StoreFeederCodec(), Open2bCodec(version: .v6),
            Open2bCodec(version: .v3), ZettleCodec(organizationUUID: configuration.zettleOrganizationUUID),
        ]
    }

    /// Decodes, executes and encodes one request. Never throws: every failure becomes an
    /// answer in the caller's dialect.
    public func handle<Codec: InboundCodec>(
        _ codec: Codec, route: Route, request: InboundRequest, facts: RequestFacts
    ) async -> CodecResponse {
        let decoded: Decoded<Codec.Context>
        do {
            decoded = try codec.decode(request, route: route, catalog: catalog)
        } catch {
            return codec.encode(error, route: route, context: nil)
        }
        var facts = facts
        if facts.idempotencyKey == nil { facts.idempotencyKey = decoded.idempotencyKey }
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(decoded.commands.count)
        let target = routes[codec.dialect] ?? backend
        do {
            for (index, command) in decoded.commands.enumerated() {
                let outcome: Outcome
                do {
                    outcome = try await target.execute(command, facts: facts)
                } catch let error as GatewayError where error.code == .unsupported && index > 0 && !command.isWrite {
                    // A read after a write (Zettle reports balances after a move) is left out when the
                    // backend cannot answer it: the write stands and the encoder says less.
                    logger.debug("read after write not supported by the backend", metadata: ["request": "\(facts.requestID)"])
                    continue
                }
                if case .moved(let batch) = outcome, !batch.replayed {
                    metrics.recordMovementsApplied(dialect: codec.dialect, count: batch.succeeded.count)
                }
                outcomes.append(outcome)
            }
        } catch let error as GatewayError {
            return codec.encode(error, route: route, context: decoded.context)
        } catch {
            logger.error(
                "backend failure",
                metadata: ["request": "\(facts.requestID)", "dialect": "\(codec.dialect)", "error": "\(error)"])
            let failure = GatewayError(code: .internal, message: "internal error (request \(facts.requestID))")
            return codec.encode(failure, route: route, context: decoded.context)
        }
        return codec.encode(outcomes, context: decoded.context, route: route, catalog: catalog)
    }
}
