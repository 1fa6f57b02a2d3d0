import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A proxy in front of a real backend that applies a request and then, now and then, drops
/// the connection instead of passing the answer on: what a backend (or anything in its path)
/// that dies after applying a write does. Each request is read whole (head and
/// `Content-Length` body), sent to the target on a new connection, its answer read whole, and
/// then relayed — or, for one request in `dropEvery`, the client's connection is closed with no
/// answer. Requests without a body are always relayed. Raw sockets, a thread per connection;
/// for tests only.
public final class HostileProxy: Sendable {
    /// Writes passed on, and answers dropped.
    final class Counts: Sendable {
        let values = Mutex<(writes: Int, dropped: Int)>((0, 0))
    }

    private let acceptor: RawAcceptor
    public var port: Int { acceptor.port }
    private let tally = Counts()

    public init(targetPort: Int, dropEvery: Int) throws {
        let tally = self.tally
        acceptor = try RawAcceptor(backlog: 128) { socket, _ in
            Self.serve(socket, targetPort: targetPort, dropEvery: dropEvery, tally: tally)
        }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// Requests with a body passed to the target, and how many of their answers were dropped.
    public var counts: (writes: Int, dropped: Int) { tally.values.withLock { $0 } }

    public func stop() { acceptor.stop() }

    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        defer { stop() }
        return try await body(baseURL)
    }

    /// One HTTP/1.1 message with a `Content-Length` body (or none) from `socket`, after what
    /// `buffer` already holds; nil when the peer closed first.
    static func readMessage(_ socket: Int32, _ buffer: inout [UInt8]) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 16384)
        var headEnd: Int?
        while headEnd == nil {
            headEnd = RawUpstream.find([13, 10, 13, 10], in: buffer)
            if headEnd != nil { break }
            let count = recv(socket, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self).lowercased()
        var length = 0
        for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let end = headEnd! + 4 + length
        while buffer.count < end {
            let count = recv(socket, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
        let message = Array(buffer[0..<end])
        buffer.removeFirst(end)
        return message
    }

    private static func serve(_ client: Int32, targetPort: Int, dropEvery: Int, tally: Counts) {
        var buffer: [UInt8] = []
        while let request = Self.readMessage(client, &buffer) {
            let hasBody = !(request.starts(with: Array("GET ".utf8)) || request.starts(with: Array("HEAD ".utf8)))
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = LoopbackSocket.address(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var upstreamBuffer: [UInt8] = []
            guard connected == 0, LoopbackSocket.sendAll(upstream, request),
                let answer = Self.readMessage(upstream, &upstreamBuffer)
            else {
                close(upstream)
                return
            }
            close(upstream)
            let drop = tally.values.withLock { state -> Bool in
                guard hasBody else { return false }
                state.writes += 1
                guard state.writes % dropEvery == 0 else { return false }
                state.dropped += 1
                return true
            }
            if drop { return }  // applied at the target; the answer never comes
            guard LoopbackSocket.sendAll(client, answer) else { return }
        }
    }
}
