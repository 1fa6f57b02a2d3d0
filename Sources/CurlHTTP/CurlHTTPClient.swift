internal import CCurl
import Foundation
import HTTPTypes

/// An async HTTP client over libcurl: one multi handle on its own thread, connections kept
/// alive and reused across requests, TLS verification on, HTTP/2 where the server offers it
/// over TLS, proxies from the standard `http_proxy` / `https_proxy` / `all_proxy` / `no_proxy`
/// variables (libcurl reads them; when none is set at start, no transfer looks), a response size limit, and the transfer cancelled when the
/// calling task is.
///
/// Call `shutdown()` before dropping the client: it fails what is in flight and frees the
/// multi handle on its own thread, in that order.
public final class CurlHTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Time to establish a connection (TCP and TLS).
        public var connectTimeout: Duration
        /// Time for a whole request, from start to the last byte.
        public var timeout: Duration
        /// Bodies larger than this fail with `responseTooLarge`.
        public var maxResponseBytes: Int
        /// Verify the server's certificate and name (on unless a test turns it off).
        public var verifyTLS: Bool
        /// A PEM bundle of trusted CAs instead of the system's.
        public var caBundlePath: String?
        /// Most connections kept to one host.
        public var maxConnectionsPerHost: Int
        /// Most connections open at once to all hosts together (more transfers wait for one):
        /// what the process budgets descriptors for.
        public var maxTotalConnections: Int
        public var userAgent: String
        /// A request with a body reuses a kept-alive connection only when it was last used at
        /// most this many whole seconds ago (libcurl's `CURLOPT_MAXAGE_CONN`); older ones are
        /// closed and a new one is opened. Reads reuse any connection libcurl still finds alive.
        public var writeReuseMaxIdleSeconds: Int

        public init(
            connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(30),
            maxResponseBytes: Int = 8 * 1024 * 1024, verifyTLS: Bool = true, caBundlePath: String? = nil,
            maxConnectionsPerHost: Int = 32, maxTotalConnections: Int = 64, userAgent: String = "StockGate",
            writeReuseMaxIdleSeconds: Int = 1
        ) {
            self.maxTotalConnections = maxTotalConnections
            self.writeReuseMaxIdleSeconds = writeReuseMaxIdleSeconds
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.maxResponseBytes = maxResponseBytes
            self.verifyTLS = verifyTLS
            self.caBundlePath = caBundlePath
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.userAgent = userAgent
        }
    }

    public let configuration: Configuration
    let engine: CurlEngine
    /// The configuration as each transfer gives it to libcurl, made once: a `String` handed
    /// to a `const void *` parameter is copied into a new array on every call.
    private let constants: Constants

    private struct Constants: Sendable {
        /// `User-Agent: <configured>` and a NUL, a header line for the list (nil when none is
        /// configured).
        let userAgentLine: [UInt8]?
        let caBundle: [UInt8]?
        let connectTimeoutMillis: Int

        init(_ configuration: Configuration) {
            userAgentLine =
                configuration.userAgent.isEmpty ? nil : Array("User-Agent: \(configuration.userAgent)".utf8) + [0]
            caBundle = configuration.caBundlePath.map { Array($0.utf8) + [0] }
            connectTimeoutMillis = CurlHTTPClient.millis(configuration.connectTimeout)
        }
    }

    public convenience init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, idleRelease: .threadHeap)
    }

    /// With what follows a large answer made explicit (tests).
    init(configuration: Configuration, idleRelease: IdleRelease) {
        self.configuration = configuration
        self.engine = CurlEngine(
            maxConnectionsPerHost: configuration.maxConnectionsPerHost,
            maxTotalConnections: configuration.maxTotalConnections, idleRelease: idleRelease)
        self.constants = Constants(configuration)
    }

    private init(configuration: Configuration, engine: CurlEngine) {
        self.configuration = configuration
        self.engine = engine
        self.constants = Constants(configuration)
    }

    /// A client with its own timeouts, TLS settings and size limit on this client's engine
    /// (one thread and one multi handle, so connections are pooled process-wide). Shutting
    /// down either stops the engine for both; the connection caps are the engine's.
    public func configured(_ configuration: Configuration) -> CurlHTTPClient {
        CurlHTTPClient(configuration: configuration, engine: engine)
    }

    /// Fails what is in flight with `shutdown`, stops the thread and frees the multi handle.
    public func shutdown() async {
        await engine.stop()
    }

    /// Sends a request and reads the whole response.
    /// - Throws: `CurlError`; `cancelled` when the calling task is cancelled.
    public func execute(_ request: CurlRequest) async throws -> CurlResponse {
        let transfer = try prepare(request)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                transfer.continuation = continuation
                if Task.isCancelled {
                    transfer.finish(.failure(CurlError(code: .cancelled, curlCode: 0, message: "the caller went away")))
                    transfer.release()
                } else if !engine.submit(transfer) {
                    transfer.finish(
                        .failure(CurlError(code: .shutdown, curlCode: 0, message: "the client was shut down")))
                    transfer.release()
                }
            }
        } onCancel: {
            engine.cancel(transfer.id)
        }
    }

    /// The upload buffer each transfer asks libcurl for: its smallest (16 KiB; 64 KiB by default).
    static let uploadBufferBytes = 16_384

    /// Whether a proxy variable libcurl reads for HTTP and HTTPS URLs is set, read once, when
    /// the process first sends. When one is, libcurl reads them for each transfer as before
    /// (`no_proxy` included); when none is, each transfer says "no proxy" instead. A variable
    /// set later in the process's life is not seen, as with most servers.
    static let proxyFromEnvironment: Bool = {
        ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"].contains { name in
            guard let value = getenv(name) else { return false }
            return value.pointee != 0
        }
    }()

    private func prepare(_ request: CurlRequest) throws -> Transfer {
        guard let easy = engine.makeHandle() else {
            throw CurlError(code: .transfer, curlCode: 0, message: "curl_easy_init failed")
        }
        let transfer = Transfer(
            id: engine.makeID(), easy: easy, engine: engine, maxResponseBytes: configuration.maxResponseBytes)
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        var failed: CURLcode = CURLE_OK
        func set(_ result: CURLcode) { if result != CURLE_OK && failed == CURLE_OK { failed = result } }

        // libcurl copies string options as they are set: a pointer valid for the call is enough.
        // It refuses a URL with a control character or a space when it parses it; a NUL would
        // end the string early instead, and another URL than the one asked for would be sent.
        let url = request.url
        set(
            url.withCString {
                strlen($0) == url.utf8.count ? ccurl_easy_setopt_ptr(easy, CURLOPT_URL, $0) : CURLE_URL_MALFORMAT
            })
        setCommonOptions(easy, timeout: request.timeout, context: context, set: set)

        let method = request.head.method.rawValue
        if method == "HEAD" {
            set(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        } else if method != "GET" || request.body != nil {
            set(method.withCString { ccurl_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) })
        }
        if let body = request.body {
            // The body goes through a read callback and no seek callback, never as POSTFIELDS:
            // when a reused connection closes before any byte of the answer, libcurl sends the
            // request again on a new connection by itself (Curl_retry_request) — for POST and PUT
            // too — after rewinding the body. A body it cannot rewind makes it fail instead
            // (CURLE_SEND_FAIL_REWIND), so a write that may have been applied is never sent a
            // second time behind the caller's back: the gateway decides about any resend.
            transfer.upload = body
            set(ccurl_easy_setopt_long(easy, CURLOPT_POST, 1))
            set(ccurl_easy_setopt_int64(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            set(ccurl_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION, readCallback))
            set(ccurl_easy_setopt_ptr(easy, CURLOPT_READDATA, context))
            // A write reuses only a connection used within the last ~2 s (libcurl counts whole
            // seconds): a backend that closes idle connections after a few seconds would
            // otherwise race the write, and the write would fail with an unknown outcome.
            set(ccurl_easy_setopt_long(easy, CURLOPT_MAXAGE_CONN, configuration.writeReuseMaxIdleSeconds))
        }
        transfer.resumesHere = request.resumesOnClientThread
        if let permit = request.permitAddress {
            transfer.permitAddress = permit
            set(ccurl_easy_setopt_opensocket_callback(easy, openSocketCallback))
            set(ccurl_easy_setopt_ptr(easy, CURLOPT_OPENSOCKETDATA, context))
        }
        let list = Self.headerList(request, userAgentLine: constants.userAgentLine)
        transfer.headerList = list
        set(ccurl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, list))

        if failed != CURLE_OK {
            transfer.release()
            throw CurlEngine.error(failed, exceededLimit: false)
        }
        return transfer
    }

    /// The options every transfer of this client sets alike, apart from its timeout.
    private func setCommonOptions(
        _ easy: UnsafeMutableRawPointer, timeout: Duration?, context: UnsafeMutableRawPointer,
        set: (CURLcode) -> Void
    ) {
        set(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        set(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, constants.connectTimeoutMillis))
        set(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.millis(timeout ?? configuration.timeout)))
        set(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0))
        set(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0))
        if let bundle = constants.caBundle {
            set(bundle.withUnsafeBufferPointer { ccurl_easy_setopt_ptr(easy, CURLOPT_CAINFO, $0.baseAddress) })
        }
        set(ccurl_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)))
        set(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        set(ccurl_easy_setopt_int64(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(configuration.maxResponseBytes)))
        set(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        // The smallest upload buffer: a handle keeps its upload buffer while it is kept for reuse,
        // and with 64 writes in flight the default's kept ~1 MB more (BENCHMARKS.md, "The hop's
        // memory"). Set on every transfer, never once: in libcurl 7.88 `curl_easy_reset` keeps
        // the buffer but puts the size back to the default, and only setting the size frees a
        // buffer of another size (CurlHTTPClientTests/largeBodyOnReusedHandles).
        set(ccurl_easy_setopt_long(easy, CURLOPT_UPLOAD_BUFFERSIZE, Self.uploadBufferBytes))
        if !Self.proxyFromEnvironment {
            // No proxy variable was set when the process started: say so, and libcurl skips
            // reading five variables from the environment on every transfer.
            let none: StaticString = ""
            set(ccurl_easy_setopt_ptr(easy, CURLOPT_PROXY, none.utf8Start))
            set(ccurl_easy_setopt_ptr(easy, CURLOPT_NOPROXY, none.utf8Start))
        }
        set(ccurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, writeCallback))
        set(ccurl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, context))
        set(ccurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, headerCallback))
        set(ccurl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, context))
    }

    /// The request's header lines as libcurl takes them (the caller frees the list), with the
    /// configured User-Agent unless the request names its own.
    ///
    /// The User-Agent goes in the list, not as `CURLOPT_USERAGENT`: libcurl 7.88 formats an
    /// option's header twice with its own `printf` (a line of its own, then again into the
    /// request's head), at ~150 instructions a character, and a list line once.
    private static func headerList(
        _ request: CurlRequest, userAgentLine: [UInt8]?
    ) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>?
        var hasExpect = false
        var hasAgent = false
        // Each line made in one buffer, reused (libcurl copies it): HTTPTypes keeps NUL, CR
        // and LF out of names and values.
        var line: [UInt8] = []
        line.reserveCapacity(128)
        for field in request.head.headerFields {
            if field.name == .expect { hasExpect = true }
            if field.name == .userAgent { hasAgent = true }
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: field.name.rawName.utf8)
            line.append(contentsOf: ": ".utf8)
            line.append(contentsOf: field.value.utf8)
            line.append(0)
            list = line.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { curl_slist_append(list, $0.baseAddress) }
            }
        }
        // No 100-continue round trip for a body (libcurl asks for one before a large one); a
        // request without a body never waits for one.
        if !hasExpect && request.body != nil { list = curl_slist_append(list, "Expect:") }
        if !hasAgent, let userAgentLine {
            list = userAgentLine.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { curl_slist_append(list, $0.baseAddress) }
            }
        }
        return list
    }

    static func millis(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

private let writeCallback: ccurl_data_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return transfer.appendBody(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
}

private let readCallback: ccurl_data_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.readBody(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
}

/// Asks the transfer's `permitAddress` about the address libcurl will connect to; opens the
/// socket as libcurl would (close-on-exec) or refuses with `CURL_SOCKET_BAD`.
private let openSocketCallback: ccurl_opensocket_callback = { context, purpose, address in
    guard let context, let address else { return -1 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let family = address.pointee.family
    let raw = UnsafeRawPointer(address) + MemoryLayout<curl_sockaddr>.offset(of: \.addr)!
    let ip: IPAddress
    if family == AF_INET {
        let v4 = raw.loadUnaligned(as: sockaddr_in.self)
        ip = .v4(withUnsafeBytes(of: v4.sin_addr) { Array($0) })
    } else if family == AF_INET6 {
        let v6 = raw.loadUnaligned(as: sockaddr_in6.self)
        ip = .v6(withUnsafeBytes(of: v6.sin6_addr) { Array($0) })
    } else {
        return -1
    }
    if let permit = transfer.permitAddress, !permit(ip) {
        transfer.refusedAddress = ip
        return -1
    }
    return socket(family, address.pointee.socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.protocol)
}

private let headerCallback: ccurl_data_callback = { buffer, size, count, context in
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    transfer.appendHeaderLine(UnsafeRawBufferPointer(start: buffer, count: length))
    return length
}
