import Foundation
import Simulator
import StockCore

/// How a gateway runs. Defaults suit a developer machine; `stockgate serve` fills it from
/// flags, `STOCKGATE_*` environment variables and the `--config` YAML file
/// (see `GatewayConfiguration+Config.swift`).
public struct GatewayConfiguration: Sendable, Equatable {
    /// The whole running configuration as an operator may read it, secrets left out
    /// (`ServeSettings.runningDescription`; `GET /stockgate/v1/config`). Nil when the gateway was
    /// not started by `stockgate serve` (tests, the contract tester's in-process gateways).
    public var running: JSONValue? = nil
    /// The address to listen on.
    public var host: String
    /// The port to listen on; 0 picks a free one (tests).
    public var port: Int
    /// Where the ledger file lives.
    public var dataDirectory: String
    /// Where `products.csv` and `locations.csv` are.
    public var mappingsDirectory: String
    /// Requests with a larger body are refused with 413.
    public var maxBodyBytes: Int
    /// Deepest JSON nesting accepted in a body.
    public var maxJSONDepth: Int
    /// Most values one JSON body may hold (413 above): what bounds a body's parsed size.
    public var maxJSONValues: Int = JSONParser.defaultMaxValues
    /// The Zettle organization UUID answered besides `self` in `/organizations/{org}/…`.
    /// Each dialect's `dialects.<id>` settings (keys its `Dialect.settingKeys` declare).
    public var dialectSettings: [String: [String: String]]
    /// How long the answer to a write with an idempotency key is kept for repeats.
    public var idempotencyTTL: Duration = .seconds(24 * 3600)
    /// Most movements one request may carry, whatever the dialect allows.
    public var maxBatchItems: Int = 1000
    /// Most requests handled at once; more are answered 429.
    public var maxConcurrentRequests: Int = 512
    /// Most client connections open at once; more are answered 503 and closed. `stockgate
    /// serve` lowers it to what the descriptor limit allows (`ConnectionBudget`).
    public var maxConnections: Int = 10_000
    /// How long a graceful shutdown waits for requests in hand; then the connections still open
    /// are closed (their requests' journal rows say what became of them).
    public var drainTimeout: Duration = .seconds(30)
    /// `host:port` of the admin listener (`server.admin_listen`): health, metrics, the operator
    /// page and the journal there, and no longer on the traffic port. nil: one port for all.
    public var adminListen: String?
    /// Failed credential checks a minute one address (or a `/Token` user name) may make before
    /// it is answered 429 (`AuthThrottle`).
    public var authFailuresPerMinute: Int = 10
    /// Where webhooks may be delivered besides public addresses (`server.webhook_allowed_networks`).
    public var webhookDestinations = DestinationPolicy()
    /// How long a request body may take to arrive (408 after).
    public var requestTimeout: Duration = .seconds(30)
    /// How long an idle keep-alive connection is kept open.
    public var idleTimeout: Duration = .seconds(60)
    /// Between SIGTERM and closing the listener: `/readyz` answers 503 at once so a load
    /// balancer stops sending, while new connections are still served (zero: close at once).
    public var drainDelay: Duration = .zero

    /// `127.0.0.1:9901` → ("127.0.0.1", 9901); `[::1]:9901` → ("::1", 9901); nil when not one.
    public static func hostAndPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: String = "./.stockgate",
        mappingsDirectory: String = "./mappings", maxBodyBytes: Int = 4 * 1024 * 1024, maxJSONDepth: Int = 32,
        dialectSettings: [String: [String: String]] = [:]
    ) {
        self.dialectSettings = dialectSettings
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.mappingsDirectory = mappingsDirectory
        self.maxBodyBytes = maxBodyBytes
        self.maxJSONDepth = maxJSONDepth
    }
}
