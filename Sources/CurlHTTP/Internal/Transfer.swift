internal import CCurl

/// One request in flight: its easy handle, the bytes received so far and the continuation
/// to resume. Owned by the engine thread from the moment it is queued until it completes;
/// only that thread touches it after `init`.
final class Transfer: @unchecked Sendable {
    // @unchecked: every mutable field is read and written on the engine thread only (the
    // queue hands the object over under a lock, and libcurl calls the callbacks on that
    // thread from curl_multi_perform).
    let id: UInt64
    let easy: UnsafeMutableRawPointer
    var headerList: UnsafeMutablePointer<curl_slist>?
    let maxResponseBytes: Int
    var continuation: CheckedContinuation<CurlResponse, any Error>?

    var status = 0
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var exceededLimit = false

    init(id: UInt64, easy: UnsafeMutableRawPointer, maxResponseBytes: Int) {
        self.id = id
        self.easy = easy
        self.maxResponseBytes = maxResponseBytes
    }

    /// Resumes the caller once; later calls do nothing.
    func finish(_ result: Result<CurlResponse, any Error>) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(with: result)
    }

    /// Frees the easy handle and the header list. The handle must be out of the multi handle.
    func release() {
        curl_easy_cleanup(easy)
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }

    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if body.count + bytes.count > maxResponseBytes {
            exceededLimit = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    func appendHeaderLine(_ bytes: UnsafeRawBufferPointer) {
        var line = String(decoding: bytes, as: UTF8.self)
        while line.hasSuffix("\r\n") || line.hasSuffix("\n") { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new response (after 100 Continue, or a proxy's CONNECT): start over.
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
        headers.append((name, value))
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
