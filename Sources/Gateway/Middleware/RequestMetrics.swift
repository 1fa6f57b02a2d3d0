import Dialects

/// `stockgate_http_requests_total` and the duration histogram, by dialect, route and status.
struct RequestMetrics: AnswerObserver {
    func answered(_ exchange: Exchange, response: CodecResponse, elapsed: Duration) {
        exchange.route.requestSeries(in: exchange.gateway.metrics).record(
            status: response.status.code, duration: elapsed)
    }
}
