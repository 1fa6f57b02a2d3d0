import Dialects
import HTTPTypes
import NIOCore

/// A request's head as read off the wire, with what HTTP/1.x says about its connection (which
/// `HTTPRequest`, carrying no version, cannot say).
struct HTTP1RequestHead {
    /// The request as the layers above see it: the first `Host` is its authority (removed from
    /// the fields; a second stays, for `HostCheck` to refuse; an HTTP/1.0 request may have
    /// none); `Expect: 100-continue` is removed (the connection layer answers it); a request
    /// that does not keep the connection says `Connection: close`.
    var request: HTTPRequest
    var http10: Bool
    /// HTTP/1.1 unless it said `close`; HTTP/1.0 only when it said `keep-alive` (RFC 9112 §9.3).
    var keepAlive: Bool
    /// An HTTP/1.1 request that waits for `100 Continue` before sending its body.
    var expectsContinue: Bool
    /// The body as the framing announced it.
    var body: RequestBody
}

/// One piece of a request, in order: its head, its body in as many parts as it arrives in, its end.
enum HTTP1RequestPart {
    case head(HTTP1RequestHead)
    case body(ByteBuffer)
    case end
}

/// Why bytes are no HTTP/1.x request: answered with `status` and the connection closed.
struct HTTP1ParseError: Error, Equatable {
    var status: HTTPResponse.Status
    var reason: String

    static func bad(_ reason: String) -> HTTP1ParseError { HTTP1ParseError(status: .badRequest, reason: reason) }

    static let headTooLarge = HTTP1ParseError(
        status: .init(code: 431, reasonPhrase: "Request Header Fields Too Large"),
        reason: "the request head is larger than \(HTTP1RequestParser.maxHeadBytes) bytes")
}

/// HTTP/1.0 and 1.1 requests (RFC 9112) read from a connection's bytes, one part at a time.
/// Pure: it knows nothing of channels, and takes what it reads from the buffer it is given.
///
/// Strict where leniency lets two parsers disagree about where a request ends (request
/// smuggling): line ends are CRLF; no whitespace before a field's colon, no obs-fold;
/// `Transfer-Encoding` must end in `chunked`, only in HTTP/1.1, never beside `Content-Length`;
/// every `Content-Length` must agree; chunk sizes are hex digits, each chunk ends in CRLF. A
/// head (request line and fields) is at most `maxHeadBytes`.
struct HTTP1RequestParser {
    static let maxHeadBytes = 80 * 1024
    /// A chunk-size line (with its extensions) or one trailer line.
    static let maxLineBytes = 8 * 1024

    enum State: Equatable {
        /// Waiting for a request's head.
        case head
        /// `Content-Length` framing: this many body bytes are still to come.
        case fixed(Int)
        case chunkSize
        /// Chunk data: this many bytes of the chunk are still to come.
        case chunk(Int)
        /// The CRLF after a chunk's data.
        case chunkEnd
        /// The trailer section after the last chunk, `bytes` of it read so far.
        case trailers(bytes: Int)
        /// The request has ended; `expectRequest()` starts the next.
        case done
    }

    private(set) var state = State.head
    /// The bytes of an incomplete head already searched for its end.
    private var scanned = 0

    /// After `.end`: the next bytes are a new request.
    mutating func expectRequest() {
        state = .head
        scanned = 0
    }

    /// The next part that `buffer` holds whole (a body part: whatever of the body it holds),
    /// taking its bytes; nil when more bytes are needed, or after `.end`.
    mutating func next(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> HTTP1RequestPart? {
        switch state {
        case .head:
            return try head(&buffer).map { .head($0) }
        case .fixed(0):
            state = .done
            return .end
        case .fixed(let remaining):
            guard let part = Self.take(remaining, from: &buffer) else { return nil }
            state = .fixed(remaining - part.readableBytes)
            return .body(part)
        case .chunk(let remaining):
            guard let part = Self.take(remaining, from: &buffer) else { return nil }
            state = remaining == part.readableBytes ? .chunkEnd : .chunk(remaining - part.readableBytes)
            return .body(part)
        case .chunkEnd:
            guard buffer.readableBytes >= 2 else { return nil }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw .bad("a chunk does not end in CRLF") }
            state = .chunkSize
            return try next(&buffer)
        case .chunkSize:
            guard let line = try Self.line(in: &buffer, limit: Self.maxLineBytes) else { return nil }
            let size = try Self.chunkSize(line)
            state = size == 0 ? .trailers(bytes: 0) : .chunk(size)
            return try next(&buffer)
        case .trailers(let read):
            return try trailers(&buffer, read: read)
        case .done:
            return nil
        }
    }

