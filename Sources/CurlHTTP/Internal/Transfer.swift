internal import CCurl

/// One request in flight: its easy handle, the bytes received so far and the continuation
/// to resume. Owned by the engine thread from the moment it is queued until it completes;
/// only that thread touches it after `init`.
final class Transfer: @unchecked Sendable {
    // @unchecked: every mutable field is read and written on the engine thread only (the
    // queue hands the object over under a lock, and libcurl calls the callbacks on that
    // thread from curl_multi_socket_action).
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    /// Takes the easy handle back when the transfer is over.
    let engine: CurlEngine
    var headerList: UnsafeMutablePointer<curl_slist>?
    let maxResponseBytes: Int
    /// Unchecked (no allocation, no bookkeeping per request): `finish` takes it before
    /// resuming, so it is resumed once, and the engine finishes every transfer it was given,
    /// at shutdown too (the checked kind's "never resumed" warning has no case to catch).
    var continuation: UnsafeContinuation<CurlResponse, any Error>?

    var status = 0
    // The answer's bytes are appended by libcurl's callbacks and read once it is done, all on
    // the curl thread: the dynamic exclusivity check on each access (~130 instructions per
    // header line) has nothing to catch.
    @exclusivity(unchecked) var headerLines: [UInt8] = []
    @exclusivity(unchecked) var body: [UInt8] = []
    var exceededLimit = false
    /// A write's body, handed to libcurl by `readBody` (never as `POSTFIELDS`, which libcurl
    /// may send a second time by itself; see `CurlHTTPClient.prepare`).
    var upload: [UInt8] = []
    var uploaded = 0
    /// `CurlRequest.permitAddress`, asked by `openSocket`.
    var permitAddress: (@Sendable (IPAddress) -> Bool)?
    /// The address `permitAddress` refused, if it refused one.
    var refusedAddress: IPAddress?
    /// `CurlRequest.resumesOnClientThread`.
    var resumesHere = false

    init(id: UInt64, easy: UnsafeMutableRawPointer, engine: CurlEngine, maxResponseBytes: Int) {
        self.id = id
        self.easy = easy
        self.engine = engine
        self.maxResponseBytes = maxResponseBytes
    }

    /// Resumes the caller once; later calls do nothing.
    func finish(_ result: Result<CurlResponse, any Error>) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(with: result)
    }

    /// Hands the easy handle back to the engine (reset first, so it no longer points at the
    /// header list) and frees the header list. The handle must be out of the multi handle.
    func release() {
        engine.recycle(easy)
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    /// Copies the next part of the body to be sent into libcurl's buffer; 0 at its end.
    func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = min(buffer.count, upload.count - uploaded)
        guard count > 0, let base = buffer.baseAddress else { return 0 }
        upload.withUnsafeBytes { source in
            base.copyMemory(from: source.baseAddress! + uploaded, byteCount: count)
        }
        uploaded += count
        return count
    }

    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if body.count + bytes.count > maxResponseBytes {
            exceededLimit = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// One header line as libcurl hands it over (`Name: value\r\n`), kept as it came: the
    /// lines are read into fields only when asked (`CurlResponse.header`).
    func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count >= 5, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"),
            bytes[2] == UInt8(ascii: "T"), bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/")
        {
            // A new response (after 100 Continue, or a proxy's CONNECT): start over.
            headerLines.removeAll(keepingCapacity: true)
            return
        }
        // Room for a usual head at once, rather than growing with each line.
        if headerLines.isEmpty { headerLines.reserveCapacity(max(256, bytes.count + 1)) }
        headerLines.append(contentsOf: bytes)
        if bytes.last != 0x0A { headerLines.append(0x0A) }
    }
}
