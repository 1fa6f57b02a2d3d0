import HTTPTypes
import StockCore
import Synchronization

/// What becomes of one fact of a movement on its way to a backend, found by asking the
/// backend's outbound codec: the request with the fact is compared with the request without it.
public enum Carriage: Sendable, Equatable {
    /// Arrives intact as the named field of the backend's request.
    case carried(as: String)
    /// Arrives changed (a sign, a scale, a catalog identifier, another spelling).
    case transformed(as: String, how: String)
    /// Arrives cut to `limit` characters.
    case truncated(as: String, limit: Int)
    /// One field of the backend carries the first present of several facts, in this order;
    /// the others are dropped when an earlier one is present; `limit`: the field's length limit.
    case shared(as: String, firstOf: [MovementFact], limit: Int?)
    /// Not in the backend's request at all.
    case dropped
    /// The backend's codec refuses a movement that carries it.
    case refused(String)

    /// True when the fact does not arrive whole.
    public var isLoss: Bool {
        switch self {
        case .dropped, .truncated: true
        default: false
        }
    }

    /// Short text for tables and `translate --explain`.
    public var label: String {
        switch self {
        case .carried(let path): "carried as \(path)"
        case .transformed(let path, let how): "transformed (\(how)) as \(path)"
        case .truncated(let path, let limit): "truncated to \(limit) characters as \(path)"
        case .shared(let path, let order, let limit):
            "merged: \(path) carries the first present of \(order.map(\.rawValue).joined(separator: ", "))"
                + (limit.map { ", cut to \($0) characters" } ?? "")
        case .dropped: "dropped"
        case .refused(let why): "refused: \(why)"
        }
    }
}

/// A fact of a movement the backend would not receive whole.
public struct DataLoss: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case dropped
        case truncated(limit: Int)
    }

    public var fact: MovementFact
    public var kind: Kind

    public init(fact: MovementFact, kind: Kind) {
        self.fact = fact
        self.kind = kind
    }
}

/// Finds what a codec carries by running it: a request with a fact and one without are
/// compared value by value.
public enum CarriageProbe {
    /// The one-movement request a backend would get, or why it refuses the movement.
    public static func request(
        _ item: Movement, codec: any OutboundCodec, catalog: Catalog
    ) -> Result<OutboundRequest, GatewayError> {
        do throws(GatewayError) {
            try MovePlan.refuseBeyond(codec.capabilities, item, dialect: codec.dialect)
            try codec.check(item, catalog: catalog)
            return .success(try codec.moveRequest([item], catalog: catalog, idempotencyKey: nil, atomic: false))
        } catch {
            return .failure(error)
        }
    }

    /// How the backend carries each optional fact `item` holds, in `MovementFact` order; empty
    /// when the backend refuses the movement itself.
    public static func explain(
        _ item: Movement, codec: any OutboundCodec, catalog: Catalog
    ) -> [(fact: MovementFact, carriage: Carriage)] {
        guard case .success(let full) = request(item, codec: codec, catalog: catalog) else { return [] }
        var leaves: RequestLeaves?
        var result: [(fact: MovementFact, carriage: Carriage)] = []
        for fact in MovementFact.optional {
            guard let value = fact.value(in: item) else { continue }
            let without = request(fact.clearing(item), codec: codec, catalog: catalog)
            guard case .success(let other) = without else {
                // The backend needs it: it is in the request in some form.
                result.append((fact, .transformed(as: "(required)", how: "needed by the backend")))
                continue
            }
            if other == full {
                result.append((fact, sameAsAbsent(fact, item, full: full, codec: codec, catalog: catalog)))
                continue
            }
            if leaves == nil { leaves = RequestLeaves(full) }
            result.append((fact, carriage(of: value, in: leaves!, comparedWith: RequestLeaves(other))))
        }
        return result
    }

    /// A fact whose removal leaves the request as it was: dropped — unless its value is what
    /// the backend writes when the fact is absent (Colleqtive's `source` defaults to
    /// "stockgate"), which another value shows: then it arrives as sent.
    static func sameAsAbsent(
        _ fact: MovementFact, _ item: Movement, full: OutboundRequest, codec: any OutboundCodec, catalog: Catalog
    ) -> Carriage {
        let probe = fact.probing(item)
        guard let value = fact.value(in: probe), value != fact.value(in: item),
            case .success(let varied) = request(probe, codec: codec, catalog: catalog), varied != full
        else { return .dropped }
        return carriage(of: value, in: RequestLeaves(varied), comparedWith: RequestLeaves(full))
    }

