import Dialects
import Foundation
import HTTPTypes
import StockCore

/// What `stockgate translate` shows: the requests StockGate would send to a backend of one
/// dialect for a request of another, without sending anything.
public enum Translator {
    /// The route a dialect's movements usually arrive by, when the caller names none.
    public static func defaultRequest(for dialect: DialectID, catalog: Catalog) -> (method: String, path: String)? {
        DialectRegistry.dialect(dialect)?.defaultWriteRequest(catalog: catalog)
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The translation as text for people.
    /// - Parameters:
    ///   - body: the inbound request body.
    ///   - from: the inbound dialect.
    ///   - to: the backend dialect.
    ///   - method: the inbound method, or the dialect's usual one.
    ///   - path: the inbound path (with its query), or the dialect's usual one.
    public static func translate(
        body: [UInt8], from: DialectID, to: DialectID, method: String? = nil, path: String? = nil, catalog: Catalog,
        configuration: GatewayConfiguration = GatewayConfiguration(), explain: Bool = false
    ) throws -> String {
        guard let codec = Gateway.codecs(configuration).first(where: { $0.dialect == from }) else {
            throw Failure(description: "unknown inbound dialect '\(from)'")
        }
        guard let outbound = Backends.codec(dialect: to, parameters: BackendParameters()) else {
            throw Failure(description: "unknown backend dialect '\(to)'")
        }
        let usual = defaultRequest(for: from, catalog: catalog)
        let fullPath = path ?? usual?.path ?? "/"
        let methodName = (method ?? usual?.method ?? "POST").uppercased()
        let (pathOnly, query) = split(fullPath)
        let commands = try decode(
            codec, method: HTTPRequest.Method(methodName) ?? .post, path: pathOnly, query: query, body: body,
            catalog: catalog)
        var lines: [String] = []
        for command in commands {
            if explain, case .move(let batch) = command {
                lines += self.explain(batch, from: from, to: outbound, catalog: catalog)
            }
            lines += describe(command, to: outbound, catalog: catalog)
        }
        return lines.joined(separator: "\n")
    }

    /// For each movement, what the backend receives of each field the caller sent: carried as
    /// (its field), transformed, truncated, merged, dropped, or refused — found by running the
    /// backend's codec with and without each field (`CarriageProbe`).
    static func explain(_ batch: MoveBatch, from: DialectID, to codec: any OutboundCodec, catalog: Catalog) -> [String]
    {
        let names = InboundFieldNames(catalog: catalog).names(from)
        var lines: [String] = []
        for (index, item) in batch.items.enumerated() {
            if let level = item.level {
                // A level's fields are its own (the level, the change, the expected level), not a
                // movement's: say what becomes of the command.
                lines.append(
                    "# item \(index): \(describe(level, of: item)) — \(LevelTreatment.of(item, codec: codec).words)")
                continue
            }
            lines.append("# item \(index): what a \(codec.dialect) backend receives of each field")
            func line(_ fact: MovementFact, _ text: String) {
                let name = names[fact].map { "\($0) (\(fact.rawValue))" } ?? fact.rawValue
                lines.append("#   \(name): \(text)")
            }
            if case .failure(let error) = CarriageProbe.request(item, codec: codec, catalog: catalog) {
                lines.append("#   refused: \(error.message)\(error.field.map { " (field \($0))" } ?? "")")
                continue
            }
            var plain = item
            for fact in MovementFact.optional { plain = fact.clearing(plain) }
            let table = CarriageProbe.table(codec: codec, base: plain, catalog: catalog)
            for fact in MovementFact.allCases where fact.isIdentity {
                line(fact, table[fact]?.label ?? "carried")
            }
            // Only what the caller can say: a fact its dialect has no field for (an implied
            // `allowOverage`) is not its to lose (issue 32).
            for (fact, carriage) in CarriageProbe.explain(item, codec: codec, catalog: catalog)
            where names[fact] != nil {
                if carriage == .dropped, case .shared = table[fact] {
                    line(fact, "dropped here; " + (table[fact]?.label ?? ""))
                } else {
                    line(fact, carriage.label)
                }
            }
        }
        return lines
    }

    static func split(_ path: String) -> (String, [(name: String, value: String)]) {
        let target = QueryString.split(target: path)
        return (String(target.path), QueryString.parse(target.query))
    }

    static func decode<Codec: InboundCodec>(
        _ codec: Codec, method: HTTPRequest.Method, path: String, query: [(name: String, value: String)],
        body: [UInt8], catalog: Catalog
    ) throws -> [Command] {
        // The server's own rule (`RouteMatcher`): what `translate` shows is what a request to
        // the gateway would reach.
        guard let (route, parameters) = codec.route(method: method, path: path) else {
            throw Failure(description: "no \(codec.dialect) route for \(method.rawValue) \(path)")
        }
        let request = InboundRequest(method: method, path: path, query: query, body: body, pathParameters: parameters)
        do {
            return try codec.decode(request, route: route, catalog: catalog).commands
        } catch {
            let answer = codec.encode(error, route: route, context: nil)
            throw Failure(
                description: "the \(codec.dialect) request is refused (HTTP \(answer.status.code)): "
                    + String(decoding: answer.body, as: UTF8.self))
        }
    }

    /// A level command in words: "level 7 of mug-white at shop-floor, if it is 5".
    static func describe(_ level: StockLevel, of item: Movement) -> String {
        let what =
            level.target.map { "level \($0)" }
            ?? "change \(item.signedChange.isNegative ? "" : "+")\(item.signedChange)"
        return "\(what) of \(item.product) at \(level.location)" + (level.expected.map { ", if it is \($0)" } ?? "")
    }

    /// Level items as the backend would be sent them: a read-then-move level shown with its
    /// balance read and resolved against a balance of 0; a refused one listed.
    static func levelPlan(
        _ batch: MoveBatch, to codec: any OutboundCodec, catalog: Catalog
    ) -> (batch: MoveBatch, refusals: [Int: GatewayError], lines: [String]) {
        var resolved = batch
        var refusals: [Int: GatewayError] = [:]
        var lines: [String] = []
        for (index, item) in batch.items.enumerated() where item.level != nil {
            switch LevelTreatment.of(item, codec: codec) {
            case .refused(let error): refusals[index] = error
            case .readThenMove:
                lines.append("# item \(index): the backend's balance is read first, then the difference is sent:")
                if let level = item.level,
                    let read = try? codec.balanceRequest(
                        BalanceQuery(products: [item.product], location: level.location), catalog: catalog)
                {
                    lines.append(render(read))
                }
                lines.append(
                    "# item \(index) shown for a balance read of 0; the change sent is the level asked less the balance read"
                )
                if let movement = try? item.resolved(balance: .zero, catalog: catalog) {
                    resolved.items[index] = movement
                }
            case .native, .movement: break
            }
        }
        return (resolved, refusals, lines)
    }

    static func describe(_ command: Command, to codec: any OutboundCodec, catalog: Catalog) -> [String] {
        switch command {
        case .move(let original):
            let levels = levelPlan(original, to: codec, catalog: catalog)
            let batch = levels.batch
            var plan = MovePlan.make(batch, codec: codec, catalog: catalog)
            for (index, error) in levels.refusals { plan.refusals[index] = error }
            plan.chunks = plan.chunks.map { $0.filter { levels.refusals[$0] == nil } }.filter { !$0.isEmpty }
            var lines: [String] = levels.lines
            for (index, error) in plan.refusals.sorted(by: { $0.key < $1.key }) {
                lines.append("# item \(index) refused before sending: \(error)")
            }
            if batch.atomicity == .allOrNothing && !plan.refusals.isEmpty {
                lines.append("# the batch is all-or-nothing: nothing would be sent")
                return lines
            }
            for chunk in plan.chunks {
                lines.append("# items \(chunk.map(String.init).joined(separator: ", "))")
                do {
                    let request = try codec.moveRequest(
                        chunk.map { batch.items[$0] }, catalog: catalog, idempotencyKey: nil,
                        atomic: batch.atomicity == .allOrNothing)
                    lines.append(render(request))
                } catch {
                    lines.append("# refused: \(error)")
                }
            }
            if plan.chunks.count > 1 && batch.atomicity == .allOrNothing {
                lines.append(
                    "# all-or-nothing over \(plan.chunks.count) requests: if one fails, those applied are reversed")
            }
            return lines
        case .readBalances(let query):
            guard codec.capabilities.balanceReads else {
                return ["# balances: a \(codec.dialect) backend cannot read them (a read after a move is left out)"]
            }
            do {
                return [render(try codec.balanceRequest(query, catalog: catalog))]
            } catch {
                return ["# balances refused: \(error)"]
            }
        case .findMovements, .getMovement, .countMovements:
            return ["# answered from StockGate's journal of forwarded movements: nothing is sent"]
        case .listLocations:
            return ["# answered from the catalog: nothing is sent"]
        case .settleForwarded:
            return ["# settles StockGate's own journal: nothing is sent"]
        case .readTracking:
            return ["# answered from StockGate's own ledger: nothing is sent"]
        case .setTracking(let products, let tracked):
            do {
                guard let request = try codec.trackingRequest(products: products, tracked: tracked, catalog: catalog)
                else {
                    return ["# a \(codec.dialect) backend has no tracking: kept in StockGate's own ledger"]
                }
                return [render(request)]
            } catch {
                return ["# refused: \(error)"]
            }
        case .updateDescription, .deleteMovements, .confirmTransfer:
            return ["# not supported against a \(codec.dialect) backend"]
        }
    }

    static func render(_ request: OutboundRequest) -> String {
        var text = "\(request.method) \(request.path)"
        for field in request.head.headerFields { text += "\n\(field.name.rawName): \(field.value)" }
        if let body = request.body {
            let pretty = (try? JSONParser.parse(body)).map(JSONWriter.pretty) ?? String(decoding: body, as: UTF8.self)
            text += "\n\n" + pretty
        }
        return text + "\n"
    }
}
