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
enum HTTPFuzz {
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
            configuration.requestTimeout = 0.5
            configuration.idleTimeout = 2
            let gateway = Gateway(configuration: configuration, catalog: catalog, backend: ledger, logger: logger)
            server.ledger = ledger
            Task.detached {
                try await GatewayServer.withRunning(gateway, logger: logger) { port in
                    server.port = port
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
        let answer = exchange(data, port: port)
        if answer.hasPrefix("HTTP/1.") { answered.wrappingAdd(1, ordering: .relaxed) }
        for line in answer.split(separator: "\r\n", omittingEmptySubsequences: true) where line.hasPrefix("HTTP/1.") {
            let status = Int(line.dropFirst(9).prefix(3)) ?? 0
            if status >= 500 { fatalError("answered \(line) to \(String(decoding: data.prefix(200), as: UTF8.self))") }
        }
        if inputs.wrappingAdd(1, ordering: .relaxed).newValue % 200 == 0 { checkLedger() }
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
