import Foundation
import Logging
import StockCore
import Synchronization

/// One JSON object per line on standard error (`log_format: json`): `ts` (UTC, milliseconds),
/// `level`, `logger`, `msg`, `source`, then the metadata as string members — what log
/// shippers (Loki, Elasticsearch, CloudWatch) read without a parser of their own.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    /// Lines of every handler go out whole, one at a time.
    static let output = Mutex(())

    public init(label: String, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        self.write =
            write ?? { line in
                Self.output.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
            }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(
        level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
        file: String, function: String, line: UInt
    ) {
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit { merged.merge(explicit) { $1 } }
        var object = JSONObject([
            .init("ts", .string(Timestamp.iso8601(Date()))), .init("level", .string(level.rawValue)),
            .init("logger", .string(label)), .init("msg", .string(message.description)),
            .init("source", .string(source)),
        ])
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where object[key] == nil {
            object[key] = .string("\(value)")
        }
        write(JSONWriter.string(.object(object)) + "\n")
    }
}