    private static func take(_ count: Int, from buffer: inout ByteBuffer) -> ByteBuffer? {
        guard buffer.readableBytes > 0 else { return nil }
        return buffer.readSlice(length: min(count, buffer.readableBytes))
    }

    /// Trailer lines up to the empty one; they are checked and dropped (no route reads one).
    private mutating func trailers(_ buffer: inout ByteBuffer, read: Int) throws(HTTP1ParseError) -> HTTP1RequestPart? {
        var read = read
        while let line = try Self.line(in: &buffer, limit: Self.maxLineBytes) {
            if line.readableBytes == 0 {
                state = .done
                return .end
            }
            read += line.readableBytes + 2
            guard read <= Self.maxHeadBytes else { throw .bad("the trailer section is too large") }
            try line.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in _ = try Self.field(bytes) }
        }
        state = .trailers(bytes: read)
        return nil
    }

    /// One CRLF-ended line, taken with its CRLF; nil when the buffer holds no whole line.
    private static func line(in buffer: inout ByteBuffer, limit: Int) throws(HTTP1ParseError) -> ByteBuffer? {
        let end: Int? = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            for index in 0..<bytes.count where bytes[index] == 0x0A {
                guard index > 0, bytes[index - 1] == 0x0D else { throw .bad("a line ends in LF without CR") }
                return index - 1
            }
            guard bytes.count <= limit else { throw .bad("a line is longer than \(limit) bytes") }
            return nil
        }
        guard let end else { return nil }
        let line = buffer.readSlice(length: end)
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func chunkSize(_ line: ByteBuffer) throws(HTTP1ParseError) -> Int {
        try line.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            var size = 0
            var index = 0
            while index < bytes.count, let digit = hexDigit(bytes[index]) {
                guard index < 15 else { throw .bad("a chunk size is too large") }
                size = size << 4 | digit
                index += 1
            }
            guard index > 0 else { throw .bad("a chunk size is not a hexadecimal number") }
            // chunk-ext: BWS ";" ..., no control character but HTAB.
            var rest = bytes[index...].drop { $0 == 0x20 || $0 == 0x09 }
            if !rest.isEmpty {
                guard rest.first == UInt8(ascii: ";") else { throw .bad("a chunk size is not a hexadecimal number") }
                rest = rest.dropFirst()
                guard rest.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
                    throw .bad("a chunk extension holds a control character")
                }
            }
            return size
        }
    }

    private static func hexDigit(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }
}

// MARK: - The head

