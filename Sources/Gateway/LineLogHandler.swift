import Foundation
import Logging
import StockCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The log handler of `serve` and `record`: one line per event on standard error.
///
/// - `text` (the default): the line swift-log's `StreamLogHandler` writes,
///   `2026-11-23T08:30:00+0000 info stockgate: key=value … [Gateway] message` (UTC).
/// - `json` (`log_format: json`): one object per line: `ts` (UTC, milliseconds), `level`,
///   `logger`, `msg`, `source`, then the metadata as members — numbers (`LogNumber`: status,
///   durations, counts, bytes) as JSON numbers, the rest as strings — what log shippers
///   (Loki, Elasticsearch, CloudWatch) read and filter without a stage per field.
///
/// Each line is formatted straight into bytes and written with one `write(2)`: the request log
/// writes a line per request, and swift-log's stream handler spent ~45,000 instructions on one
/// (callgrind, `/healthz`; BENCHMARKS.md), a quarter of the whole request.
public struct LineLogHandler: LogHandler {
    public enum Format: Sendable {
        case text
        case json
    }

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: Format
    let write: @Sendable ([UInt8]) -> Void

    /// Lines of every handler go out whole, one at a time.
    static let output = Mutex(())

    /// - Parameter write: where a finished line (newline included) goes; standard error when nil.
    public init(label: String, format: Format, write: (@Sendable ([UInt8]) -> Void)? = nil) {
        self.label = label
        self.format = format
        self.write = write ?? Self.standardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Merged only when there is something to merge: the request log passes its metadata
        // explicitly and nothing else.
        var merged = event.metadata ?? [:]
        if !self.metadata.isEmpty || metadataProvider != nil {
            var base = self.metadata
            if let provided = metadataProvider?.get() { base.merge(provided) { $1 } }
            merged = base.merging(merged) { $1 }
        }
        let sorted = merged.sorted { $0.key < $1.key }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        switch format {
        case .text:
            Timestamp.appendISO8601(Date(), milliseconds: false, into: &line)
            line.append(UInt8(ascii: " "))
            line.append(contentsOf: event.level.rawValue.utf8)
            if !label.isEmpty {
                line.append(UInt8(ascii: " "))
                line.append(contentsOf: label.utf8)
            }
            line.append(UInt8(ascii: ":"))
            for (key, value) in sorted {
                line.append(UInt8(ascii: " "))
                line.append(contentsOf: key.utf8)
                line.append(UInt8(ascii: "="))
                line.append(contentsOf: Self.text(of: value).utf8)
            }
            line.append(contentsOf: " [".utf8)
            line.append(contentsOf: event.source.utf8)
            line.append(contentsOf: "] ".utf8)
            line.append(contentsOf: event.message.description.utf8)
        case .json:
            line.append(contentsOf: #"{"ts":""#.utf8)
            Timestamp.appendISO8601(Date(), milliseconds: true, into: &line)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: event.level.rawValue.utf8)
            line.append(contentsOf: #"","logger":"#.utf8)
            JSONWriter.appendString(label, into: &line)
            line.append(contentsOf: #","msg":"#.utf8)
            JSONWriter.appendString(event.message.description, into: &line)
            line.append(contentsOf: #","source":"#.utf8)
            JSONWriter.appendString(event.source, into: &line)
            for (key, value) in sorted where !Self.reserved.contains(key) {
                line.append(UInt8(ascii: ","))
                JSONWriter.appendString(key, into: &line)
                line.append(UInt8(ascii: ":"))
                // A number is a JSON number, so a query can say `status >= 500`.
                if case .stringConvertible(let number as LogNumber) = value {
                    line.append(contentsOf: number.text.utf8)
                } else {
                    JSONWriter.appendString(Self.text(of: value), into: &line)
                }
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(UInt8(ascii: "\n"))
        write(line)
    }

    /// The members a metadata key cannot replace in a JSON line.
    static let reserved: Set<String> = ["ts", "level", "logger", "msg", "source"]

    /// A metadata value as text: a string as it is, anything else as swift-log describes it.
    private static func text(of value: Logger.Metadata.Value) -> String {
        if case .string(let string) = value { return string }
        return value.description
    }

    /// Makes every logger of the process write lines of `format` to standard error from `level` up.
    public static func bootstrap(format: Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
    }

    /// One `write(2)` per line (repeated only for a short write), under a lock so lines of
    /// different threads never interleave.
    @Sendable static func standardError(_ line: [UInt8]) {
        output.withLock { _ in
            line.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // standard error gone: nothing else to tell
                    }
                    offset += written
                }
            }
        }
    }
}

/// A number in a log line's metadata: written as a JSON number in `json` lines, as its text in
/// `text` lines. Its text is what is written, exactly (`8.762`, `200`).
public struct LogNumber: CustomStringConvertible, Sendable {
    public let text: String
    public var description: String { text }

    public init(_ value: Int) { text = String(value) }
    /// Already formatted (`RequestLog.millis`).
    public init(text: String) { self.text = text }
}

extension Logger.MetadataValue {
    /// `value` as a number of the line.
    public static func number(_ value: Int) -> Logger.Metadata.Value { .stringConvertible(LogNumber(value)) }
}
