import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Raw-socket plumbing the test servers on raw sockets share (`RawUpstream`, `HostileProxy`).
enum LoopbackSocket {
    /// A listening TCP socket on 127.0.0.1 at a port the kernel picks.
    static func listen(backlog: Int32) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, backlog) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard listening else {
            close(fd)
            throw RawUpstreamError()
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// Sends every byte; false when the peer is gone.
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
}

/// A loopback listener that serves each connection on a thread of its own (`handle` gets the
/// socket and the connection's number from 1, and the socket is closed when it returns), until
/// `stop()` shuts the listener and every open connection.
///
/// Every descriptor is shut or closed under `state`'s lock, by the thread that owns it: a
/// descriptor closed by one thread and then shut or accepted on by another may by then be
/// another test's socket (the kernel hands the lowest free number out again at once).
final class RawAcceptor: Sendable {
    let listener: Int32
    let port: Int
    private let state = Mutex<(stopped: Bool, open: [Int32], count: Int)>((false, [], 0))

    /// What one `accept` came to.
    private enum Accepted {
        case connection(Int)
        case again
        case stopped
    }

    init(backlog: Int32, handle: @escaping @Sendable (Int32, Int) -> Void) throws {
        (listener, port) = try LoopbackSocket.listen(backlog: backlog)
        let listener = self.listener
        Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                let taken = state.withLock { state -> Accepted in
                    guard !state.stopped else {
                        if connection >= 0 { close(connection) }
                        return .stopped
                    }
                    // EINTR, ECONNABORTED, or out of descriptors for a moment: accept again.
                    guard connection >= 0 else { return .again }
                    state.count += 1
                    state.open.append(connection)
                    return .connection(state.count)
                }
                guard case .connection(let number) = taken else {
                    if case .stopped = taken { break }
                    usleep(1000)
                    continue
                }
                Thread { [self] in
                    handle(connection, number)
                    state.withLock { state in
                        state.open.removeAll { $0 == connection }
                        close(connection)
                    }
                }.start()
            }
            // Only this thread closes the listener, once stopped: no accept on a number reused.
            state.withLock { _ in _ = close(listener) }
        }.start()
    }

    func stop() {
        state.withLock { state in
            guard !state.stopped else { return }
            state.stopped = true
            shutdown(listener, Int32(SHUT_RDWR))
            for socket in state.open { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }
}
