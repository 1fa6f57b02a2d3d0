import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The forwarding fuzz target's backend (`STOCKGATE_FUZZ_TARGET=http-forward`): a Zettle
/// stand-in on loopback that answers what it reads with `200 {}`, except a write that arrives
/// on a reused connection: that one is read whole and the connection is closed without an
/// answer — a backend that applied it and died. It records each write it read with its
/// `X-Request-Id`, so the fuzzer can tell a write received more often than the gateway
/// answered requests under that id (a transport resend).
final class HostileBackend: Sendable {
    struct Write: Hashable, Sendable {
        var requestID: String
        var body: [UInt8]
    }

    let port: Int
    private let listener: Int32
    private let writes = Mutex<[Write]>([])

    init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard listening else { fatalError("the fuzz backend cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let listener = fd
        Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                if connection < 0 { continue }
                Thread { [self] in serve(connection) }.start()
            }
        }.start()
    }

    /// The writes read so far; `taken()` empties the list.
    func taken() -> [Write] {
        writes.withLock { taken in
            defer { taken.removeAll() }; return taken
        }
    }

    private func serve(_ socket: Int32) {
        defer { close(socket) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        var index = 0
        while true {
            var headEnd: Int?
            while headEnd == nil {
                headEnd = Self.find(buffer)
                if headEnd != nil { break }
                let count = recv(socket, &chunk, chunk.count, 0)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
            var length = 0
            var requestID = ""
            for line in head.split(separator: "\r\n") {
                let lower = line.lowercased()
                if lower.hasPrefix("content-length:") {
                    length = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                } else if lower.hasPrefix("x-request-id:") {
                    requestID = String(line.dropFirst(13)).trimmingCharacters(in: .whitespaces)
                }
            }
            let end = headEnd! + 4 + length
            while buffer.count < end {
                let count = recv(socket, &chunk, chunk.count, 0)
                if count <= 0 { return }
                buffer.append(contentsOf: chunk[0..<count])
            }
            let isWrite = !head.hasPrefix("GET ") && !head.hasPrefix("HEAD ")
            let body = Array(buffer[(headEnd! + 4)..<end])
            buffer.removeFirst(end)
            if isWrite { writes.withLock { $0.append(Write(requestID: requestID, body: body)) } }
            if isWrite && index > 0 { return }  // applied; the connection dies before the answer
            index += 1
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".utf8)
            if answer.withUnsafeBytes({ send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) <= 0 { return }
        }
    }

    static func find(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for start in 0...(bytes.count - 4)
        where bytes[start] == 13 && bytes[start + 1] == 10 && bytes[start + 2] == 13 && bytes[start + 3] == 10 {
            return start
        }
        return nil
    }
}
