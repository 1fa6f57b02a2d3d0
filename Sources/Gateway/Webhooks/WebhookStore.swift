import Foundation
import StockCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What the Pusher simulator must not forget on a restart, in files of the data directory:
/// the subscriptions (`subscriptions.json`, written whole, atomically, on each change) and the
/// messages not yet delivered (`queue.jsonl`: a `queued` line, flushed to disk before the
/// change that caused it is answered, and a `done` line once delivered or given up). On start
/// the queue is read back, what is still pending is sent again under its message id, and the
/// file is rewritten with only that, after a `published` line naming the messages queued within
/// the window a message lives (`maxAge`): what a recovery from the journal must not queue again.
public final class WebhookStore: Sendable {
    let directory: String
    /// The queue file, appended to under the lock.
    private let queue: Mutex<Int32>

    var subscriptionsPath: String { directory + "/subscriptions.json" }
    var queuePath: String { directory + "/queue.jsonl" }

    /// A message waiting for its subscriber.
    struct Pending: Sendable, Equatable {
        var messageID: String
        var subscription: String
        var body: [UInt8]
        var signature: String
        var queuedAt: Date
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens (or creates) the store in `directory`.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        let path = directory + "/queue.jsonl"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(path): errno \(errno)") }
        queue = Mutex(descriptor)
    }

    deinit {
        queue.withLock { close($0) }
    }

    // MARK: Subscriptions

    func loadSubscriptions() -> [PusherHub.Subscription] {
        guard let data = FileManager.default.contents(atPath: subscriptionsPath),
            let list = try? JSONParser.parse(Array(data)).arrayValue
        else { return [] }
        return list.compactMap { item in
            guard let uuid = item["uuid"]?.stringValue, let destination = item["destination"]?.stringValue,
                let key = item["signingKey"]?.stringValue
            else { return nil }
            return PusherHub.Subscription(
                uuid: uuid, transportName: item["transportName"]?.stringValue ?? "WEBHOOK",
                eventNames: item["eventNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                destination: destination, contactEmail: item["contactEmail"]?.stringValue ?? "",
                status: item["status"]?.stringValue ?? "ACTIVE", signingKey: key,
                updated: item["updated"]?.stringValue.flatMap(Timestamp.parseISO8601) ?? Date(),
                owner: item["owner"]?.stringValue,
                created: item["created"]?.stringValue.flatMap(Timestamp.parseISO8601))
        }
    }

    /// Replaces the file with `list`, atomically (a temporary file synced, then renamed).
    func saveSubscriptions(_ list: [PusherHub.Subscription]) {
        let value = JSONValue.array(
            list.map { subscription in
                var object = subscription.json.objectValue ?? JSONObject()
                object["owner"] = .optional(subscription.owner)
                object["created"] = .string(Timestamp.iso8601(subscription.created))
                return .object(object)
            })
        let temporary = subscriptionsPath + ".tmp"
        let bytes = JSONWriter.bytes(value)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        Self.writeAll(descriptor, bytes)
        fsync(descriptor)
        close(descriptor)
        rename(temporary, subscriptionsPath)
    }

    // MARK: The queue

    /// A message queued: on disk before this returns.
    func queued(_ pending: Pending) {
        let line: JSONValue = [
            "op": "queued", "messageId": .string(pending.messageID), "subscription": .string(pending.subscription),
            "body": .string(String(decoding: pending.body, as: UTF8.self)), "signature": .string(pending.signature),
            "queuedAt": .number(String(pending.queuedAt.timeIntervalSince1970)),
        ]
        append(line, sync: true)
    }

    /// A message delivered or given up: it is not sent again.
    func done(_ messageID: String) {
        append(["op": "done", "messageId": .string(messageID)], sync: false)
    }

    /// The messages still pending, in the order they were queued, and every message queued
    /// within `window` (when): the file is rewritten with only those.
    func load(window: TimeInterval, now: Date = Date()) -> (pending: [Pending], published: [String: Date]) {
        guard let data = FileManager.default.contents(atPath: queuePath) else { return ([], [:]) }
        var pending: [Pending] = []
        var published: [String: Date] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let value = try? JSONParser.parse(Array(line)) else {
                continue  // a line cut short by a crash: it was never acknowledged
            }
            if value["op"] == "published" {
                for item in value["messages"]?.arrayValue ?? [] {
                    guard let id = item["messageId"]?.stringValue,
                        let seconds = item["queuedAt"]?.numberText.flatMap(Double.init)
                    else { continue }
                    published[id] = Date(timeIntervalSince1970: seconds)
                }
                continue
            }
            guard let id = value["messageId"]?.stringValue else { continue }
            if value["op"] == "done" {
                pending.removeAll { $0.messageID == id }
            } else if let subscription = value["subscription"]?.stringValue, let body = value["body"]?.stringValue,
                let signature = value["signature"]?.stringValue,
                let seconds = value["queuedAt"]?.numberText.flatMap(Double.init)
            {
                let queuedAt = Date(timeIntervalSince1970: seconds)
                published[id] = queuedAt
                pending.append(
                    Pending(
                        messageID: id, subscription: subscription, body: Array(body.utf8), signature: signature,
                        queuedAt: queuedAt))
            }
        }
        published = published.filter { now.timeIntervalSince($0.value) <= window }
        compact(pending, published: published)
        return (pending, published)
    }

    /// Everything forgotten (the test reset).
    func clear() {
        saveSubscriptions([])
        queue.withLock { descriptor in _ = ftruncate(descriptor, 0) }
    }

    private func compact(_ pending: [Pending], published: [String: Date]) {
        queue.withLock { descriptor in
            _ = ftruncate(descriptor, 0)
            if !published.isEmpty {
                let messages = published.sorted { $0.key < $1.key }.map { entry -> JSONValue in
                    [
                        "messageId": .string(entry.key),
                        "queuedAt": .number(String(entry.value.timeIntervalSince1970)),
                    ]
                }
                let line: JSONValue = ["op": "published", "messages": .array(messages)]
                Self.writeAll(descriptor, JSONWriter.bytes(line) + [UInt8(ascii: "\n")])
            }
            for message in pending {
                let line: JSONValue = [
                    "op": "queued", "messageId": .string(message.messageID),
                    "subscription": .string(message.subscription),
                    "body": .string(String(decoding: message.body, as: UTF8.self)),
                    "signature": .string(message.signature),
                    "queuedAt": .number(String(message.queuedAt.timeIntervalSince1970)),
                ]
                Self.writeAll(descriptor, JSONWriter.bytes(line) + [UInt8(ascii: "\n")])
            }
            fsync(descriptor)
        }
    }

    private func append(_ value: JSONValue, sync: Bool) {
        let bytes = JSONWriter.bytes(value) + [UInt8(ascii: "\n")]
        queue.withLock { descriptor in
            Self.writeAll(descriptor, bytes)
            if sync { fsync(descriptor) }
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
