import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP client that can send part of a request and wait: what a slow or hostile client does.
public final class RawClient: @unchecked Sendable {
    // @unchecked: the socket is used by one test at a time, from one thread at a time.
    let socket: Int32

    public init(port: Int, timeoutSeconds: Int = 10) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestFailure("connect failed") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ text: String) {
        _ = text.withCString { Glibc.send(socket, $0, strlen($0), 0) }
    }

    public func send(bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Says nothing more will be sent (half-close), so the server sees the end of the input.
    public func finishSending() {
        shutdown(socket, Int32(SHUT_WR))
    }

    /// Everything until the peer closes or the receive timeout passes (at most `limit` bytes).
    public func readToEnd(limit: Int = 1_000_000) -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < limit {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Everything until the peer closes its side (`closed`) or the receive timeout passes.
    public func readUntilClosed(limit: Int = 1_000_000) -> (text: String, closed: Bool) {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < limit {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 { return (String(decoding: output, as: UTF8.self), true) }
            if count < 0 { break }
            output.append(contentsOf: buffer[0..<count])
        }
        return (String(decoding: output, as: UTF8.self), false)
    }

    /// How the peer ended the exchange.
    public enum Ending: Sendable, Equatable {
        /// An orderly close (FIN).
        case closed
        /// A reset (RST): `ECONNRESET`.
        case reset
        /// Nothing more within the receive timeout; the connection is still open.
        case timedOut
    }

    /// Every byte until the peer closes, resets or goes quiet for the receive timeout, and which.
    public func readUntilEnd(limit: Int = 1_000_000) -> (bytes: [UInt8], ending: Ending) {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while output.count < limit {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count == 0 { return (output, .closed) }
            if count < 0 {
                if errno == EINTR { continue }
                return (output, errno == ECONNRESET ? .reset : .timedOut)
            }
            output.append(contentsOf: buffer[0..<count])
        }
        return (output, .timedOut)
    }

    /// Reads exactly up to the first blank line (one response head, e.g. `100 Continue`).
    public func readHead() -> String {
        var output: [UInt8] = []
        var byte: UInt8 = 0
        while !output.suffix(4).elementsEqual([13, 10, 13, 10]), recv(socket, &byte, 1, 0) == 1 { output.append(byte) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Sends `bytes` over and over until the peer has closed the socket (true: a send failed
    /// with a reset or a broken pipe) or `seconds` pass (false).
    public func sendsFailWithin(seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        let deadline = Date().addingTimeInterval(Double(seconds))
        while Date() < deadline {
            let sent = chunk.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && (errno == EPIPE || errno == ECONNRESET) { return true }
            if sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }
            usleep(10_000)
        }
        return false
    }

    /// Reads until the peer closes or the receive timeout passes.
    public func readAll() -> String {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if String(decoding: output, as: UTF8.self).contains("\r\n\r\n{") && output.last == UInt8(ascii: "}") {
                break
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    deinit { close(socket) }
}
