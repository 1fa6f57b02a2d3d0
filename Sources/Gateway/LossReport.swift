import Dialects
import StockCore

/// What each pair of dialects keeps and loses of a movement, found by running the codecs
/// (`CarriageProbe`) on movements of the catalog: `stockgate contract-test --losses` prints it
/// and the README carries it.
public enum LossReport {
    /// One client dialect → backend dialect cell: the client's fields the backend does not
    /// receive whole, or nil when no movement of the catalog goes through both.
    public struct Pair: Sendable, Equatable {
        public var source: DialectID
        public var target: DialectID
        /// Client field name → what becomes of it at the backend, for every optional fact the
        /// client's dialect carries.
        public var fields: [(name: String, fact: MovementFact, carriage: Carriage)]
        /// The movement the probes ran on.
        public var base: Movement

        /// The client's fields that may not arrive whole. A field sharing a backend field with
        /// others is lost only when the client can send one that comes before it.
        public var losses: [(name: String, fact: MovementFact, carriage: Carriage)] {
            let carried = Set(fields.map(\.fact))
            return fields.filter { field in
                switch field.carriage {
                case .carried, .transformed: return false
                case .shared(_, let order, let limit):
                    return limit != nil || order.prefix { $0 != field.fact }.contains { carried.contains($0) }
                default: return true
                }
            }
        }

        /// The client's name of a fact it carries.
        public func name(_ fact: MovementFact) -> String? { fields.first { $0.fact == fact }?.name }

        public static func == (lhs: Pair, rhs: Pair) -> Bool {
            lhs.source == rhs.source && lhs.target == rhs.target && lhs.base == rhs.base
                && lhs.fields.map(\.name) == rhs.fields.map(\.name)
                && lhs.fields.map(\.carriage) == rhs.fields.map(\.carriage)
        }
    }

    /// The pair's carriage, or nil when no movement of the catalog goes from the one to the other.
    public static func pair(source: DialectID, target: DialectID, catalog: Catalog) -> Pair? {
        guard let client = DialectRegistry.dialect(source), let backend = DialectRegistry.dialect(target) else {
            return nil
        }
        let codec = backend.outboundCodec()
        guard
            let base = CarriageProbe.baseMovement(
                catalog: catalog,
                accepts: {
                    CarriageProbe.roundTrips($0, dialect: client, catalog: catalog)
                        && (try? CarriageProbe.request($0, codec: codec, catalog: catalog).get()) != nil
                })
        else { return nil }
        let names = CarriageProbe.inboundFields(client, base: base, catalog: catalog)
        let table = CarriageProbe.table(codec: codec, base: base, catalog: catalog)
        var fields: [(name: String, fact: MovementFact, carriage: Carriage)] = []
        for fact in MovementFact.optional {
            guard let name = names[fact], var carriage = table[fact] else { continue }
            // A limit the client's own dialect never reaches cuts nothing.
            switch carriage {
            case .truncated(let path, let limit)
            where CarriageProbe.longestAccepted(fact, dialect: client, base: base, catalog: catalog) <= limit:
                carriage = .carried(as: path)
            case .shared(let path, let order, let limit?)
            where CarriageProbe.longestAccepted(fact, dialect: client, base: base, catalog: catalog) <= limit:
                carriage = .shared(as: path, firstOf: order, limit: nil)
            default: break
            }
            fields.append((name, fact, carriage))
        }
        return Pair(source: source, target: target, fields: fields, base: base)
    }

    /// How one backend dialect carries each fact of the canonical movement.
    public static func backendTable(target: DialectID, catalog: Catalog) -> [MovementFact: Carriage] {
        guard let backend = DialectRegistry.dialect(target) else { return [:] }
        let codec = backend.outboundCodec()
        guard
            let base = CarriageProbe.baseMovement(
                catalog: catalog,
                accepts: { (try? CarriageProbe.request($0, codec: codec, catalog: catalog).get()) != nil })
        else { return [:] }
        return CarriageProbe.table(codec: codec, base: base, catalog: catalog)
    }

