import AsyncHTTPClient
import CurlHTTP
import Foundation
import Gateway
import GatewayTestSupport
import HTTPTypes
import Ledger
import NIOHTTP1
import StockCore
import TestSupport
import Testing

@testable import Dialects

/// What a translation keeps and loses (issue 15): the loss report is derived from the codecs,
/// so it is checked here against what really goes over the wire to a backend, through a
/// recording hop in front of a second StockGate answering in the backend's dialect.
@Suite("What a translation loses")
struct DataLossTests {
    /// Puts 1,000 of every product in every stock location of a ledger, so probe movements
    /// out of any of them apply.
    static func stockEverything(_ ledger: Ledger) async throws {
        var items: [Movement] = []
        for product in demoCatalog.products {
            for location in demoCatalog.locations where location.kind.isTracked {
                items.append(
                    Movement(product: product.key, quantity: Quantity(1000), from: "outside", to: location.key))
            }
        }
        _ = try await ledger.move(
            MoveBatch(items: items, atomicity: .perItem), facts: RequestFacts(dialect: "test", requestID: "stock"))
    }

    /// A gateway whose only backend speaks `target`, reached through a recording hop in front
    /// of a second StockGate; `body` gets the gateway's base URL and the hop.
    static func throughRecordingHop(
        target: DialectID, routes: String = "  default: recorded\n",
        _ body: @Sendable (_ base: String, _ hop: FakeUpstream, _ journal: Ledger) async throws -> Void
    ) async throws {
        try await LiveGateway.run(catalog: demoCatalog) { second in
            try await stockEverything(second.ledger)
            let hop = FakeUpstream(relay: { request in
                var headers: [(String, String)] = []
                if let type = request.headers["content-type"] { headers.append(("Content-Type", type)) }
                guard
                    let answer = try? await HTTPClient.shared.send(
                        HTTPMethod(rawValue: request.method), second.baseURL + request.path,
                        body: request.body.isEmpty ? nil : request.body, headers: headers)
                else { return FakeUpstream.Answer(502, "") }
                return FakeUpstream.Answer(
                    answer.status, answer.text,
                    headers: ["Content-Type": answer.headers.first(name: "content-type") ?? "application/json"])
            })
            try await hop.run { hopURL in
                // Built from a configuration file, as `stockgate serve` builds it.
                try await LiveGateway.run(
                    config: "backends:\n  - name: recorded\n    dialect: \(target)\n    base_url: \(hopURL)\nroutes:\n"
                        + routes
                ) { live, _ in
                    try await body(live.baseURL, hop, live.ledger)
                }
            }
        }
    }

    /// Sends a movement as a client of `dialect` would (rendered by that dialect's own codec).
    static func send(_ movement: Movement, as dialect: DialectID, to base: String) async throws -> HTTPResult {
        let codec = try #require(DialectRegistry.dialect(dialect)).outboundCodec()
        let request = try CarriageProbe.request(movement, codec: codec, catalog: demoCatalog).get()
        let headers = request.head.headerFields.map { ($0.name.rawName, $0.value) }
        return try await HTTPClient.shared.send(
            HTTPMethod(rawValue: request.method.rawValue), base + request.path,
            body: request.body.map { String(decoding: $0, as: UTF8.self) }, headers: headers)
    }

    /// The recorded request as the codecs' leaves, and as one text for "absent anywhere".
    static func leaves(_ recorded: FakeUpstream.Recorded) -> (RequestLeaves, String) {
        var fields = HTTPFields()
        for (name, value) in recorded.headers { fields[HTTPField.Name(name)!] = value }
        let request = OutboundRequest(
            HTTPRequest.Method(recorded.method)!, recorded.path, headerFields: fields, body: Array(recorded.body.utf8))
        let everything = recorded.path + "\n" + recorded.headers.values.joined(separator: "\n") + "\n" + recorded.body
        return (RequestLeaves(request), everything)
    }

