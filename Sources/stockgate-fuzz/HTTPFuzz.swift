import CurlHTTP
import Dialects
import Foundation
import Gateway
import Ledger
import Logging
import StockCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer target over raw HTTP/1.x requests through the whole server pipeline — NIO's
/// parser, the connection policy, the middleware, the router, every dialect's codec and the
/// embedded ledger — on a real loopback socket: what an attacker reaches before any codec.
///
/// One gateway runs in this process for the whole run; each input is sent as-is on a fresh
/// connection, which is then half-closed, and the answer read until the server closes.
/// A finding: the process crashes, the server stops accepting connections, an answer with a
/// 5xx status (no backend can fail here), or a movement in the ledger that is not positive
/// or names nothing in the catalog. `STOCKGATE_FUZZ_TARGET=http`; the replay reports how many
/// inputs were answered.
///
/// `STOCKGATE_FUZZ_TARGET=http-forward` (issue 29) runs the same inputs through a gateway that
/// forwards the canonical API and Zettle's to `HostileBackend`, which drops writes arriving on
/// a reused connection after reading them, with a connection cap of 32 that a background thread
/// runs into every 2 s while fuzzing (a burst of 40 connections held for 50 ms; not in a replay): backend failures may be answered 502, 503 or
/// 504 (never 500), and a write the backend read more often under one `X-Request-Id` than the
/// client got answers with that id is a finding (the transport sent it again).
enum HTTPFuzz {
    static let forwarding = FuzzTarget.name == "http-forward"
    static let backend: HostileBackend? = forwarding ? HostileBackend() : nil
    final class Server: @unchecked Sendable {
        // @unchecked: written once before `ready` is signalled, read only after.
        var port = 0
        var ledger: Ledger?
        let ready = DispatchSemaphore(value: 0)
    }

    static let server: Server = {
        let server = Server()
        var logger = Logger(label: "stockgate.fuzz")
        logger.logLevel = .critical
        let mappings = ProcessInfo.processInfo.environment["STOCKGATE_MAPPINGS"] ?? "mappings"
        let directory = NSTemporaryDirectory() + "stockgate-fuzz-http-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        do {
            let catalog = try CatalogLoader.load(directory: mappings)
            let ledger = try Ledger.open(directory: directory, catalog: catalog, logger: logger)
            var configuration = GatewayConfiguration(port: 0, dataDirectory: directory)
            configuration.requestTimeout = .milliseconds(500)
            configuration.idleTimeout = .seconds(2)
            var routes: [DialectID: any StockBackend] = [:]
            if let backend {
                configuration.maxConnections = 32
                let remote = RemoteBackend(
                    name: "hostile", baseURL: "http://127.0.0.1:\(backend.port)",
                    codec: Backends.codec(dialect: ZettleCodec.dialect)!,
                    client: CurlHTTPClient(configuration: .init(timeout: .seconds(2))), auth: .none, catalog: catalog,
                    journal: ledger, timeout: .seconds(2), logger: logger)
                routes = [ZettleCodec.dialect: remote, CanonicalCodec.dialect: remote]
            }
            let gateway = Gateway(
                configuration: configuration, catalog: catalog, backend: ledger, logger: logger, routes: routes,
                idempotencyStore: ledger)
            server.ledger = ledger
            Task.detached {
                try await GatewayServer.withRunning(gateway, logger: logger) { port in
                    server.port = port
                    #if FUZZING
                        // Not in a replay, whose answers must not depend on a burst's timing.
                        if forwarding { startPressure(port: port) }
                    #endif
                    server.ready.signal()
                    while true { try await Task.sleep(for: .seconds(3600)) }
                }
            }
        } catch {
            fatalError("the gateway did not start: \(error)")
        }
        server.ready.wait()
        return server
    }()

    static let inputs = Atomic<Int>(0)

    /// Inputs that got at least one answer (the replay reports it: the inputs reach the pipeline).
    static let answered = Atomic<Int>(0)

    static func run(_ data: [UInt8]) {
        let port = server.port
        _ = backend?.taken()
        let answer = exchange(data, port: port)
        if answer.hasPrefix("HTTP/1.") { answered.wrappingAdd(1, ordering: .relaxed) }
        for line in answer.split(separator: "\r\n", omittingEmptySubsequences: true) where line.hasPrefix("HTTP/1.") {
            let status = Int(line.dropFirst(9).prefix(3)) ?? 0
            let backendFailure = forwarding && (502...504).contains(status)
            if status >= 500 && !backendFailure {
                fatalError("answered \(line) to \(String(decoding: data.prefix(200), as: UTF8.self))")
            }
        }
        if let backend { checkSentOnce(backend.taken(), answer: answer, input: data) }
        if inputs.wrappingAdd(1, ordering: .relaxed).newValue % 200 == 0 { checkLedger() }
    }

    /// No write reached the backend more often under one request id than the client got
    /// answers carrying that id (the gateway sends its request id to the backend).
    static func checkSentOnce(_ writes: [HostileBackend.Write], answer: String, input: [UInt8]) {
        var received: [HostileBackend.Write: Int] = [:]
        for write in writes { received[write, default: 0] += 1 }
        let lines = answer.split(separator: "\r\n").map { $0.lowercased() }
        for (write, count) in received where count > 1 {
            let answers = lines.filter { $0 == "x-request-id: \(write.requestID.lowercased())" }.count
            if count > answers {
                fatalError(
                    "a write reached the backend \(count) times under request \(write.requestID), answered \(answers) times: \(String(decoding: input.prefix(200), as: UTF8.self))"
                )
            }
        }
    }

    /// Bursts of connections past the cap, all the time, while inputs are fuzzed: the refusal
    /// path runs beside them.
    static func startPressure(port: Int) {
        Thread {
            while true {
                var burst: [Int32] = []
                for _ in 0..<40 {
                    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    var address = sockaddr_in()
                    address.sin_family = sa_family_t(AF_INET)
                    address.sin_port = in_port_t(UInt16(port).bigEndian)
                    address.sin_addr.s_addr = inet_addr("127.0.0.1")
                    _ = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                    burst.append(fd)
                }
                usleep(50_000)
                for fd in burst { close(fd) }
                usleep(1_950_000)
            }
        }.start()
    }

    /// Sends the bytes on a fresh connection, half-closes, reads until the server closes.
    static func exchange(_ bytes: [UInt8], port: Int) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if connected != 0 { fatalError("the server no longer accepts connections (errno \(errno))") }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        shutdown(fd, Int32(SHUT_WR))
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < 1_000_000 {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Every movement the fuzzed requests got applied is sound.
    static func checkLedger() {
        guard let ledger = server.ledger else { return }
        let done = DispatchSemaphore(value: 0)
        let problem = Mutex<String?>(nil)
        Task.detached {
            do {
                for movement in try await ledger.movements(MovementQuery()) {
                    if !movement.quantity.isPositive { problem.withLock { $0 = "a movement of \(movement.quantity)" } }
                    if ledger.catalog.product(key: movement.product) == nil {
                        problem.withLock { $0 = "a movement of an unknown product \(movement.product)" }
                    }
                }
            } catch {
                problem.withLock { $0 = "the ledger cannot be read: \(error)" }
            }
            done.signal()
        }
        done.wait()
        if let found = problem.withLock({ $0 }) { fatalError(found) }
    }
}