    /// What the backend would lose of `item`: facts dropped, and text cut short.
    public static func losses(_ item: Movement, codec: any OutboundCodec, catalog: Catalog) -> [DataLoss] {
        // A movement with no optional fact loses nothing: the common case costs no probe (and,
        // with no extras, no look into them: ~4,500 instructions a movement).
        let facts = item.extras.isEmpty ? MovementFact.optionalOutsideExtras : MovementFact.optional
        guard facts.contains(where: { $0.value(in: item) != nil }) else { return [] }
        return explain(item, codec: codec, catalog: catalog).compactMap { fact, carriage in
            switch carriage {
            case .dropped: DataLoss(fact: fact, kind: .dropped)
            case .truncated(_, let limit): DataLoss(fact: fact, kind: .truncated(limit: limit))
            default: nil
            }
        }
    }

    /// How `value` shows in the request, from the fields that differ from the request without it.
    static func carriage(of value: String, in full: RequestLeaves, comparedWith other: RequestLeaves) -> Carriage {
        let changed = full.differing(from: other)
        guard !changed.isEmpty else { return .dropped }
        if let exact = changed.first(where: { $0.value == value }) { return .carried(as: exact.path) }
        if let cut = changed.first(where: {
            !$0.value.isEmpty && $0.value.count < value.count && value.hasPrefix($0.value)
        }) {
            return .truncated(as: cut.path, limit: cut.value.count)
        }
        if let within = changed.first(where: { $0.value.contains(value) }) {
            return .transformed(as: within.path, how: "part of a longer text")
        }
        if let folded = changed.first(where: { $0.value.lowercased() == value.lowercased() }) {
            return .transformed(as: folded.path, how: "case changed")
        }
        return .transformed(as: changed[0].path, how: "value mapped")
    }

    /// How the backend carries each fact, from probes on `base` (a movement it accepts with no
    /// optional fact): each fact alone, free text also at 1,000 characters, then every fact
    /// at once to find fields several facts share.
    public static func table(
        codec: any OutboundCodec, base: Movement, catalog: Catalog
    ) -> [MovementFact: Carriage] {
        guard case .success(let plain) = request(base, codec: codec, catalog: catalog) else { return [:] }
        let plainLeaves = RequestLeaves(plain)
        var table: [MovementFact: Carriage] = [:]
        for fact in MovementFact.allCases where fact.isIdentity {
            table[fact] = identity(fact, base: base, plain: plainLeaves, codec: codec, catalog: catalog)
        }
        for fact in MovementFact.optional {
            let probe = fact.probing(base)
            switch request(probe, codec: codec, catalog: catalog) {
            case .failure(let error):
                table[fact] = .refused(error.message)
                continue
            case .success(let probed):
                guard probed != plain else {
                    table[fact] = .dropped
                    continue
                }
                table[fact] = carriage(
                    of: fact.value(in: probe) ?? "", in: RequestLeaves(probed), comparedWith: plainLeaves)
            }
            if fact.isFreeText, case .carried = table[fact] {
                let long = fact.probing(base, long: true)
                if case .success(let probed) = request(long, codec: codec, catalog: catalog),
                    case .truncated(let path, let limit) = carriage(
                        of: fact.value(in: long) ?? "", in: RequestLeaves(probed), comparedWith: plainLeaves)
                {
                    table[fact] = .truncated(as: path, limit: limit)
                }
            }
        }
        shareFields(&table, codec: codec, base: base, catalog: catalog)
        return table
    }

    /// Facts carried alone that vanish when others are present share one field of the backend:
    /// the order is found by taking away the fact that wins, one at a time.
    static func shareFields(
        _ table: inout [MovementFact: Carriage], codec: any OutboundCodec, base: Movement, catalog: Catalog
    ) {
        func path(_ carriage: Carriage?) -> String? {
            switch carriage {
            case .carried(let path), .truncated(let path, _), .transformed(let path, _): path
            default: nil
            }
        }
        let alone = MovementFact.optional.filter { path(table[$0]) != nil }
        for field in Set(alone.compactMap { path(table[$0]) }) {
            var contenders = alone.filter { path(table[$0]) == field }
            guard contenders.count > 1 else { continue }
            var order: [MovementFact] = []
            while contenders.count > 1 {
                var all = base
                for fact in contenders { all = fact.probing(all) }
                let carried = explain(all, codec: codec, catalog: catalog).filter { !($0.carriage == .dropped) }
                let winners = carried.map(\.fact).filter { contenders.contains($0) }
                guard winners.count == 1, let winner = winners.first else { break }  // not shared
                order.append(winner)
                contenders.removeAll { $0 == winner }
            }
            guard !order.isEmpty else { continue }
            order += contenders
            for fact in order {
                let limit: Int? = if case .truncated(_, let limit) = table[fact] { limit } else { nil }
                table[fact] = .shared(as: field, firstOf: order, limit: limit)
            }
        }
    }

