import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A backend on raw sockets, for faults a real HTTP server library will not make: it reads each
/// request whole (head and `Content-Length` body), records it, and then either answers it
/// (keeping the connection alive) or closes the connection without a byte of an answer — what
/// a backend (or a proxy in front of it) that applied a write and then died, or restarted, does.
/// One thread per connection; for tests only.
public final class RawUpstream: Sendable {
    public struct Received: Sendable {
        public var method: String
        public var path: String
        public var body: String
        /// 0 for the first request on its connection, 1 for the second (a reused connection), …
        public var indexOnConnection: Int
        public var connection: Int
    }

    public enum Reply: Sendable {
        /// Status and body, `Connection: keep-alive`.
        case answer(Int, String)
        /// The request was read whole; the connection closes with no answer.
        case dropConnection
    }

    /// The requests read whole, in arrival order.
    final class Log: Sendable {
        let entries = Mutex<[Received]>([])
    }

    private let acceptor: RawAcceptor
    public var port: Int { acceptor.port }
    private let log = Log()

    /// - Parameter script: what each request gets, decided once it has been read whole.
    public init(_ script: @escaping @Sendable (Received) -> Reply) throws {
        let log = self.log
        acceptor = try RawAcceptor(backlog: 64) { socket, number in
            Self.serve(socket, number: number, script: script, log: log)
        }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Every request read whole so far, in arrival order.
    public var received: [Received] { log.entries.withLock { $0 } }

    /// Stops accepting and closes every connection.
    public func stop() { acceptor.stop() }

    /// Runs `body` with the base URL, then stops.
    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        defer { stop() }
        return try await body(baseURL)
    }

    private static func serve(
        _ socket: Int32, number: Int, script: @Sendable (Received) -> Reply, log: Log
    ) {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var index = 0
        while true {
            // Head.
            var headEnd: Int?
            while headEnd == nil {
                if let end = Self.find([13, 10, 13, 10], in: buffer) {
                    headEnd = end
                    break
                }
                let count = recv(socket, &chunk, chunk.count, 0)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            let lines = head.components(separatedBy: "\r\n")
            let requestLine = lines.first?.split(separator: " ") ?? []
            var length = 0
            for line in lines.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == "content-length" {
                    length = Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            let bodyStart = headEnd! + 4
            while buffer.count < bodyStart + length {
                let count = recv(socket, &chunk, chunk.count, 0)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let received = Received(
                method: requestLine.count > 0 ? String(requestLine[0]) : "",
                path: requestLine.count > 1 ? String(requestLine[1]) : "",
                body: String(decoding: buffer[bodyStart..<(bodyStart + length)], as: UTF8.self),
                indexOnConnection: index, connection: number)
            buffer.removeFirst(bodyStart + length)
            index += 1
            log.entries.withLock { $0.append(received) }
            switch script(received) {
            case .dropConnection:
                return
            case .answer(let status, let body):
                let bytes = Array(body.utf8)
                let text =
                    "HTTP/1.1 \(status) Answer\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n"
                    + "Connection: keep-alive\r\n\r\n"
                let answer = Array(text.utf8) + bytes
                guard LoopbackSocket.sendAll(socket, answer) else { return }
            }
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }
}

/// The raw upstream could not listen on loopback.
public struct RawUpstreamError: Error {}