extension HTTP1RequestParser {
    /// A whole head, taken from the buffer with the empty line that ends it.
    private mutating func head(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> HTTP1RequestHead? {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
            scanned = 0
        }
        guard let length = try headLength(buffer) else { return nil }
        let head = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            try parseHead(UnsafeRawBufferPointer(rebasing: bytes[..<length]))
        }
        buffer.moveReaderIndex(forwardBy: length + 2)
        scanned = 0
        switch head.body {
        case .none: state = .fixed(0)
        case .length(let length): state = .fixed(length)
        case .chunked: state = .chunkSize
        }
        return head
    }

    /// The length of the head up to its last field's CRLF (the empty line's CRLF follows);
    /// nil when it has not wholly arrived.
    private mutating func headLength(_ buffer: ByteBuffer) throws(HTTP1ParseError) -> Int? {
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes throws(HTTP1ParseError) in
            var index = Swift.max(scanned, 1)
            while index < bytes.count {
                if bytes[index] == 0x0A {
                    guard bytes[index - 1] == 0x0D else { throw .bad("a line ends in LF without CR") }
                    if index >= 3, bytes[index - 2] == 0x0A { return index - 1 }
                } else if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] != 0x0A {
                    throw .bad("a CR is not followed by LF")
                }
                index += 1
            }
            if bytes.first == 0x0A { throw .bad("a line ends in LF without CR") }
            return nil
        }
        if let found { return found }
        scanned = Swift.max(buffer.readableBytes - 1, 0)
        guard buffer.readableBytes <= Self.maxHeadBytes else {
            throw .headTooLarge
        }
        return nil
    }

    /// The request line and fields, `bytes` ending with the last field's CRLF.
    private func parseHead(_ bytes: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> HTTP1RequestHead {
        guard bytes.count <= Self.maxHeadBytes else {
            throw .headTooLarge
        }
        var lines = Lines(bytes)
        let requestLine = try RequestLine(lines.next() ?? UnsafeRawBufferPointer(rebasing: bytes[0..<0]))
        var framing = Framing(http10: requestLine.http10)
        var fields = HTTPFields()
        var authority: String?
        while let line = lines.next() {
            let (name, value) = try Self.field(line)
            switch framing.note(name, value) {
            case .host where authority == nil:
                authority = String(decoding: value, as: UTF8.self)
                continue
            case .expectContinue:
                continue
            default:
                break
            }
            guard let fieldName = Self.commonName(name) ?? HTTPField.Name(String(decoding: name, as: UTF8.self)) else {
                throw .bad("a field name is not a token")
            }
            fields.append(HTTPField(name: fieldName, value: String(decoding: value, as: UTF8.self)))
        }
        let body = try framing.body()
        if !framing.keepAlive { fields[.connection] = "close" }
        let request = HTTPRequest(
            method: requestLine.method, scheme: "http", authority: authority, path: requestLine.path,
            headerFields: fields)
        return HTTP1RequestHead(
            request: request, http10: requestLine.http10, keepAlive: framing.keepAlive,
            expectsContinue: framing.expectsContinue, body: body)
    }

    /// Names clients send on most requests, spelled as they usually are, made once: a name
    /// made from the bytes is checked and lowercased into a new string each time. A name sent
    /// in another spelling is made from its bytes, so every field keeps the name as sent.
    private static let commonNames: [(bytes: [UInt8], name: HTTPField.Name)] = [
        HTTPField.Name.contentType, .contentLength, .userAgent, .accept, .acceptEncoding, .authorization,
        .connection, .transferEncoding, .requestID, .idempotencyKey, .apiKey, .traceParentField, .traceStateField,
    ].map { (Array($0.rawName.utf8), $0) }

    /// The made-once name spelled exactly as `bytes`, if there is one.
    private static func commonName(_ bytes: UnsafeRawBufferPointer) -> HTTPField.Name? {
        for common in commonNames where common.bytes.count == bytes.count && common.bytes.elementsEqual(bytes) {
            return common.name
        }
        return nil
    }

    /// `name: value` (RFC 9112 §5): the name a token right before the colon, the value without
    /// its surrounding whitespace, made of visible characters, spaces, tabs and obs-text.
    fileprivate static func field(
        _ line: UnsafeRawBufferPointer
    ) throws(HTTP1ParseError) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw .bad(
                line.first == 0x20 || line.first == 0x09 ? "obs-fold is not accepted" : "a field line has no colon")
        }
        let name = UnsafeRawBufferPointer(rebasing: line[..<colon])
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw .bad("a field name is not a token") }
        var start = colon + 1
        var end = line.count
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: line[start..<end])
        guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
            throw .bad("a field value holds a control character")
        }
        return (name, value)
    }

    /// tchar (RFC 9110 §5.6.2).
    fileprivate static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }
}

/// The CRLF-separated lines of a head (the last one ends in CRLF too).
private struct Lines {
    let bytes: UnsafeRawBufferPointer
    var start = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func next() -> UnsafeRawBufferPointer? {
        guard start < bytes.count else { return nil }
        var end = start
        while end < bytes.count && bytes[end] != 0x0D { end += 1 }
        defer { start = end + 2 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }
}

/// `method SP request-target SP HTTP-version`.
private struct RequestLine {
    var method: HTTPRequest.Method
    var path: String
    var http10: Bool

    init(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) {
        guard let space = line.firstIndex(of: 0x20), space > 0 else { throw .bad("the request line is malformed") }
        let method = UnsafeRawBufferPointer(rebasing: line[..<space])
        guard method.allSatisfy(HTTP1RequestParser.isTokenByte) else { throw .bad("the method is not a token") }
        let rest = UnsafeRawBufferPointer(rebasing: line[(space + 1)...])
        guard let second = rest.firstIndex(of: 0x20), second > 0 else { throw .bad("the request line is malformed") }
        let target = UnsafeRawBufferPointer(rebasing: rest[..<second])
        guard target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .bad("the request target holds a character that must be percent-encoded")
        }
        let version = UnsafeRawBufferPointer(rebasing: rest[(second + 1)...])
        guard version.count == 8, version.starts(with: "HTTP/".utf8), version[6] == UInt8(ascii: "."),
            (0x30...0x39).contains(version[5]), (0x30...0x39).contains(version[7])
        else { throw .bad("the HTTP version is malformed") }
        // HTTP/1.x with x > 1 is answered as HTTP/1.1 (RFC 9110 §6.2). Another major version is
        // refused 400, not 505: a 5xx from StockGate means StockGate (or a backend) failed.
        guard version[5] == UInt8(ascii: "1") else { throw .bad("only HTTP/1.0 and HTTP/1.1 are served") }
        http10 = version[7] == UInt8(ascii: "0")
        self.method = Self.method(method)
        path = Self.path(target)
    }