    /// Where a product, a location or the quantity goes, and in what form.
    static func identity(
        _ fact: MovementFact, base: Movement, plain: RequestLeaves, codec: any OutboundCodec, catalog: Catalog
    ) -> Carriage {
        var variants: [Movement] = []
        switch fact {
        case .quantity:
            var other = base
            other.quantity = Quantity(7)
            variants = [other]
        case .product:
            variants = catalog.products.filter { $0.key != base.product }.map {
                var other = base
                other.product = $0.key
                return other
            }
        case .from, .to:
            variants = catalog.locations.filter { $0.key != base.from && $0.key != base.to }.map {
                var other = base
                if fact == .from { other.from = $0.key } else { other.to = $0.key }
                return other
            }
        default: return .dropped
        }
        for variant in variants {
            guard case .success(let request) = request(variant, codec: codec, catalog: catalog) else { continue }
            let value = fact.value(in: variant) ?? ""
            let changed = RequestLeaves(request).differing(from: plain)
            guard let first = changed.first else { return .dropped }
            if let exact = changed.first(where: { $0.value == value }) { return .carried(as: exact.path) }
            if fact == .quantity {
                if let negated = changed.first(where: { $0.value == "-" + value }) {
                    return .transformed(as: negated.path, how: "signed: negative out of the location")
                }
                // The form, not the probe's value: `translate --explain` once said "written as
                // 7.00" (the probe's 7) whatever the caller's quantity (issue 32).
                if let scaled = changed.first(where: { (try? Quantity(parsing: $0.value)) == Quantity(7) }) {
                    let decimals = scaled.value.split(separator: ".").dropFirst().first?.count ?? 0
                    let form = decimals == 0 ? "as text" : "with \(decimals) decimal\(decimals == 1 ? "" : "s")"
                    return .transformed(as: scaled.path, how: "written \(form)")
                }
                return .transformed(as: first.path, how: "value mapped")
            }
            return .transformed(as: changed.map(\.path).joined(separator: " + "), how: "catalog identifier")
        }
        return .transformed(as: "(its one location)", how: "no other \(fact.rawValue) is accepted")
    }

    /// The field of the dialect's own request that carries each fact, and the facts its inbound
    /// codec reads back: a movement rendered by the dialect's outbound codec (as a client of
    /// that dialect would send it) and decoded by its inbound codec.
    public static func inboundFields(
        _ dialect: Dialect, base: Movement, catalog: Catalog
    ) -> [MovementFact: String] {
        let outbound = dialect.outboundCodec()
        let inbound = dialect.inboundCodec()
        guard case .success(let plain) = request(base, codec: outbound, catalog: catalog),
            let decodedBase = decode(plain, with: inbound, catalog: catalog), decodedBase.product == base.product
        else { return [:] }
        let plainLeaves = RequestLeaves(plain)
        var fields: [MovementFact: String] = [:]
        for fact in MovementFact.allCases {
            if fact.isIdentity {
                switch identity(fact, base: base, plain: plainLeaves, codec: outbound, catalog: catalog) {
                case .carried(let path), .transformed(let path, _):
                    fields[fact] = path.components(separatedBy: " + ").map(callerName).joined(separator: " + ")
                default: break
                }
                continue
            }
            let probe = fact.probing(base)
            guard case .success(let rendered) = request(probe, codec: outbound, catalog: catalog),
                rendered != plain, let decoded = decode(rendered, with: inbound, catalog: catalog),
                fact.value(in: decoded) == fact.value(in: probe)
            else { continue }
            let changed = RequestLeaves(rendered).differing(from: plainLeaves)
            let value = fact.value(in: probe) ?? ""
            fields[fact] = (changed.first { $0.value == value } ?? changed.first).map { callerName($0.path) }
        }
        return fields
    }

    /// The longest text of a fact a client of `dialect` can send and its server reads back
    /// whole (up to 1,000 characters): what decides whether a backend's limit can cut it.
    public static func longestAccepted(
        _ fact: MovementFact, dialect: Dialect, base: Movement, catalog: Catalog
    ) -> Int {
        guard fact.isFreeText else { return 0 }
        let long = fact.probing(base, long: true)
        guard case .success(let rendered) = request(long, codec: dialect.outboundCodec(), catalog: catalog),
            let decoded = decode(rendered, with: dialect.inboundCodec(), catalog: catalog),
            let value = fact.value(in: decoded), fact.value(in: long)?.hasPrefix(value) == true
        else { return 0 }
        return value.count
    }

    /// A field as the caller knows it: the member inside the list of movements
    /// (`movements[].reason` → `reason`), a query item or header by its name.
    static func callerName(_ path: String) -> String {
        if path.hasPrefix("?") { return String(path.dropFirst()) }
        if path.hasPrefix("header ") { return String(path.dropFirst(7)) }
        if let range = path.range(of: "[].", options: .backwards) { return String(path[range.upperBound...]) }
        return path
    }

