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
    let listener: Int32
    public let port: Int
    let targetPort: Int
    let dropEvery: Int
    let state = Mutex<(writes: Int, dropped: Int, stopped: Bool, open: [Int32])>((0, 0, false, []))

    public init(targetPort: Int, dropEvery: Int) throws {
        self.targetPort = targetPort
        self.dropEvery = dropEvery
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 128) == 0 else {
            close(listener)
            throw RawUpstreamError()
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: actual.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// Requests with a body passed to the target, and how many of their answers were dropped.
    public var counts: (writes: Int, dropped: Int) { state.withLock { ($0.writes, $0.dropped) } }

    public func stop() {
        let open = state.withLock { state -> [Int32] in
            state.stopped = true
            return state.open
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for socket in open { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    public func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        defer { stop() }
        return try await body(baseURL)
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if state.withLock({ $0.stopped }) { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let accepted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.open.append(connection)
                return true
            }
            guard accepted else {
                close(connection)
                return
            }
            Thread { [self] in serve(connection) }.start()
        }
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

    static func sendAll(_ socket: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    private func serve(_ client: Int32) {
        defer {
            state.withLock { $0.open.removeAll { $0 == client } }
            close(client)
        }
        var buffer: [UInt8] = []
        while let request = Self.readMessage(client, &buffer) {
            let hasBody = !(request.starts(with: Array("GET ".utf8)) || request.starts(with: Array("HEAD ".utf8)))
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var upstreamBuffer: [UInt8] = []
            guard connected == 0, Self.sendAll(upstream, request),
                let answer = Self.readMessage(upstream, &upstreamBuffer)
            else {
                close(upstream)
                return
            }
            close(upstream)
            let drop = state.withLock { state -> Bool in
                guard hasBody else { return false }
                state.writes += 1
                guard state.writes % dropEvery == 0 else { return false }
                state.dropped += 1
                return true
            }
            if drop { return }  // applied at the target; the answer never comes
            guard Self.sendAll(client, answer) else { return }
        }
    }
}
