import CCurl
import Glibc

/// The floor under issue 12's bar: what a forwarding hop costs with libcurl outbound when
/// nothing else is paid. One thread and one epoll set own both the clients' sockets and
/// libcurl's (`curl_multi_socket_action`); no NIO, no Swift tasks, no thread crossings, no
/// translation, no journal. Each request is read up to its head and `Content-Length` body and
/// sent as it is (GET, or POST with its body; any other method closes the connection) to one
/// fixed backend URL; the backend's status and body go back. It is a measuring instrument for
/// `scripts/bench`, not a server: no TLS, no chunked bodies, no limits, no timeouts.
///
/// `stockgate-bench hop-floor --port=P --backend=http://127.0.0.1:Q/path` runs until killed.
final class HopFloor {
    /// One client connection and the easy handle that forwards its requests, one at a time.
    final class Connection {
        let socket: Int32
        let easy: UnsafeMutableRawPointer
        var input: [UInt8] = []
        var answer: [UInt8] = []
        var pending: [UInt8] = []
        var forwarding = false
        var watchingWrites = false

        init(socket: Int32, easy: UnsafeMutableRawPointer) {
            self.socket = socket
            self.easy = easy
        }
    }

    /// What an epoll entry is, in the high half of its 64-bit tag (the descriptor is the low half).
    enum Kind: UInt64 {
        case listener = 0
        case client = 1
        case curl = 2
    }

    let poller: Int32
    let listener: Int32
    let multi: UnsafeMutableRawPointer
    let backend: String
    let jsonHeader: UnsafeMutablePointer<curl_slist>?
    var connections: [Int32: Connection] = [:]
    /// When libcurl wants `CURL_SOCKET_TIMEOUT` handled, in monotonic milliseconds; nil for never.
    var deadline: Int?

