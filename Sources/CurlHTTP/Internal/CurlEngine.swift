internal import CCurl
import Foundation
import Synchronization
import ThreadHandoff

/// libcurl's process-wide setup, done once before the first handle.
let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// The thread that owns the curl multi handle.
///
/// Other threads hand it transfers and cancellations through `inbox` and wake it through an
/// eventfd. Everything else — adding and removing easy handles, driving libcurl, the
/// callbacks, resuming continuations, freeing handles — happens on this one thread, in that
/// order, so no handle is ever freed while libcurl still uses it.
///
/// libcurl is driven with its socket API (`curl_multi_socket_action`): the thread's epoll set
/// watches the sockets libcurl names through its socket callback, and only a socket that is
/// ready, or a timer that is due, is handed back to it. (`curl_multi_perform` instead walks
/// every transfer in flight on each call, trying to read those that have nothing to read: with
/// 16 transfers in flight, most of its work per answer was for the other 15.)
final class CurlEngine: @unchecked Sendable {
    // @unchecked: `multi`, `active` and `deadline` are touched only by the engine thread;
    // `inbox` is a Mutex; `poller` and `waker` are fixed descriptors.
    struct Inbox {
        var added: [Transfer] = []
        var cancelled: [UInt64] = []
        var stopping = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var stopped = false
        /// The engine thread is (about to be) blocked in `epoll_wait`: only then does a new
        /// transfer need a wake-up. Otherwise the thread reads the inbox before it waits again,
        /// and a wake-up would be a wasted write and context switch.
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
    /// The epoll tag of the wake-up eventfd; libcurl's sockets are tagged with their descriptor.
    static let wakeTag = UInt64.max

    let multi: UnsafeMutableRawPointer
    let inbox = Mutex(Inbox())
    /// The epoll set of libcurl's sockets and `waker`.
    private let poller: Int32
    /// The eventfd other threads write to wake the engine thread.
    private let waker: Int32
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    /// When libcurl wants `CURL_SOCKET_TIMEOUT` handled, in monotonic milliseconds; nil for never.
    private var deadline: Int?
    /// What follows a large answer once the engine has been idle a while (`IdleRelease`).
    private let idleRelease: IdleRelease
    /// When the last answer of `idleRelease.threshold` bytes or more ended, until the release
    /// that follows it has run (monotonic milliseconds; engine thread only).
    private var largeAnswerEnded: Int?
    private let nextID = Atomic<UInt64>(1)

