import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import StockCore
import StoreTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 33, point 7: webhooks survive `kill -9` under load. The real binary with
/// `--enable-webhooks` and a subscriber on loopback; 8 Zettle clients restocking, each write with
/// its own `externalUuid` and `Idempotency-Key`, resent until answered; the process killed with
/// SIGKILL mid-load and started again on the same data directory. Every acknowledged change
/// reaches the subscriber; a change that arrives twice arrives under the same `messageUuid`, so
/// the subscriber can drop the repeat. Half the clients never resend, and every change the
/// journal holds reaches the subscriber too (recovered from the journal at the restart). On the
/// embedded ledger and on PostgreSQL (`--database`): there the webhook state is in the database,
/// and the killed process's delivery lease holds until it ends (15 s) before the restarted one
/// takes over.
@Suite("Webhooks across kill -9", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct WebhookKillTests {
    static func restock(_ externalUuid: String) -> String {
        #"{"externalUuid": "\#(externalUuid)", "changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 1}]}"#
    }

    @Test(
        "every acknowledged change is pushed; a repeat carries its first messageUuid", arguments: StoreKind.testable)
    func killUnderLoad(_ kind: StoreKind) async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "server:\n  webhook_allowed_networks: 127.0.0.0/8\n".write(
            toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let arguments = ["--enable-webhooks", "--config", directory + "/config.yaml"]
        switch kind {
        case .sqlite:
            try await Self.run(arguments, directory: directory)
        case .postgres:
            try await withPostgresDatabase { location in
                try await Self.run(
                    arguments + ["--database", ThreeInstancesTests.url(location)], directory: directory)
            }
        }
    }

    static func run(_ arguments: [String], directory: String) async throws {
        let receiver = FakeUpstream { _ in FakeUpstream.Answer(200, "") }
        try await receiver.run { hook in
            let first = try await StockGateProcess.start(dataDirectory: directory + "/data", arguments: arguments)
            let port = first.port
            let base = "http://127.0.0.1:\(port)"
            let subscribed = try await HTTPClient.shared.send(
                .POST, base + "/organizations/self/subscriptions",
                body:
                    #"{"uuid": "5b1c0a3e-8f35-11eb-8dcd-0242ac130003", "transportName": "WEBHOOK", "eventNames": ["InventoryBalanceChanged"], "destination": "\#(hook)/hook", "contactEmail": "ops@example.com"}"#
            )
            #expect(subscribed.status == 200, "\(subscribed.text)")
            let acknowledged = Acknowledged()
            let restarted = try await withThrowingTaskGroup(of: Void.self) { group -> ChildProcess in
                for client in 0..<8 {
                    group.addTask {
                        for _ in 0..<12 {
                            let uuid = UUID().uuidString.lowercased()
                            // Half the clients never send a write twice: what the crash left of
                            // theirs is in the journal, unanswered, and only a recovery pushes it.
                            for _ in 0..<(client < 4 ? 100 : 1) {
                                if let answer = try? await HTTPClient.shared.send(
                                    .PUT, base + "/organizations/self/inventory", body: Self.restock(uuid),
                                    headers: [("Idempotency-Key", uuid)], timeout: .seconds(5)),
                                    answer.status < 500
                                {
                                    if answer.status == 200 { acknowledged.add(uuid) }
                                    break
                                }
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(30), "20 acknowledged writes") { acknowledged.keys.count >= 20 }
                first.process.send(SIGKILL)
                await offPool { _ = first.process.waitUntilExit() }
                let again = try await StockGateProcess.start(
                    dataDirectory: directory + "/data", port: port, arguments: arguments)
                try await group.waitForAll()
                return again.process
            }
            defer { restarted.terminate() }
            let acked = acknowledged.keys
            #expect(acked.count >= 60, "\(acked.count) of 96 acknowledged")
            // Each message: its id and the externalUuid inside its payload (a JSON string).
            @Sendable func received() -> [(message: String, external: String)] {
                receiver.requests.compactMap { request in
                    guard let body = try? JSONParser.parse(request.body), let id = body["messageUuid"]?.stringValue,
                        let payload = body["payload"]?.stringValue,
                        let external = (try? JSONParser.parse(Array(payload.utf8)))?["externalUuid"]?.stringValue
                    else { return nil }
                    return (id, external)
                }
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while !acked.isSubset(of: Set(received().map(\.external))) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(
                receiver.requests.count >= acked.count,
                "\(receiver.requests.count) messages for \(acked.count) acknowledged: \(receiver.requests.first.map { String($0.body.prefix(600)) } ?? "none")"
            )
            var idsByChange: [String: Set<String>] = [:]
            for message in received() { idsByChange[message.external, default: []].insert(message.message) }
            for (change, ids) in idsByChange {
                #expect(ids.count == 1, "change \(change) pushed under \(ids.count) message ids: \(ids)")
            }
            let missing = acked.subtracting(idsByChange.keys)
            #expect(missing.isEmpty, "acknowledged but never pushed: \(missing)")
            // Every change the ledger holds is pushed, answered or not (recovered from the
            // journal at the restart when its client never sent it again).
            let journal = try await HTTPClient.shared.send(.GET, base + "/stockgate/v1/movements?limit=1000")
            let journaled = Set(
                (journal.json?["movements"]?.arrayValue ?? []).compactMap { $0["externalId"]?.stringValue })
            #expect(journaled.count >= acked.count, "\(journal.text.prefix(300))")
            try await waitUntil(timeout: .seconds(30), "every journaled change pushed") {
                journaled.isSubset(of: Set(received().map(\.external)))
            }
        }
    }
}
