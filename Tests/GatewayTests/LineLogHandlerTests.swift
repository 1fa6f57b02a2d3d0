import Foundation
import Logging
import Synchronization
import Testing

@testable import Gateway
@testable import StockCore

@Suite("Log lines")
struct LineLogHandlerTests {
    /// Collects what the handler writes.
    final class Lines: Sendable {
        let written = Mutex<[String]>([])
        var all: [String] { written.withLock { $0 } }
        func write(_ bytes: [UInt8]) { written.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
    }

    func logger(_ format: LineLogHandler.Format, into lines: Lines) -> Logger {
        Logger(label: "stockgate") { label in
            var handler = LineLogHandler(label: label, format: format, write: { lines.write($0) })
            handler.logLevel = .info
            return handler
        }
    }

    @Test(
        "text: swift-log's stream line — UTC time, level, label, sorted metadata, [source], message; below the level nothing"
    )
    func text() throws {
        let lines = Lines()
        var logger = logger(.text, into: lines)
        logger[metadataKey: "instance"] = "a"
        logger.info("request", metadata: ["status": "200", "dialect": "zettle"], source: "Gateway")
        logger.debug("not written")
        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix(" info stockgate: dialect=zettle instance=a status=200 [Gateway] request\n"), "\(line)")
        #expect(line.prefix(24).wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000/) != nil, "\(line)")
    }

    @Test(
        "json: one object per line; strings escaped; metadata as sorted string members that cannot replace ts/level/msg"
    )
    func json() throws {
        let lines = Lines()
        let logger = logger(.json, into: lines)
        logger.warning(
            "quote \" and\nnewline", metadata: ["msg": "spoofed", "count": .stringConvertible(3), "a": ["x", "y"]],
            source: "Ledger")
        let line = try #require(lines.all.first)
        #expect(line.hasSuffix("}\n") && line.split(separator: "\n").count == 1, "\(line)")
        let object = try JSONParser.parse(Array(line.utf8))
        #expect(object["msg"] == "quote \" and\nnewline")
        #expect(!line.contains("spoofed"), "a metadata key must not replace a reserved member: \(line)")
        #expect(object["level"] == "warning" && object["logger"] == "stockgate" && object["source"] == "Ledger")
        #expect(object["count"] == "3" && object["a"] == #"["x", "y"]"#, "\(line)")
        let stamp = try #require(object["ts"]?.stringValue)
        #expect(stamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(stamp)")
        #expect(line.range(of: #""a":"#)!.lowerBound < line.range(of: #""count":"#)!.lowerBound, "sorted: \(line)")
    }

    @Test("the request log's durations: milliseconds with three decimals")
    func durations() {
        #expect(RequestLog.millis(.microseconds(5)) == "0.005")
        #expect(RequestLog.millis(.microseconds(73)) == "0.073")
        #expect(RequestLog.millis(.microseconds(1_234)) == "1.234")
        #expect(RequestLog.millis(.seconds(12)) == "12000.000")
        #expect(RequestLog.millis(.zero) == "0.000")
    }

    @Test("the log time is the civil UTC time of the moment, in both forms")
    func time() {
        // 2026-12-05 07:16:28.125 UTC (a fraction a double holds exactly).
        let moment = Date(timeIntervalSince1970: 1_796_454_988.125)
        #expect(Timestamp.iso8601(moment) == "2026-12-05T07:16:28.125Z")
        var plain: [UInt8] = []
        Timestamp.appendISO8601(moment, milliseconds: false, into: &plain)
        #expect(String(decoding: plain, as: UTF8.self) == "2026-12-05T07:16:28+0000")
        #expect(Timestamp.iso8601(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }
}
