internal import CCurl
import Foundation
import Synchronization

/// libcurl's process-wide setup, done once before the first handle.
let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// The thread that owns the curl multi handle.
///
/// Other threads hand it transfers and cancellations through `inbox` and wake it with
/// `curl_multi_wakeup` (thread-safe since curl 7.68). Everything else — adding and removing
/// easy handles, `curl_multi_perform`, the callbacks, resuming continuations, freeing
/// handles — happens on this one thread, in that order, so no handle is ever freed while
/// libcurl still uses it.
final class CurlEngine: @unchecked Sendable {
    // @unchecked: `multi` and `active` are touched only by the engine thread; `inbox` is a Mutex.
    struct Inbox {
        var added: [Transfer] = []
        var cancelled: [UInt64] = []
        var stopping = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stopped = false
        /// The engine thread is (about to be) blocked in `curl_multi_poll`: only then does a
        /// new transfer need `curl_multi_wakeup`. Otherwise the thread reads the inbox before
        /// it polls again, and a wake-up would be a wasted write and context switch.
        var polling = false
        /// Easy handles of finished transfers, reset and ready for the next request.
        var spareHandles: [SpareHandle] = []
    }

    /// A reset easy handle waiting for reuse. `@unchecked Sendable`: it belongs to no
    /// transfer and no multi handle while it waits, and whoever takes it out of the inbox
    /// (under the lock) is its only user from then on.
    struct SpareHandle: @unchecked Sendable {
        let easy: UnsafeMutableRawPointer
    }

    /// Most finished easy handles kept for reuse.
    static let maxSpareHandles = 64

    let multi: UnsafeMutableRawPointer
    let inbox = Mutex(Inbox())
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private let nextID = Atomic<UInt64>(1)