    @Test(
        "every client dialect into this backend: dropped is absent on the wire, carried arrives intact",
        arguments: DialectRegistry.ids)
    func reportMatchesTheWire(_ target: DialectID) async throws {
        try await Self.throughRecordingHop(target: target) { base, hop, _ in
            var pairs = 0
            for source in DialectRegistry.ids {
                guard let pair = LossReport.pair(source: source, target: target, catalog: demoCatalog) else { continue }
                pairs += 1
                // Every field the client's dialect carries, at once, each with its own value;
                // a field the backend refuses outright is left out (it would refuse the movement).
                var movement = pair.base
                for field in pair.fields {
                    if case .refused = field.carriage { continue }
                    movement = field.fact.probing(movement, variant: 3)
                }
                let before = hop.requests.count
                let answer = try await Self.send(movement, as: source, to: base)
                let sent = Array(hop.requests.dropFirst(before))
                let context = "\(source) → \(target): \(answer.status) \(answer.text)"
                try #require(!sent.isEmpty, "nothing reached the backend: \(context)")
                #expect(answer.status < 300, "\(context)")
                let (leaves, everything) = Self.leaves(sent[0])
                let dropped = answer.headers.first(name: "StockGate-Dropped") ?? ""
                let winners = Set(
                    pair.fields.compactMap { field -> MovementFact? in
                        guard case .shared(_, let order, _) = field.carriage else { return nil }
                        return order.first { fact in pair.fields.contains { $0.fact == fact } }
                    })
                for field in pair.fields {
                    if case .refused = field.carriage { continue }
                    let value = try #require(field.fact.value(in: movement))
                    let label = "\(source) → \(target): \(field.name) (\(field.fact.rawValue)) \(field.carriage.label)"
                    switch field.carriage {
                    case .dropped:
                        // Free text is absent anywhere; a flag or a number (`true`, `71`) could be
                        // another field's value, so those are checked below by sending without them.
                        if field.fact.isFreeText {
                            #expect(!everything.contains(value), "\(label): it is on the wire")
                        }
                        #expect(dropped.contains(field.name), "\(label): not in StockGate-Dropped '\(dropped)'")
                    case .carried(let path), .truncated(let path, _):
                        #expect(
                            leaves.leaves.contains { $0.path == path && $0.value == value },
                            "\(label): not at \(path) in \(sent[0].body)")
                        #expect(!dropped.contains(field.name), "\(label): said dropped")
                    case .shared(let path, _, _):
                        if winners.contains(field.fact) {
                            #expect(
                                leaves.leaves.contains { $0.path == path && $0.value == value },
                                "\(label): the first present is not at \(path) in \(sent[0].body)")
                        } else {
                            #expect(!everything.contains(value), "\(label): a later one is on the wire")
                            #expect(dropped.contains(field.name), "\(label): not in StockGate-Dropped '\(dropped)'")
                        }
                    case .transformed(let path, _):
                        #expect(leaves.leaves.contains { $0.path == path }, "\(label): nothing at \(path)")
                    case .refused:
                        break
                    }
                }
                // The same movement without its dropped flags and numbers: the backend gets the
                // same request, so they were not on the wire.
                var without = movement
                for field in pair.fields where field.carriage == .dropped && !field.fact.isFreeText {
                    without = field.fact.clearing(without)
                }
                if without != movement {
                    let mark = hop.requests.count
                    let again = try await Self.send(without, as: source, to: base)
                    let resent = try #require(hop.requests.dropFirst(mark).first, "\(again.status) \(again.text)")
                    #expect(resent.path == sent[0].path && resent.body == sent[0].body, "\(context)")
                }
            }
            #expect(pairs >= 3, "too few client dialects reach \(target) with the demo catalog")
        }
    }

    @Test("a strict route refuses what the backend would drop, names the field, sends and journals nothing")
    func strictRoute() async throws {
        let routes = "  colleqtive: {backend: recorded, strict: true}\n  default: recorded\n"
        try await Self.throughRecordingHop(target: "open2b-v6", routes: routes) { base, hop, journal in
            // Colleqtive's acting user has no place in an Open2b movement.
            let body =
                #"[{"product_number": "100200", "quantity": 2, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
            let refused = try await HTTPClient.shared.send(
                .POST, base + "/api/v2/public/stores/1001/storeproductlocation/movement?AppUserName=clerk-7", body: body
            )
            #expect(refused.status >= 400 && refused.status < 500, "\(refused.status) \(refused.text)")
            #expect(refused.json?["success"] == false, "\(refused.text)")
            #expect(refused.text.contains("AppUserName"), "\(refused.text)")
            #expect(refused.text.contains("strict"), "\(refused.text)")
            #expect(hop.requests.isEmpty, "\(hop.requests.map(\.body))")
            var forwarded = MovementQuery()
            forwarded.backend = "recorded"
            #expect(try await journal.movements(forwarded).isEmpty)

            // The same backend for a dialect whose route is not strict: sent, and the answer says
            // what did not arrive.
            let canonical =
                #"{"movements": [{"product": "tshirt-blue-m", "quantity": 2, "from": "supplier", "to": "shop-floor", "user": "clerk-7", "reason": "restock", "description": "weekly"}]}"#
            let sent = try await HTTPClient.shared.send(.POST, base + "/stockgate/v1/movements", body: canonical)
            #expect(sent.status == 200 || sent.status == 201, "\(sent.text)")
            #expect(sent.headers.first(name: "StockGate-Dropped") == "reason, user", "\(sent.headers)")
            #expect(sent.headers.first(name: "StockGate-Truncated") == nil, "\(sent.headers)")
            #expect(hop.requests.count == 1)
            #expect(hop.requests.first?.body.contains("weekly") == true)
            #expect(hop.requests.first?.body.contains("clerk-7") == false)

            // Strict, with nothing lost: sent.
            let plain =
                #"[{"product_number": "100200", "quantity": 2, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
            let taken = try await HTTPClient.shared.send(
                .POST, base + "/api/v2/public/stores/1001/storeproductlocation/movement", body: plain)
            #expect(taken.status == 200, "\(taken.text)")
            #expect(hop.requests.count == 2)
        }
    }

    @Test("the codecs' own facts: Open2b shares one description field, Zettle carries externalUuid only")
    func knownCarriage() throws {
        let open2b = LossReport.backendTable(target: "open2b-v6", catalog: demoCatalog)
        #expect(
            open2b[.description]
                == .shared(as: "movement.description", firstOf: [.description, .reference, .reason], limit: 255))
        #expect(open2b[.user] == .dropped)
        #expect(open2b[.product] == .transformed(as: "movement.sku", how: "catalog identifier"))
        let zettle = LossReport.backendTable(target: "zettle", catalog: demoCatalog)
        #expect(zettle[.externalId] == .carried(as: "externalUuid"))
        #expect(zettle[.reason] == .dropped)
        #expect(zettle[.user] == .dropped)
        let canonical = LossReport.backendTable(target: "stockgate", catalog: demoCatalog)
        #expect(canonical.values.allSatisfy { !$0.isLoss }, "\(canonical)")

        // A description longer than Open2b's field arrives cut; the probe of one movement says so.
        let codec = try #require(Backends.codec(dialect: "open2b-v6"))
        let long = Movement(
            product: "tshirt-blue-m", quantity: Quantity(2), from: "supplier", to: "shop-floor",
            description: String(repeating: "d", count: 300))
        #expect(
            CarriageProbe.losses(long, codec: codec, catalog: demoCatalog) == [
                DataLoss(fact: .description, kind: .truncated(limit: 255))
            ])
    }

    @Test("docs/translation-losses.md's table is the one the codecs give")
    func lossTableIsCurrent() throws {
        let doc = StockGateProcess.repository.appendingPathComponent("docs/translation-losses.md")
        let text = try String(contentsOf: doc, encoding: .utf8)
        let table = LossReport.markdown(catalog: demoCatalog)
        #expect(text.contains(table), "regenerate with: stockgate contract-test --losses")
    }

    @Test("translate --explain labels each field of the caller's request")
    func explain() throws {
        let body =
            #"[{"product_number": "100200", "quantity": 2, "reason_code": "RESTOCK", "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}]"#
        let text = try Translator.translate(
            body: Array(body.utf8), from: "colleqtive", to: "zettle",
            path: "/api/v2/public/stores/1001/storeproductlocation/movement?AppUserName=clerk", catalog: demoCatalog,
            explain: true)
        #expect(text.contains("# item 0: what a zettle backend receives of each field"), "\(text)")
        #expect(text.contains("AppUserName (user): dropped"), "\(text)")
        #expect(text.contains("(product): transformed (catalog identifier)"), "\(text)")
        #expect(text.contains("(quantity): carried as changes[].change"), "\(text)")
    }
}

/// Issue 32: `translate --explain` listed `allowOverage` for a Zettle caller, a fact Zettle's
/// clients cannot say.
@Suite("translate --explain says only what the caller can say")
struct ExplainCallerFactsTests {
    @Test("a plain Zettle restock explained for a Zettle backend names no allowOverage")
    func noImpliedFacts() throws {
        let text = try Translator.translate(
            body: Array(PusherTests.restock.utf8), from: "zettle", to: "zettle",
            path: "/organizations/self/inventory", catalog: demoCatalog, explain: true)
        #expect(text.contains("# item 0: what a zettle backend receives of each field"), "\(text)")
        #expect(!text.contains("allowOverage"), "\(text)")
    }
}