    init(maxConnectionsPerHost: Int, maxTotalConnections: Int, idleRelease: IdleRelease = .threadHeap) {
        self.idleRelease = idleRelease
        _ = curlGlobalInit
        multi = curl_multi_init()
        poller = epoll_create1(Int32(EPOLL_CLOEXEC))
        waker = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(poller >= 0 && waker >= 0, "no descriptor for the curl engine: errno \(errno)")
        var wake = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: Self.wakeTag))
        epoll_ctl(poller, EPOLL_CTL_ADD, waker, &wake)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxTotalConnections)
        // Keep every connection the limit allows. libcurl's default cache holds 4 connections per
        // transfer in the multi handle at the moment one is given back, and transfers leave it as
        // they finish: when the load falls, each finished transfer closed the oldest idle
        // connection, and the next rise opened them again — ~20% of forwards at 16 connections
        // opened a new connection (a TLS handshake on an https backend; BENCHMARKS.md, "Kept
        // connections"; CurlHTTPClientTests/keptAcrossLoad).
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxTotalConnections)
        // HTTP/2 multiplexing where the server offers it.
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        // The engine lives until its thread ends, after `stop`: the thread holds it.
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, context)
        _ = ccurl_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, context)
        _ = ccurl_multi_setopt_socket_callback(multi) { _, socket, what, context, assigned in
            guard let context else { return -1 }
            Unmanaged<CurlEngine>.fromOpaque(context).takeUnretainedValue()
                .watch(socket, what: what, known: assigned != nil)
            return 0
        }
        _ = ccurl_multi_setopt_timer_callback(multi) { _, milliseconds, context in
            guard let context else { return -1 }
            let engine = Unmanaged<CurlEngine>.fromOpaque(context).takeUnretainedValue()
            engine.deadline = milliseconds < 0 ? nil : CurlEngine.now() + milliseconds
            return 0
        }
        let thread = Thread { [self] in
            ThreadName.set("stockgate.curl")
            self.loop()
        }
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

    // Every wake-up is made under the inbox lock and only while `stopped` is false: the engine
    // thread sets `stopped` under that lock before it closes the eventfd, so no wake-up reaches
    // a closed (or reused) descriptor. (Once, a cancel after `stop`, or a submit that lost a
    // race with it, called `curl_multi_wakeup` on a freed multi handle.)

    /// Makes the engine thread's `epoll_wait` return. Called under the inbox lock.
    private func wake() {
        var one: UInt64 = 1
        _ = write(waker, &one, MemoryLayout<UInt64>.size)
    }

    /// Queues a prepared transfer; false when the engine is stopping.
    func submit(_ transfer: Transfer) -> Bool {
        inbox.withLock { inbox -> Bool in
            guard !inbox.stopping else { return false }
            inbox.added.append(transfer)
            if inbox.polling {
                inbox.polling = false
                wake()
            }
            return true
        }
    }

    func cancel(_ id: UInt64) {
        inbox.withLock { inbox in
            guard !inbox.stopped else { return }
            inbox.cancelled.append(id)
            wake()
        }
    }

    /// Stops the thread after failing what is in flight; returns once the multi handle is gone.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = inbox.withLock { inbox -> Bool in
                if inbox.stopped { return true }
                inbox.stopping = true
                inbox.stopWaiters.append(continuation)
                wake()
                return false
            }
            if alreadyStopped { continuation.resume() }
        }
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
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
                // libcurl sets its timer to now: the timeout action below starts the transfer.
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
            runTimerIfDue()
            // Block only when nothing arrived meanwhile (else just look at the sockets); decided
            // under the lock callers queue under, so a transfer queued after this point always
            // wakes the wait.
            let idle = inbox.withLock { inbox -> Bool in
                guard inbox.added.isEmpty, inbox.cancelled.isEmpty, !inbox.stopping else { return false }
                inbox.polling = true
                return true
            }
            let wait = idle ? Int32(clamping: idleWait()) : 0
            let count = epoll_wait(poller, &events, Int32(events.count), wait)
            if idle { inbox.withLock { $0.polling = false } }
            if count == 0 { releaseIfIdle() }
            for event in events.prefix(Int(max(count, 0))) {
                act(on: event)
            }
            runTimerIfDue()
        }
        // `stopped` before the descriptors close: from here on nobody wakes the thread.
        let (waiters, spares) = inbox.withLock { inbox -> ([CheckedContinuation<Void, Never>], [SpareHandle]) in
            inbox.stopped = true
            defer {
                inbox.stopWaiters.removeAll()
                inbox.spareHandles.removeAll()
            }
            return (inbox.stopWaiters, inbox.spareHandles)
        }
        curl_multi_cleanup(multi)
        close(waker)
        close(poller)
        for spare in spares { curl_easy_cleanup(spare.easy) }
        for waiter in waiters { waiter.resume() }
    }

    /// How long an idle engine may wait, in milliseconds: until libcurl's timer, the release
    /// after a large answer, or a second, whichever comes first.
    private func idleWait() -> Int {
        let now = Self.now()
        var wait = deadline.map { max(0, $0 - now) } ?? 1000
        if let ended = largeAnswerEnded, active.isEmpty {
            wait = min(wait, max(0, ended + idleRelease.idleMillis - now))
        }
        return min(1000, wait)
    }

    /// After a large answer, once nothing has been in flight for `idleRelease.idleMillis`: the
    /// answer was made in this thread's heap and freed elsewhere, so its pages go back to the
    /// system only from here (`ThreadHeap`).
    private func releaseIfIdle() {
        guard let ended = largeAnswerEnded, active.isEmpty, Self.now() - ended >= idleRelease.idleMillis else {
            return
        }
        largeAnswerEnded = nil
        idleRelease.release()
    }

    /// Hands one ready descriptor to libcurl (or empties the eventfd), then collects what ended.
    private func act(on event: epoll_event) {
        guard event.data.u64 != Self.wakeTag else {
            var count: UInt64 = 0
            _ = read(waker, &count, MemoryLayout<UInt64>.size)
            return
        }
        var flags: Int32 = 0
        if event.events & EPOLLIN.rawValue != 0 { flags |= CURL_CSELECT_IN }
        if event.events & EPOLLOUT.rawValue != 0 { flags |= CURL_CSELECT_OUT }
        if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { flags |= CURL_CSELECT_ERR }
        var running: Int32 = 0
        curl_multi_socket_action(multi, Int32(truncatingIfNeeded: event.data.u64), flags, &running)
        collectFinished()
    }

    /// Gives libcurl its timeout action when its timer is due, then collects what ended.
    private func runTimerIfDue() {
        guard let due = deadline, Self.now() >= due else { return }
        deadline = nil
        var running: Int32 = 0
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
        collectFinished()
    }

    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                let transfer = active[easy]
            else { continue }
            complete(transfer, result(of: transfer, code: message.pointee.data.result))
        }
    }

    /// libcurl's socket callback: what to watch `socket` for from now on. `known` says whether
    /// it is in the epoll set already (marked with `curl_multi_assign` when added; libcurl
    /// forgets the mark when it removes the socket).
    fileprivate func watch(_ socket: Int32, what: Int32, known: Bool) {
        guard what != CURL_POLL_REMOVE else {
            // The socket may be closed already, which took it out of the set: nothing to undo.
            epoll_ctl(poller, EPOLL_CTL_DEL, socket, nil)
            return
        }
        var wanted: UInt32 = 0
        if what & CURL_POLL_IN != 0 { wanted |= EPOLLIN.rawValue }
        if what & CURL_POLL_OUT != 0 { wanted |= EPOLLOUT.rawValue }
        var event = epoll_event(events: wanted, data: epoll_data_t(u64: UInt64(UInt32(bitPattern: socket))))
        if epoll_ctl(poller, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &event) != 0 {
            // The mark and the set disagree (a descriptor closed and reused): the other way.
            epoll_ctl(poller, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
        }
        if !known { curl_multi_assign(multi, socket, Unmanaged.passUnretained(self).toOpaque()) }
    }

    static func now() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1000 + time.tv_nsec / 1_000_000
    }

    /// Takes the transfer out of the multi handle, frees its handle, resumes its caller.
    private func complete(_ transfer: Transfer, _ result: Result<CurlResponse, any Error>) {
        curl_multi_remove_handle(multi, transfer.easy)
        active[transfer.easy] = nil
        if transfer.body.count >= idleRelease.threshold { largeAnswerEnded = Self.now() }
        // Released first: a caller that goes on here (`CurlRequest.resumesOnClientThread`) may
        // send again at once, and finds the handle spare.
        transfer.release()
        if transfer.resumesHere {
            Handoff.continuingHere { transfer.finish(result) }
        } else {
            transfer.finish(result)
        }
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
                status: status, headerLines: transfer.headerLines, body: transfer.body, httpVersion: versionText,
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

/// What follows an answer of `threshold` bytes or more, once the engine has had nothing in
/// flight for `idleMillis`: `release` on the engine thread. The answer's body was built in that
/// thread's heap and is freed by whoever read it; mimalloc keeps such pages until their thread
/// allocates again, which an idle engine does not.
struct IdleRelease: Sendable {
    let threshold: Int
    let idleMillis: Int
    let release: @Sendable () -> Void

    static let threadHeap = IdleRelease(threshold: 1 << 20, idleMillis: 1000, release: ThreadHeap.release)
}
