import Gateway
import Logging
import StockCore
import Synchronization

/// `serve --replay DIR --record-missing`: a request the recorded cases answer is replayed; one
/// they miss goes to the vendor — the configured backend of its dialect, over libcurl with the
/// backend's credentials — and is recorded into DIR as `stockgate record` would, so the next
/// such request is replayed (WireMock's proxy-and-record). A dialect without a backend is
/// answered as by `--replay` alone.
public final class MissRecorder: DirectAnswerer {
    let book: ReplayBook
    /// By dialect: how to make its recorder (made at its first miss: it may fetch a token).
    let makers: [String: @Sendable () async throws -> Recorder]
    let recorders = Mutex<[String: Recorder]>([:])
    let logger: Logger

    public init(
        book: ReplayBook, makers: [String: @Sendable () async throws -> Recorder], logger: Logger
    ) {
        self.book = book
        self.makers = makers
        self.logger = logger
    }

    public func answer(_ request: DirectRequest) async -> DirectAnswer {
        let replayed = await book.answer(request)
        switch replayed {
        case .answer: return replayed
        case .refuse(let error) where error.code != .notFound: return replayed
        case .refuse, .pass: break
        }
        guard let make = makers[request.dialect.rawValue] else { return replayed }
        let recorder: Recorder
        do {
            if let made = recorders.withLock({ $0[request.dialect.rawValue] }) {
                recorder = made
            } else {
                let made = try await make()
                recorders.withLock { $0[request.dialect.rawValue] = made }
                recorder = made
            }
        } catch {
            logger.error(
                "record-missing: no way to the vendor",
                metadata: ["dialect": "\(request.dialect)", "error": "\(error)"])
            return .refuse(
                GatewayError(code: .unavailable, message: "the vendor cannot be reached to record this: \(error)"))
        }
        let recorded = await recorder.answer(request)
        do {
            try book.reload()
        } catch {
            logger.error("record-missing: the recorded case does not read back", metadata: ["error": "\(error)"])
        }
        logger.notice(
            "recorded a missing answer", metadata: ["dialect": "\(request.dialect)", "path": "\(request.path)"])
        return recorded
    }

    public func resetPositions() { book.resetPositions() }
}