    /// The first movement of the catalog that `accepts` takes, with no optional fact: a
    /// quantity of 3 of a product between two locations.
    public static func baseMovement(catalog: Catalog, accepts: (Movement) -> Bool) -> Movement? {
        for product in catalog.products {
            for from in catalog.locations {
                for to in catalog.locations where to.key != from.key {
                    let movement = Movement(product: product.key, quantity: Quantity(3), from: from.key, to: to.key)
                    if accepts(movement) { return movement }
                }
            }
        }
        return nil
    }

    /// Whether a dialect's client can send `movement` and its server reads it back.
    public static func roundTrips(_ movement: Movement, dialect: Dialect, catalog: Catalog) -> Bool {
        guard case .success(let rendered) = request(movement, codec: dialect.outboundCodec(), catalog: catalog),
            let decoded = decode(rendered, with: dialect.inboundCodec(), catalog: catalog)
        else { return false }
        return decoded.product == movement.product && decoded.from == movement.from && decoded.to == movement.to
            && decoded.quantity == movement.quantity
    }

    /// The movement an inbound codec reads from a request, if it reads exactly one.
    static func decode(_ request: OutboundRequest, with codec: any InboundCodec, catalog: Catalog) -> Movement? {
        decodeOpened(request, codec, catalog)
    }

    private static func decodeOpened<Codec: InboundCodec>(
        _ request: OutboundRequest, _ codec: Codec, _ catalog: Catalog
    ) -> Movement? {
        let target = QueryString.split(target: request.path)
        let path = String(target.path)
        let query = QueryString.parse(target.query)
        guard let (route, parameters) = codec.route(method: request.method, path: path) else { return nil }
        let inbound = InboundRequest(
            method: request.method, path: path, query: query, headers: request.head.headerFields,
            body: request.body ?? [], pathParameters: parameters)
        guard let decoded = try? codec.decode(inbound, route: route, catalog: catalog) else { return nil }
        for case .move(let batch) in decoded.commands where batch.items.count == 1 { return batch.items[0] }
        return nil
    }
}

/// A request's values, flat: each JSON leaf of the body by its path (`changes[].change`),
/// each query item (`?name`) and each header (`header Name`).
struct RequestLeaves {
    var leaves: [(path: String, value: String)] = []

    init(_ request: OutboundRequest) {
        for item in QueryString.parse(QueryString.split(target: request.path).query) {
            leaves.append(("?" + item.name, item.value))
        }
        for field in request.head.headerFields { leaves.append(("header " + field.name.rawName, field.value)) }
        if let body = request.body, let json = try? JSONParser.parse(body) { add(json, path: "") }
    }

    private mutating func add(_ value: JSONValue, path: String) {
        switch value {
        case .null: leaves.append((path, "null"))
        case .bool(let flag): leaves.append((path, flag ? "true" : "false"))
        case .number(let text), .string(let text): leaves.append((path, text))
        case .array(let items):
            for item in items { add(item, path: path + "[]") }
        case .object(let object):
            for member in object.members {
                add(member.value, path: path.isEmpty ? member.key : path + "." + member.key)
            }
        }
    }

    /// Leaves of this request that the other lacks or holds with another value, in order.
    func differing(from other: RequestLeaves) -> [(path: String, value: String)] {
        var counts: [String: Int] = [:]
        for leaf in other.leaves { counts[leaf.path + "\u{0}" + leaf.value, default: 0] += 1 }
        var result: [(path: String, value: String)] = []
        for leaf in leaves {
            let key = leaf.path + "\u{0}" + leaf.value
            if let count = counts[key], count > 0 {
                counts[key] = count - 1
            } else {
                result.append(leaf)
            }
        }
        return result
    }
}

/// Each inbound dialect's field for each fact (`CarriageProbe.inboundFields`), found on first
/// use per dialect and kept: how losses and strict refusals are named in the caller's words.
public final class InboundFieldNames: Sendable {
    let catalog: Catalog
    let known = Mutex<[DialectID: [MovementFact: String]]>([:])

    public init(catalog: Catalog) {
        self.catalog = catalog
    }

    public func names(_ dialect: DialectID) -> [MovementFact: String] {
        if let names = known.withLock({ $0[dialect] }) { return names }
        var names: [MovementFact: String] = [:]
        if let found = DialectRegistry.dialect(dialect),
            let base = CarriageProbe.baseMovement(
                catalog: catalog, accepts: { CarriageProbe.roundTrips($0, dialect: found, catalog: catalog) })
        {
            names = CarriageProbe.inboundFields(found, base: base, catalog: catalog)
        }
        known.withLock { $0[dialect] = names }
        return names
    }
}