    private static func method(_ bytes: UnsafeRawBufferPointer) -> HTTPRequest.Method {
        switch bytes.count {
        case 3 where bytes.elementsEqual("GET".utf8): .get
        case 3 where bytes.elementsEqual("PUT".utf8): .put
        case 4 where bytes.elementsEqual("POST".utf8): .post
        case 4 where bytes.elementsEqual("HEAD".utf8): .head
        default: HTTPRequest.Method(String(decoding: bytes, as: UTF8.self))!  // a token, checked above
        }
    }

    /// The origin-form as sent; of an absolute-form (`http://host/p?q`) its path and query.
    private static func path(_ target: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: target, as: UTF8.self)
        guard target.first != UInt8(ascii: "/"), let scheme = text.range(of: "://") else { return text }
        let afterAuthority = text[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" }
        guard let afterAuthority else { return "/" }
        let rest = text[afterAuthority...]
        return rest.first == "?" ? "/" + rest : String(rest)
    }
}

/// What a head's fields say about its body and its connection.
private struct Framing {
    enum Meaning { case host, expectContinue, other }

    let http10: Bool
    /// `Content-Length`: seen at all, its value, and whether a value was no number or differed.
    var sawLength = false
    var length: Int?
    var badLength = false
    var codings: [Substring] = []
    var close = false
    var keepAliveAsked = false
    var expectsContinue = false

    init(http10: Bool) {
        self.http10 = http10
    }

    var keepAlive: Bool { !close && (!http10 || keepAliveAsked) }

    mutating func note(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Meaning {
        switch name.count {
        case 4 where Self.named(name, "host"):
            return .host
        case 6 where Self.named(name, "expect"):
            let continues = Self.text(value).lowercased() == "100-continue"
            guard continues && !http10 else { return .other }
            expectsContinue = true
            return .expectContinue
        case 10 where Self.named(name, "connection"):
            for option in Self.list(value) {
                switch option.lowercased() {
                case "close": close = true
                case "keep-alive": keepAliveAsked = true
                default: break
                }
            }
        case 14 where Self.named(name, "content-length"):
            noteLength(value)
        case 17 where Self.named(name, "transfer-encoding"):
            codings += Self.list(value)
        default:
            break
        }
        return .other
    }

    /// The body the fields frame: chunked, `Content-Length` bytes, or none (also a length of 0).
    func body() throws(HTTP1ParseError) -> RequestBody {
        if !codings.isEmpty {
            guard !http10 else { throw .bad("Transfer-Encoding is not HTTP/1.0") }
            guard !sawLength else { throw .bad("Content-Length and Transfer-Encoding are both present") }
            let chunked = codings.map { $0.lowercased() == "chunked" }
            guard chunked.last == true, chunked.dropLast().allSatisfy({ !$0 }) else {
                throw .bad("Transfer-Encoding does not end in chunked (once)")
            }
            return .chunked
        }
        guard sawLength else { return .none }
        guard !badLength, let length else { throw .bad("Content-Length is not one decimal number") }
        return length > 0 ? .length(length) : .none
    }

    /// A `Content-Length` value: comma-separated decimals (empty elements ignored, OWS around
    /// each), read from the bytes without a `String` (every request with a body has one).
    private mutating func noteLength(_ value: UnsafeRawBufferPointer) {
        sawLength = true
        var index = 0
        while index < value.count {
            var end = index
            while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
            defer { index = end + 1 }
            var start = index
            var last = end
            while start < last && (value[start] == 0x20 || value[start] == 0x09) { start += 1 }
            while last > start && (value[last - 1] == 0x20 || value[last - 1] == 0x09) { last -= 1 }
            guard start < last else { continue }
            guard last - start <= 18 else {
                badLength = true
                continue
            }
            var number = 0
            for position in start..<last {
                let digit = value[position] &- 0x30
                guard digit <= 9 else {
                    badLength = true
                    break
                }
                number = number * 10 + Int(digit)
            }
            if let length, length != number { badLength = true }
            length = number
        }
    }

    private static func named(_ name: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        let expected = UnsafeRawBufferPointer(start: lowercase.utf8Start, count: lowercase.utf8CodeUnitCount)
        return zip(name, expected).allSatisfy { $0 | 0x20 == $1 }
    }

    private static func text(_ value: UnsafeRawBufferPointer) -> String { String(decoding: value, as: UTF8.self) }

    /// A comma-separated list's elements without their whitespace; empty elements dropped.
    private static func list(_ value: UnsafeRawBufferPointer) -> [Substring] {
        text(value).split(separator: ",").map { $0.trimmed() }.filter { !$0.isEmpty }
    }
}

extension Substring {
    /// Without the spaces and tabs around it.
    fileprivate func trimmed() -> Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}
