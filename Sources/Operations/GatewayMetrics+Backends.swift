import Foundation

extension GatewayMetrics {
    /// A backend's calls since start, read back from the metrics it already records: the
    /// `stockgate_backend_request_duration_seconds` histogram and `stockgate_backend_requests_total`.
    public struct BackendFigures: Sendable, Equatable {
        /// Calls that got an answer or a transport error (ok, retried, failed); refused by an
        /// open circuit not counted.
        public var calls: Int = 0
        /// Of those, the ones that failed (a transport error or a 5xx), retried or not.
        public var errors: Int = 0
        /// Estimated from the histogram's buckets as Prometheus' `histogram_quantile` does
        /// (linear within a bucket); nil before the first call.
        public var p50: Double?
        public var p95: Double?

        public var errorRate: Double? { calls == 0 ? nil : Double(errors) / Double(calls) }

        public init(calls: Int = 0, errors: Int = 0, p50: Double? = nil, p95: Double? = nil) {
            self.calls = calls
            self.errors = errors
            self.p50 = p50
            self.p95 = p95
        }
    }

    /// Every backend's figures, by backend name.
    public func backendFigures() -> [String: BackendFigures] {
        Self.backendFigures(exposition: String(decoding: registry.emitToBuffer(), as: UTF8.self))
    }

    /// The figures in a Prometheus text exposition (pure: tested on text).
    public static func backendFigures(exposition text: String) -> [String: BackendFigures] {
        var buckets: [String: [(le: Double, count: Double)]] = [:]
        var figures: [String: BackendFigures] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("stockgate_backend_") {
            guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}"),
                let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            let name = line[..<open]
            let labels = Self.labels(line[line.index(after: open)..<close])
            guard let backend = labels["backend"] else { continue }
            if name == "stockgate_backend_request_duration_seconds_bucket", let le = labels["le"] {
                buckets[backend, default: []].append((le == "+Inf" ? .infinity : Double(le) ?? .infinity, value))
            } else if name == "stockgate_backend_requests_total", let outcome = labels["outcome"] {
                let count = Int(value)
                switch outcome {
                case "ok": figures[backend, default: BackendFigures()].calls += count
                case "failed", "retried":
                    figures[backend, default: BackendFigures()].calls += count
                    figures[backend, default: BackendFigures()].errors += count
                default: break
                }
            }
        }
        for (backend, list) in buckets {
            let sorted = list.sorted { $0.le < $1.le }
            figures[backend, default: BackendFigures()].p50 = Self.quantile(0.5, sorted)
            figures[backend, default: BackendFigures()].p95 = Self.quantile(0.95, sorted)
        }
        return figures
    }

    /// `histogram_quantile` over cumulative buckets: linear within the bucket the rank falls in;
    /// the highest finite bound when it falls in `+Inf`.
    static func quantile(_ q: Double, _ buckets: [(le: Double, count: Double)]) -> Double? {
        guard let total = buckets.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lower = 0.0
        var below = 0.0
        for bucket in buckets {
            if bucket.count >= rank {
                if bucket.le.isInfinite { return lower }
                let inBucket = bucket.count - below
                return inBucket == 0 ? bucket.le : lower + (bucket.le - lower) * (rank - below) / inBucket
            }
            lower = bucket.le.isInfinite ? lower : bucket.le
            below = bucket.count
        }
        return lower
    }

    /// `a="1",b="x\"y"` → ["a": "1", "b": "x\"y"] (the exposition's escapes undone).
    static func labels(_ text: Substring) -> [String: String] {
        var labels: [String: String] = [:]
        var rest = text[...]
        while let equals = rest.firstIndex(of: "=") {
            let key = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: ", "))
            var index = rest.index(after: equals)
            guard index < rest.endIndex, rest[index] == "\"" else { break }
            index = rest.index(after: index)
            var value = ""
            while index < rest.endIndex, rest[index] != "\"" {
                if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                    index = rest.index(after: index)
                    value.append(rest[index] == "n" ? "\n" : rest[index])
                } else {
                    value.append(rest[index])
                }
                index = rest.index(after: index)
            }
            labels[key] = value
            rest = index < rest.endIndex ? rest[rest.index(after: index)...] : ""
        }
        return labels
    }
}
