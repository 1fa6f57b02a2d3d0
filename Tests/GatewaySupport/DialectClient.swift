import AsyncHTTPClient
import Dialects
import Foundation
import NIOHTTP1
import StockCore

/// A client of any registered dialect, written by that dialect's own client codec (the
/// outbound codec StockGate forwards with): the request a vendor's client sends for a
/// movement, and whether its answer says the movement was applied. Tests that load every
/// dialect iterate `DialectRegistry.ids` through it, so no test keeps its own list.
public enum DialectClient {
    /// A restock of one `mug-black` (supplier → shop floor), or a sale of one (shop floor → sold).
    public static func unit(inbound: Bool) -> Movement {
        Movement(
            product: "mug-black", quantity: Quantity(1), from: inbound ? "supplier" : "shop-floor",
            to: inbound ? "shop-floor" : "sold")
    }

    public struct Request: Sendable {
        public var method: HTTPMethod
        /// The path with its query.
        public var path: String
        public var headers: [(String, String)]
        public var body: String?

        public init(method: HTTPMethod, path: String, headers: [(String, String)], body: String?) {
            self.method = method
            self.path = path
            self.headers = headers
            self.body = body
        }
    }

    /// `movement` as a `dialect` client sends it (nil when that dialect cannot say it).
    public static func request(_ dialect: DialectID, _ movement: Movement, catalog: Catalog = demoCatalog) -> Request? {
        guard let codec = DialectRegistry.dialect(dialect)?.outboundCodec(),
            (try? codec.check(movement, catalog: catalog)) != nil,
            let request = try? codec.moveRequest([movement], catalog: catalog, idempotencyKey: nil, atomic: true)
        else { return nil }
        return Request(
            method: HTTPMethod(rawValue: request.head.method.rawValue), path: request.path,
            headers: request.head.headerFields.map { ($0.name.canonicalName, $0.value) },
            body: request.body.map { String(decoding: $0, as: UTF8.self) })
    }

    /// Whether the `dialect` answer says `movement` was applied, as its client reads it.
    public static func applied(
        _ dialect: DialectID, _ movement: Movement, _ result: HTTPResult, catalog: Catalog = demoCatalog
    ) -> Bool {
        guard let codec = DialectRegistry.dialect(dialect)?.outboundCodec() else { return false }
        let items = codec.moveResult(
            OutboundResponse(status: result.status, body: result.body), items: [movement], catalog: catalog)
        return items.count == 1 && { if case .applied = items[0] { true } else { false } }()
    }

    /// Sends `movement` as a `dialect` client to `base`; nil when the dialect cannot say it.
    public static func send(
        _ dialect: DialectID, _ movement: Movement, to base: String, catalog: Catalog = demoCatalog
    ) async throws -> HTTPResult? {
        guard let request = request(dialect, movement, catalog: catalog) else { return nil }
        return try await HTTPClient.shared.send(
            request.method, base + request.path, body: request.body, headers: request.headers)
    }
}