    /// Both tables as Markdown: the pairs (rows: the client's dialect, columns: the backend's),
    /// then each backend's treatment of every canonical fact.
    public static func markdown(catalog: Catalog) -> String {
        let ids = DialectRegistry.ids
        var lines: [String] = []
        lines.append("What a client's fields become at a backend of another dialect (rows: the client's")
        lines.append("dialect; columns: the backend's). A cell lists the client's fields that do not arrive")
        lines.append("whole: dropped, cut (≤ N characters), dropped only when another is sent (one backend")
        lines.append("field takes the first present of several) or refused; `—` means nothing is lost. The")
        lines.append("product and the quantity always arrive, mapped through the catalog; where the locations")
        lines.append("go is in the second table (an Open2b adjustment keeps only its sign: the other side of")
        lines.append("the movement is dropped). Found by running the codecs on movements of the demo catalog")
        lines.append("(`stockgate contract-test --losses` prints it for yours).")
        lines.append("")
        lines.append("| client ↓ / backend → | " + ids.map(\.rawValue).joined(separator: " | ") + " |")
        lines.append("|---|" + ids.map { _ in "---" }.joined(separator: "|") + "|")
        for source in ids {
            var cells: [String] = []
            for target in ids {
                guard let pair = pair(source: source, target: target, catalog: catalog) else {
                    cells.append("no common movement")
                    continue
                }
                let lost = pair.losses.map { "`\($0.name)`\(suffix($0.carriage, pair: pair, fact: $0.fact))" }
                cells.append(lost.isEmpty ? "—" : lost.joined(separator: ", "))
            }
            lines.append("| \(source) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines.append("What each backend dialect makes of each fact of a canonical movement (a field of the")
        lines.append("backend's request; `[]` is an array's element):")
        lines.append("")
        lines.append("| fact | " + ids.map(\.rawValue).joined(separator: " | ") + " |")
        lines.append("|---|" + ids.map { _ in "---" }.joined(separator: "|") + "|")
        let tables = ids.map { backendTable(target: $0, catalog: catalog) }
        for fact in MovementFact.allCases {
            let cells = tables.map { table in table[fact].map(cell) ?? "?" }
            lines.append("| \(fact.rawValue) | " + cells.joined(separator: " | ") + " |")
        }
        lines.append("")
        lines += levelTable(catalog: catalog)
        return lines.joined(separator: "\n") + "\n"
    }

    /// What a level command becomes at each backend dialect (docs/levels.md): native, read
    /// then moved (not atomic at the backend: a change made there by another path between the
    /// read and the write is not seen), a plain movement, or refused.
    static func levelTable(catalog: Catalog) -> [String] {
        let ids = DialectRegistry.ids
        var lines = [
            "What a level command becomes at each backend dialect (docs/levels.md; the embedded ledger",
            "and PostgreSQL apply every kind atomically). \"read, then moved\" is not atomic at the backend:",
            "a change made there by another path between StockGate's read and its write is not seen.", "",
            "| level command | " + ids.map(\.rawValue).joined(separator: " | ") + " |",
            "|---|" + ids.map { _ in "---" }.joined(separator: "|") + "|",
        ]
        guard let product = catalog.products.first?.key,
            let location = catalog.locations.first(where: { $0.kind.isTracked })?.key
        else { return lines }
        let kinds: [(String, Movement?)] = [
            (
                "absolute (\"holds 7\")",
                Movement.level(product: product, location: location, target: Quantity(7), catalog: catalog)
            ),
            (
                "relative (\"2 fewer\")",
                Movement.level(product: product, location: location, change: Quantity(-2), catalog: catalog)
            ),
            (
                "compare-and-set (\"7 if it is 5\")",
                Movement.level(
                    product: product, location: location, target: Quantity(7), expected: Quantity(5), catalog: catalog)
            ),
        ]
        for (name, item) in kinds {
            guard let item else { continue }
            let cells = ids.map { id -> String in
                guard let codec = DialectRegistry.dialect(id)?.outboundCodec() else { return "?" }
                var treatment = LevelTreatment.of(item, codec: codec)
                if treatment == .native {
                    do throws(GatewayError) { try codec.check(item, catalog: catalog) } catch {
                        treatment = .refused(error)
                    }
                }
                return treatment.cell
            }
            lines.append("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    static func suffix(_ carriage: Carriage, pair: Pair, fact: MovementFact) -> String {
        switch carriage {
        case .dropped: return ""
        case .truncated(_, let limit): return " (≤ \(limit))"
        case .shared(_, let order, let limit):
            let cut = limit.map { ", ≤ \($0)" } ?? ""
            let earlier = order.prefix { $0 != fact }.compactMap { pair.name($0) }.map { "`\($0)`" }
            if earlier.isEmpty { return " (≤ \(limit ?? 0))" }
            return " (when \(earlier.joined(separator: " or ")) is sent\(cut))"
        case .refused: return " (refused)"
        default: return ""
        }
    }

    static func cell(_ carriage: Carriage) -> String {
        switch carriage {
        case .carried(let path): "`\(path)`"
        case .transformed(let path, let how): "`\(path)` (\(how))"
        case .truncated(let path, let limit): "`\(path)` ≤ \(limit)"
        case .shared(let path, let order, let limit):
            "`\(path)`, first of \(order.map(\.rawValue).joined(separator: " / "))" + (limit.map { " ≤ \($0)" } ?? "")
        case .dropped: "dropped"
        case .refused: "refused"
        }
    }
}