    init(port: UInt16, backend: String) throws(HopFloorError) {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        signal(SIGPIPE, SIG_IGN)
        self.backend = backend
        poller = epoll_create1(Int32(EPOLL_CLOEXEC))
        multi = curl_multi_init()
        jsonHeader = curl_slist_append(nil, "Content-Type: application/json")
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var reuse: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard poller >= 0, listener >= 0, bound == 0, listen(listener, 4096) == 0 else {
            throw HopFloorError(message: "cannot listen on 127.0.0.1:\(port): errno \(errno)")
        }
        watch(listener, .listener, events: EPOLLIN.rawValue)
        let context = Unmanaged.passUnretained(self).toOpaque()
        // Every idle connection kept, as StockGate keeps them. libcurl's default keeps 4 per
        // transfer in the multi handle; the floor's transfers are in it nearly all the time, so
        // it opened no more connections without this (~1 per 1,000 forwards either way: nginx's
        // keepalive_requests), but a floor should not depend on that.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, context)
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, context)
        _ = ccurl_multi_setopt_socket_callback(multi) { _, socket, what, context, _ in
            guard let context else { return -1 }
            let floor = Unmanaged<HopFloor>.fromOpaque(context).takeUnretainedValue()
            if what == CURL_POLL_REMOVE {
                epoll_ctl(floor.poller, EPOLL_CTL_DEL, socket, nil)
            } else {
                var events: UInt32 = 0
                if what & CURL_POLL_IN != 0 { events |= EPOLLIN.rawValue }
                if what & CURL_POLL_OUT != 0 { events |= EPOLLOUT.rawValue }
                if !floor.watch(socket, .curl, events: events, change: true) {
                    floor.watch(socket, .curl, events: events)
                }
            }
            return 0
        }
        _ = ccurl_multi_setopt_timer_callback(multi) { _, milliseconds, context in
            guard let context else { return -1 }
            let floor = Unmanaged<HopFloor>.fromOpaque(context).takeUnretainedValue()
            floor.deadline = milliseconds < 0 ? nil : HopFloor.now() + milliseconds
            return 0
        }
    }

    static func now() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1000 + time.tv_nsec / 1_000_000
    }

    @discardableResult
    func watch(_ descriptor: Int32, _ kind: Kind, events: UInt32, change: Bool = false) -> Bool {
        let tag = kind.rawValue << 32 | UInt64(UInt32(bitPattern: descriptor))
        var event = epoll_event(events: events, data: epoll_data_t(u64: tag))
        return epoll_ctl(poller, change ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, descriptor, &event) == 0
    }

    func run() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var running: Int32 = 0
        while true {
            let wait = deadline.map { Int32(clamping: max(0, $0 - HopFloor.now())) } ?? -1
            let count = epoll_wait(poller, &events, Int32(events.count), wait)
            for event in events.prefix(Int(max(count, 0))) {
                let descriptor = Int32(bitPattern: UInt32(truncatingIfNeeded: event.data.u64))
                switch Kind(rawValue: event.data.u64 >> 32) {
                case .listener: accept()
                case .client:
                    if event.events & EPOLLOUT.rawValue != 0 { flush(descriptor) }
                    if event.events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                        readable(descriptor)
                    }
                case .curl:
                    var flags: Int32 = 0
                    if event.events & EPOLLIN.rawValue != 0 { flags |= CURL_CSELECT_IN }
                    if event.events & EPOLLOUT.rawValue != 0 { flags |= CURL_CSELECT_OUT }
                    if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { flags |= CURL_CSELECT_ERR }
                    curl_multi_socket_action(multi, descriptor, flags, &running)
                case nil: break
                }
            }
            if let due = deadline, HopFloor.now() >= due {
                deadline = nil
                curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
            }
            answerFinished()
        }
    }

    func accept() {
        while true {
            let client = Glibc.accept(listener, nil, nil)
            guard client >= 0 else { return }
            _ = fcntl(client, F_SETFL, O_NONBLOCK)
            var noDelay: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
            guard let easy = curl_easy_init() else {
                close(client)
                continue
            }
            let connection = Connection(socket: client, easy: easy)
            connections[client] = connection
            let context = Unmanaged.passUnretained(connection).toOpaque()
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_URL, backend)
            // No signal handling around each call, as StockGate's handles: without it libcurl
            // set and restored SIGPIPE's handler three times per forward (rt_sigaction).
            _ = ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_PRIVATE, context)
            _ = ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, context)
            _ = ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION) { buffer, size, count, context in
                guard let context else { return 0 }
                let connection = Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue()
                connection.answer.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: size * count))
                return size * count
            }
            watch(client, .client, events: EPOLLIN.rawValue)
        }
    }

    func readable(_ descriptor: Int32) {
        guard let connection = connections[descriptor] else { return }
        let read = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16384) { buffer in
            let got = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if got > 0 { connection.input.append(contentsOf: buffer.prefix(got)) }
            return got
        }
        if read == 0 || (read < 0 && errno != EAGAIN) {
            drop(connection)
            return
        }
        forwardNext(connection)
    }

    func drop(_ connection: Connection) {
        // Out of the multi handle before the handle and the connection go.
        if connection.forwarding { curl_multi_remove_handle(multi, connection.easy) }
        curl_easy_cleanup(connection.easy)
        close(connection.socket)
        connections[connection.socket] = nil
    }

    /// Starts forwarding the next whole request in the connection's input, if there is one.
    func forwardNext(_ connection: Connection) {
        guard !connection.forwarding, let (headEnd, length) = Self.requestHead(connection.input),
            connection.input.count >= headEnd + length
        else { return }
        let body = connection.input[headEnd..<(headEnd + length)]
        let isPost = connection.input.starts(with: "POST ".utf8)
        guard isPost || connection.input.starts(with: "GET ".utf8) else {
            drop(connection)
            return
        }
        if isPost {
            _ = ccurl_easy_setopt_long(connection.easy, CURLOPT_POSTFIELDSIZE, body.count)
            _ = body.withUnsafeBytes { ccurl_easy_setopt_ptr(connection.easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            _ = ccurl_easy_setopt_ptr(connection.easy, CURLOPT_HTTPHEADER, jsonHeader)
        } else {
            _ = ccurl_easy_setopt_long(connection.easy, CURLOPT_HTTPGET, 1)
        }
        connection.input.removeFirst(headEnd + length)
        connection.answer.removeAll(keepingCapacity: true)
        connection.forwarding = true
        curl_multi_add_handle(multi, connection.easy)
    }

    /// Where a request's head ends (after the blank line) and its `Content-Length`; nil until
    /// the whole head has arrived.
    static func requestHead(_ input: [UInt8]) -> (end: Int, length: Int)? {
        input.withUnsafeBufferPointer { bytes in
            guard bytes.count >= 4 else { return nil }
            var end = -1
            for index in 0...(bytes.count - 4)
            where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                end = index
                break
            }
            guard end >= 0 else { return nil }
            let name = Array("content-length:".utf8)
            var length = 0
            for line in 0..<end where bytes[line] == 10 && line + 1 + name.count < end {
                guard (0..<name.count).allSatisfy({ bytes[line + 1 + $0] | 0x20 == name[$0] }) else { continue }
                var digit = line + 1 + name.count
                while bytes[digit] == 32 { digit += 1 }
                while digit < end, (48...57).contains(bytes[digit]) {
                    length = length * 10 + Int(bytes[digit] - 48)
                    digit += 1
                }
            }
            return (end + 4, length)
        }
    }

    /// `HOP_FLOOR_SPIN_US`: user-space work added to each request (a busy wait), to see how
    /// the kernel's share of a request changes with the time the hop spends on it.
    static let spinNanoseconds: UInt64 = {
        guard let text = getenv("HOP_FLOOR_SPIN_US"), let value = UInt64(String(cString: text)) else { return 0 }
        return value * 1000
    }()

    static func spin() {
        func nanoseconds() -> UInt64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
        }
        let end = nanoseconds() + spinNanoseconds
        while nanoseconds() < end {}
    }

    func answerFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            var context: UnsafeMutableRawPointer?
            _ = ccurl_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &context)
            var status = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            // Read before the handle leaves the multi: the message does not outlive that.
            if message.pointee.data.result != CURLE_OK { status = 502 }
            curl_multi_remove_handle(multi, easy)
            guard let context else { continue }
            let connection = Unmanaged<Connection>.fromOpaque(context).takeUnretainedValue()
            connection.forwarding = false
            if HopFloor.spinNanoseconds > 0 { HopFloor.spin() }
            let head =
                "HTTP/1.1 \(status) \(status == 200 ? "OK" : "Forwarded")\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(connection.answer.count)\r\n\r\n"
            connection.pending.append(contentsOf: head.utf8)
            connection.pending.append(contentsOf: connection.answer)
            flush(connection.socket)
            if connections[connection.socket] != nil { forwardNext(connection) }
        }
    }

    /// Writes what is pending; what the socket does not take waits for `EPOLLOUT`.
    func flush(_ descriptor: Int32) {
        guard let connection = connections[descriptor], !connection.pending.isEmpty else { return }
        let written = connection.pending.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno != EAGAIN {
            drop(connection)
            return
        }
        connection.pending.removeFirst(max(written, 0))
        if connection.watchingWrites == connection.pending.isEmpty {
            connection.watchingWrites.toggle()
            let events = EPOLLIN.rawValue | (connection.watchingWrites ? EPOLLOUT.rawValue : 0)
            watch(descriptor, .client, events: events, change: true)
        }
    }
}

struct HopFloorError: Error {
    let message: String
}
