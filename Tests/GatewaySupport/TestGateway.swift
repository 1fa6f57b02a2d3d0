import AsyncHTTPClient
import CurlHTTP
import Dialects
import Foundation
import Gateway
import HTTPTypes
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import Operations
import Simulator
import StockCore
import Testing

/// The repository's demo catalog, as `stockgate serve` loads it.
public let demoCatalog: Catalog = {
    let mappings = StockGateProcess.repository.appendingPathComponent("mappings").path
    return try! CatalogLoader.load(directory: mappings)
}()

public let quietLogger: Logger = {
    var logger = Logger(label: "stockgate.test")
    logger.logLevel = .warning
    return logger
}()

/// A gateway on a real socket at `127.0.0.1:<ephemeral>` over the embedded ledger in a
/// temporary directory, for the duration of `body`.
public struct LiveGateway: Sendable {
    public let port: Int
    public let ledger: Ledger
    public let gateway: Gateway
    public let dataDirectory: String

    public init(port: Int, ledger: Ledger, gateway: Gateway, dataDirectory: String) {
        self.port = port
        self.ledger = ledger
        self.gateway = gateway
        self.dataDirectory = dataDirectory
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    public static func run<T: Sendable>(
        catalog: Catalog = demoCatalog, dataDirectory: String? = nil, logger: Logger = quietLogger,
        idempotencyTTL: Double = 24 * 3600, clients: ClientAuthenticator = ClientAuthenticator(),
        clock: @escaping @Sendable () -> Date = { Date() }, configure: (inout GatewayConfiguration) -> Void = { _ in },
        faults: FaultSchedule? = nil, pusher: PusherHub? = nil, direct: (any DirectAnswerer)? = nil,
        testReset: Bool = false, openAPI: (@Sendable (String) -> [UInt8]?)? = nil,
        _ body: @Sendable (LiveGateway) async throws -> T
    ) async throws -> T {
        let directory = dataDirectory ?? temporaryDirectory()
        defer { if dataDirectory == nil { try? FileManager.default.removeItem(atPath: directory) } }
        let ledger = try Ledger.open(
            directory: directory, catalog: catalog, clock: clock, logger: logger, idempotencyWindow: idempotencyTTL)
        var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
        configuration.idempotencyTTL = .seconds(idempotencyTTL)
        configure(&configuration)
        var reset: (@Sendable () async throws -> Void)?
        if testReset { reset = { try await ledger.reset() } }
        let gateway = Gateway(
            configuration: configuration, catalog: catalog, backend: ledger, logger: logger, testReset: reset,
            clients: clients, clock: clock, faults: faults,
            openAPI: openAPI, pusher: pusher, direct: direct)
        defer { try? ledger.close() }
        return try await GatewayServer.withRunning(gateway, logger: logger) { port in
            try await body(LiveGateway(port: port, ledger: ledger, gateway: gateway, dataDirectory: directory))
        }
    }
}

extension LiveGateway {
    /// A gateway built from `config` (a `stockgate.yaml` text) as `stockgate serve` builds it: its
    /// backends reached over one libcurl client, the embedded ledger in a temporary directory as
    /// the fallback, on a real socket for the duration of `body`. The client is shut down after.
    public static func run<T: Sendable>(
        config: String, metrics: GatewayMetrics? = nil, clients: ClientAuthenticator = ClientAuthenticator(),
        _ body: @Sendable (LiveGateway, CurlHTTPClient) async throws -> T
    ) async throws -> T {
        let metrics = metrics ?? GatewayMetrics()
        return try await withCurlClient(.init(timeout: .seconds(10))) { client in
            try await withTemporaryLedger { directory, ledger in
                let wired = try Backends.make(
                    try ConfigFile.parse(config), catalog: demoCatalog, embedded: ledger, client: client,
                    logger: quietLogger, metrics: metrics)
                let gateway = Gateway(
                    configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
                    backend: wired.fallback, metrics: metrics, logger: quietLogger, routes: wired.routes,
                    clients: clients)
                return try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in
                    try await body(
                        LiveGateway(port: port, ledger: ledger, gateway: gateway, dataDirectory: directory), client)
                }
            }
        }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A new directory of its own for a test. One that cannot be made (a full disk) fails the test
/// that asked, naming why, not the whole test process: the test goes on and fails at its next
/// step on the missing directory.
public func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-test-\(UUID().uuidString)").path
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        Issue.record("cannot make the test directory \(path): \(error)")
    }
    return path
}

/// A ledger of the demo catalog on a directory of its own, for `body`; closed, and the directory
/// removed, after it.
public func withTemporaryLedger<T>(_ body: (_ directory: String, _ ledger: Ledger) async throws -> T) async throws -> T
{
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let ledger = try Ledger.open(directory: directory, catalog: demoCatalog, logger: quietLogger)
    defer { try? ledger.close() }
    return try await body(directory, ledger)
}

/// A libcurl client for `body`, shut down after it whether it returned or threw (its engine
/// thread would otherwise outlive the test).
public func withCurlClient<T>(
    _ configuration: CurlHTTPClient.Configuration, _ body: (CurlHTTPClient) async throws -> T
) async throws -> T {
    let client = CurlHTTPClient(configuration: configuration)
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}

/// A gateway on a temporary ledger whose one backend is `dialect` at `baseURL` over `client`,
/// journaled in that ledger, served on a free port for `body`.
public func withForwardingGateway<T: Sendable>(
    dialect: DialectID, baseURL: String, client: CurlHTTPClient,
    _ body: @Sendable (_ port: Int, _ ledger: Ledger) async throws -> T
) async throws -> T {
    try await withTemporaryLedger { directory, ledger in
        let codec = try #require(Backends.codec(dialect: dialect, parameters: BackendParameters()))
        let backend = RemoteBackend(
            name: "remote", baseURL: baseURL, codec: codec, client: client, auth: .none, catalog: demoCatalog,
            journal: ledger, logger: quietLogger)
        let gateway = Gateway(
            configuration: GatewayConfiguration(port: 0, dataDirectory: directory), catalog: demoCatalog,
            backend: backend, logger: quietLogger)
        return try await GatewayServer.withRunning(gateway, logger: quietLogger) { port in try await body(port, ledger)
        }
    }
}

/// A response read whole: status, headers and the body parsed as JSON when it is JSON.
public struct HTTPResult: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var json: JSONValue? { try? JSONParser.parse(body) }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

extension HTTPClient {
    /// Sends one request over a real socket.
    public func send(
        _ method: HTTPMethod, _ url: String, body: String? = nil, headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(30)
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
        }
        let response = try await execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return HTTPResult(
            status: Int(response.status.code), headers: response.headers,
            body: bytes.getBytes(at: bytes.readerIndex, length: bytes.readableBytes) ?? [])
    }
}
