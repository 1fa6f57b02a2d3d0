import HTTPTypes

/// A request for `CurlHTTPClient`: an HTTPTypes request head, whose scheme, authority and
/// path make the URL, and its body.
public struct CurlRequest: Sendable {
    /// Method, scheme, authority, path (with query) and header fields in order. `Expect` is
    /// suppressed unless set here. HTTPTypes keeps line breaks out of field values.
    public var head: HTTPRequest
    public var body: [UInt8]?
    /// Overrides the client's total timeout for this request.
    public var timeout: Duration?
    /// When set, every address libcurl is about to connect to (after name resolution, before the
    /// socket exists) must pass it; a refused one fails the transfer with `addressRefused` and
    /// nothing is sent. What keeps a destination given by an untrusted party (a webhook
    /// subscriber) from reaching loopback, link-local or private addresses, whatever its name
    /// resolves to at the time.
    public var permitAddress: (@Sendable (IPAddress) -> Bool)?
    /// When set, the caller's task goes on on the client's own thread once the answer is in,
    /// up to its next suspension, instead of being woken on its own executor (see `Handoff`;
    /// it does so only where its executor allows it). For a caller whose next step is short and
    /// hands off to another thread itself, such as a write whose answer is journaled next: one
    /// thread wake-up fewer. A caller with more to do after the answer leaves it off, so the
    /// client's thread is not kept from other transfers.
    public var resumesOnClientThread = false

    /// The URL given at init, which then wins over the head's scheme, authority and path.
    private let givenURL: String?

    public init(_ head: HTTPRequest, body: [UInt8]? = nil, timeout: Duration? = nil) {
        self.head = head
        self.body = body
        self.timeout = timeout
        self.givenURL = nil
    }

    /// A request whose URL the caller has made already (a backend's base URL and a path):
    /// the head's scheme, authority and path are not read, so it need not carry them
    /// (HTTPTypes validates each pseudo-field it is given, byte by byte).
    public init(_ head: HTTPRequest, url: String, body: [UInt8]? = nil, timeout: Duration? = nil) {
        self.head = head
        self.body = body
        self.timeout = timeout
        self.givenURL = url
    }

    /// A request to an absolute URL (`http://host:port/path?query`).
    public init(
        method: HTTPRequest.Method = .get, url: String, headerFields: HTTPFields = [:], body: [UInt8]? = nil,
        timeout: Duration? = nil
    ) {
        let (scheme, authority, path) = Self.split(url)
        self.init(
            HTTPRequest(method: method, scheme: scheme, authority: authority, path: path, headerFields: headerFields),
            body: body, timeout: timeout)
    }

    /// The URL libcurl is given: the one given at init, else the head's scheme, authority and
    /// path.
    public var url: String {
        if let givenURL { return givenURL }
        let scheme = head.scheme ?? "http"
        let authority = head.authority ?? ""
        let path = head.path ?? "/"
        var url = ""
        url.reserveCapacity(scheme.utf8.count + 3 + authority.utf8.count + path.utf8.count)
        url += scheme
        url += "://"
        url += authority
        url += path
        return url
    }

    /// Scheme, authority and path (at least `/`) of an absolute URL.
    public static func split(_ url: String) -> (scheme: String, authority: String, path: String) {
        guard let schemeEnd = url.range(of: "://") else { return ("http", "", url.isEmpty ? "/" : url) }
        let scheme = String(url[..<schemeEnd.lowerBound])
        let rest = url[schemeEnd.upperBound...]
        let pathStart = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        var path = String(rest[pathStart...])
        if !path.hasPrefix("/") { path = "/" + path }
        return (scheme, String(rest[..<pathStart]), path)
    }
}

/// An IPv4 or IPv6 address as libcurl is about to connect to it.
public enum IPAddress: Sendable, Equatable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    /// The address's 4 or 16 bytes, in network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let bytes), .v6(let bytes): bytes
        }
    }

    public var description: String {
        switch self {
        case .v4(let bytes): return bytes.map(String.init).joined(separator: ".")
        case .v6(let bytes):
            return stride(from: 0, to: 16, by: 2).map {
                String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
            }
            .joined(separator: ":")
        }
    }
}

