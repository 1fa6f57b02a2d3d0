import Dialects

/// `stockgate_http_requests_total` and the duration histogram, by dialect, route and status.
struct RequestMetrics: AnswerObserver {
    func answered(_ exchange: Exchange, response: CodecResponse, elapsed: Duration) {
        exchange.gateway.metrics.recordRequest(
            dialect: exchange.route.dialect, route: exchange.route.name, status: response.status.code,
            duration: elapsed)
    }
}