    init(maxConnectionsPerHost: Int, maxTotalConnections: Int) {
        _ = curlGlobalInit
        multi = curl_multi_init()
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxTotalConnections)
        // HTTP/2 multiplexing where the server offers it.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let thread = Thread { [self] in self.loop() }
        thread.name = "stockgate.curl"
        thread.start()
    }

    func makeID() -> UInt64 { nextID.wrappingAdd(1, ordering: .relaxed).oldValue }

    /// An easy handle for a new transfer: a spare one when there is one (connections live in
    /// the multi handle, so nothing is lost by reusing it), else a new one.
    func makeHandle() -> UnsafeMutableRawPointer? {
        if let spare = inbox.withLock({ $0.spareHandles.popLast() }) { return spare.easy }
        return curl_easy_init()
    }

    /// Takes back the handle of a finished transfer (out of the multi handle): reset to
    /// defaults and kept for reuse, or freed when enough are kept or the engine has stopped.
    func recycle(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        let spare = SpareHandle(easy: easy)
        let kept = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped, inbox.spareHandles.count < Self.maxSpareHandles else { return false }
            inbox.spareHandles.append(spare)
            return true
        }
        if !kept { curl_easy_cleanup(easy) }
    }

    // Every `curl_multi_wakeup` is made under the inbox lock and only while `stopped` is false:
    // the engine thread sets `stopped` under that lock before `curl_multi_cleanup`, so no wake-up
    // reaches a freed multi handle. (Before, a cancel after `stop`, or a submit that lost a race
    // with it, called `curl_multi_wakeup` on freed memory: libcurl's magic-number check made that
    // harmless most of the time, not always.)

    /// Queues a prepared transfer; false when the engine is stopping.
    func submit(_ transfer: Transfer) -> Bool {
        inbox.withLock { inbox -> Bool in
            guard !inbox.stopping else { return false }
            inbox.added.append(transfer)
            if inbox.polling {
                inbox.polling = false
                curl_multi_wakeup(multi)
            }
            return true
        }
    }

    func cancel(_ id: UInt64) {
        inbox.withLock { inbox in
            guard !inbox.stopped else { return }
            inbox.cancelled.append(id)
            curl_multi_wakeup(multi)
        }
    }

    /// Stops the thread after failing what is in flight; returns once the multi handle is gone.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = inbox.withLock { inbox -> Bool in
                if inbox.stopped { return true }
                inbox.stopping = true
                inbox.stopWaiters.append(continuation)
                curl_multi_wakeup(multi)
                return false
            }
            if alreadyStopped { continuation.resume() }
        }
    }

    private func loop() {
        while true {
            let (added, cancelled, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.added.removeAll()
                    inbox.cancelled.removeAll()
                }
                return (inbox.added, inbox.cancelled, inbox.stopping)
            }
            for transfer in added {
                active[transfer.easy] = transfer
                curl_multi_add_handle(multi, transfer.easy)
            }
            for id in cancelled {
                if let transfer = active.values.first(where: { $0.id == id }) {
                    complete(
                        transfer, .failure(CurlError(code: .cancelled, curlCode: 0, message: "the caller went away")))
                }
            }
            if stopping {
                for transfer in Array(active.values) {
                    complete(
                        transfer, .failure(CurlError(code: .shutdown, curlCode: 0, message: "the client was shut down"))
                    )
                }
                break
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                    let transfer = active[easy]
                else { continue }
                complete(transfer, result(of: transfer, code: message.pointee.data.result))
            }
            // Block only when nothing arrived meanwhile; decided under the lock callers queue
            // under, so a transfer queued after this point always wakes the poll.
            let idle = inbox.withLock { inbox -> Bool in
                guard inbox.added.isEmpty, inbox.cancelled.isEmpty, !inbox.stopping else { return false }
                inbox.polling = true
                return true
            }
            if idle {
                var ready: Int32 = 0
                curl_multi_poll(multi, nil, 0, 1000, &ready)
                inbox.withLock { $0.polling = false }
            }
        }
        // `stopped` before the cleanup: from here on nobody wakes the multi handle.
        let (waiters, spares) = inbox.withLock { inbox -> ([CheckedContinuation<Void, Never>], [SpareHandle]) in
            inbox.stopped = true
            defer {
                inbox.stopWaiters.removeAll()
                inbox.spareHandles.removeAll()
            }
            return (inbox.stopWaiters, inbox.spareHandles)
        }
        curl_multi_cleanup(multi)
        for spare in spares { curl_easy_cleanup(spare.easy) }
        for waiter in waiters { waiter.resume() }
    }

    /// Takes the transfer out of the multi handle, resumes its caller, frees its handle.
    private func complete(_ transfer: Transfer, _ result: Result<CurlResponse, any Error>) {
        curl_multi_remove_handle(multi, transfer.easy)
        active[transfer.easy] = nil
        transfer.finish(result)
        transfer.release()
    }

    private func result(of transfer: Transfer, code: CURLcode) -> Result<CurlResponse, any Error> {
        guard code == CURLE_OK else {
            if let refused = transfer.refusedAddress {
                return .failure(
                    CurlError(
                        code: .addressRefused, curlCode: Int(code.rawValue),
                        message: "the destination's address \(refused) is not allowed; nothing was sent"))
            }
            return .failure(Self.error(code, exceededLimit: transfer.exceededLimit))
        }
        var status = 0
        var version = 0
        var connects = 0
        _ = ccurl_easy_getinfo_long(transfer.easy, CURLINFO_RESPONSE_CODE, &status)
        _ = ccurl_easy_getinfo_long(transfer.easy, CURLINFO_HTTP_VERSION, &version)
        _ = ccurl_easy_getinfo_long(transfer.easy, CURLINFO_NUM_CONNECTS, &connects)
        let versionText: String
        switch version {
        case Int(CURL_HTTP_VERSION_1_0): versionText = "1.0"
        case Int(CURL_HTTP_VERSION_2_0): versionText = "2"
        case Int(CURL_HTTP_VERSION_3): versionText = "3"
        default: versionText = "1.1"
        }
        return .success(
            CurlResponse(
                status: status, headers: transfer.headers, body: transfer.body, httpVersion: versionText,
                newConnections: connects))
    }

    static func error(_ code: CURLcode, exceededLimit: Bool) -> CurlError {
        var message = String(cString: curl_easy_strerror(code))
        if code == CURLE_SEND_FAIL_REWIND {
            // libcurl wanted to send the body again (see CurlHTTPClient.prepare): the request went
            // out and the connection closed before any byte of an answer.
            message = "the connection closed after the request was sent, before any answer; not sent again"
        }
        let kind: CurlError.Code
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .connectFailed
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_FILESIZE_EXCEEDED:
            kind = .responseTooLarge
        case CURLE_WRITE_ERROR where exceededLimit:
            kind = .responseTooLarge
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            kind = .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            kind = .invalidRequest
        default:
            kind = .transfer
        }
        return CurlError(code: kind, curlCode: Int(code.rawValue), message: message)
    }
}