/// A response read whole.
public struct CurlResponse: Sendable {
    public var status: Int
    /// The final response's header lines as libcurl handed them over, each ending in LF: read
    /// into names and values only when asked (two `String`s per line as they arrived cost
    /// ~6,000 instructions per forward, callgrind, and a forward asks for two headers).
    var headerLines: [UInt8]
    public var body: [UInt8]
    /// `1.1`, `2`, … as negotiated.
    public var httpVersion: String
    /// New connections this transfer opened: 0 when it reused a kept-alive one.
    public var newConnections: Int

    /// Header lines of the final response, in order.
    public var headers: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        forEachField { name, value in
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return fields
    }

    /// The first value of a header, its name matched ignoring ASCII case, read from the bytes
    /// in one pass: a line whose start is not the name is skipped to its end.
    public func header(_ name: String) -> String? {
        var name = name
        return name.withUTF8 { wanted in
            headerLines.withUnsafeBytes { bytes -> String? in
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                    let colon = start + wanted.count
                    if colon < end, bytes[colon] == UInt8(ascii: ":"),
                        Self.sameName(UnsafeRawBufferPointer(rebasing: bytes[start..<colon]), wanted)
                    {
                        return String(decoding: Self.trimmed(bytes, from: colon + 1, to: end), as: UTF8.self)
                    }
                    start = end + 1
                }
                return nil
            }
        }
    }

    /// The value between `from` and `to` without the line's end and the blanks around it.
    private static func trimmed(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> UnsafeRawBufferPointer {
        var start = from
        var end = to
        while end > start, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Each `name: value` line's name and value (blanks around the value trimmed); lines
    /// without a colon are skipped.
    private func forEachField(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        headerLines.withUnsafeBytes { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                var colon = start
                while colon < end, bytes[colon] != UInt8(ascii: ":") { colon += 1 }
                if colon < end {
                    body(
                        UnsafeRawBufferPointer(rebasing: bytes[start..<colon]),
                        Self.trimmed(bytes, from: colon + 1, to: end))
                }
                start = end + 1
            }
        }
    }

    static func sameName(_ a: UnsafeRawBufferPointer, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count
            && a.elementsEqual(b) { x, y in
                x == y || (x | 0x20 == y | 0x20 && (0x61...0x7A).contains(x | 0x20))
            }
    }
}

/// Why a transfer failed. `code` is stable (metric label); `curlCode` and `message` keep
/// libcurl's own words, as GRDB's `DatabaseError` keeps SQLite's.
public struct CurlError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case connectFailed, timedOut, responseTooLarge, tls, cancelled, shutdown, invalidRequest, transfer,
                addressRefused
        }
        private let base: Base
        /// Nothing accepted the connection (refused, unreachable, DNS).
        public static let connectFailed = Code(base: .connectFailed)
        /// The connect or total timeout passed.
        public static let timedOut = Code(base: .timedOut)
        /// The body grew past the client's limit.
        public static let responseTooLarge = Code(base: .responseTooLarge)
        /// Certificate or handshake failure.
        public static let tls = Code(base: .tls)
        /// The caller went away.
        public static let cancelled = Code(base: .cancelled)
        /// The client was shut down.
        public static let shutdown = Code(base: .shutdown)
        /// The request could not be set up (a bad URL, a header with a line break).
        public static let invalidRequest = Code(base: .invalidRequest)
        /// Anything else: the connection broke, the answer was not HTTP, …
        public static let transfer = Code(base: .transfer)
        /// The destination's address was refused by the request's `permitAddress`: nothing was sent.
        public static let addressRefused = Code(base: .addressRefused)
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// libcurl's `CURLcode`, 0 when the error is StockGate's own.
    public var curlCode: Int
    public var message: String

    public var description: String { "\(code) (curl \(curlCode)): \(message)" }
}
