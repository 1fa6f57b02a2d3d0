import Foundation
import StockCore

/// One business intent stated once, in canonical terms: the runner renders it into every
/// inbound dialect and runs it against every backend kind (`IntentRunner`).
///
/// ```json
/// {
///   "description": "a restock of 5 lands on the shop floor",
///   "setup": [{"product": "mug-black", "quantity": "10", "from": "outside", "to": "shop-floor"}],
///   "movements": [{"product": "tshirt-blue-m", "quantity": "5", "from": "supplier", "to": "shop-floor"}],
///   "atomic": true,
///   "expect": {"changes": [{"product": "tshirt-blue-m", "location": "shop-floor", "change": "5"}]}
/// }
/// ```
///
/// `expect` holds `changes` (every movement applied, and exactly these balances moved), or
/// `"refused": true` (refused in every dialect, nothing moved). `setup` movements are put
/// straight into the ledger that holds the stock, before each run. `skip` names inbound
/// dialects or backend kinds where the intent does not hold by design, with the reason
/// (`{"zettle": "Zettle lets a balance go below zero"}`): reported as skipped, with it.
public struct Intent: Sendable, Equatable {
    public struct Change: Sendable, Equatable {
        public var product: String
        public var location: String
        public var change: Quantity
    }

    public enum Expectation: Sendable, Equatable {
        case changes([Change])
        /// The balances afterwards (`change` is the level): what a level intent promises,
        /// whatever the location held before.
        case levels([Change])
        case refused
    }

    public var name: String
    public var description: String
    public var setup: [Movement]
    public var movements: [Movement]
    public var atomic: Bool
    public var expectation: Expectation
    /// Inbound dialect or backend kind → why the intent does not hold there.
    public var skip: [String: String] = [:]

    /// Every intent file (`*.json`) of a directory, by name.
    /// - Parameter catalog: where level items find their counterpart (`Catalog.levelCounterpart`).
    public static func load(directory: String, catalog: Catalog? = nil) throws -> [Intent] {
        let manager = FileManager.default
        var intents: [Intent] = []
        for file in try manager.contentsOfDirectory(atPath: directory).sorted() where file.hasSuffix(".json") {
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = manager.contents(atPath: path) else {
                throw ContractCase.FormatError(description: "\(path): unreadable")
            }
            intents.append(try parse(Array(data), name: "intents/\(file)", catalog: catalog))
        }
        return intents
    }

    /// An intent's movements are canonical movements, or level items (`product`, `location`,
    /// `level` or `change`, optional `expected`), which need `catalog`.
    /// A level item of an intent: `product`, `location`, `level` or `change`, optional `expected`.
    static func levelItem(
        _ item: JSONValue, field: String, catalog: Catalog?, quantity: (JSONValue?, String) throws -> Quantity,
        fail: (String) -> ContractCase.FormatError
    ) throws -> Movement {
        guard let product = item["product"]?.stringValue, let location = item["location"]?.stringValue else {
            throw fail("\(field) needs product and location")
        }
        let target = try item["level"].map { try quantity($0, field + ".level") }
        let change = try item["change"].map { try quantity($0, field + ".change") }
        let expected = try item["expected"].map { try quantity($0, field + ".expected") }
        guard (target == nil) != (change == nil) else { throw fail("\(field) needs level or change") }
        guard let catalog,
            let movement = Movement.level(
                product: product, location: location, target: target, change: change ?? .zero, expected: expected,
                catalog: catalog)
        else { throw fail("\(field): a level item needs a catalog with an outside location") }
        return movement
    }

    public static func parse(_ bytes: [UInt8], name: String, catalog: Catalog? = nil) throws -> Intent {
        func fail(_ text: String) -> ContractCase.FormatError {
            ContractCase.FormatError(description: "\(name): \(text)")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw fail("not JSON: \(error)")
        }
        guard let object = json.objectValue else { throw fail("an intent is a JSON object") }
        for key in object.keys where !["description", "setup", "movements", "atomic", "expect", "skip"].contains(key) {
            throw fail("unknown key '\(key)'")
        }
        func movements(_ key: String) throws -> [Movement] {
            guard let value = object[key] else { return [] }
            guard let items = value.arrayValue else { throw fail("'\(key)' must be an array") }
            return try items.enumerated().map { index, item in
                let field = "\(key)[\(index)]"
                if item["location"] != nil {
                    return try levelItem(item, field: field, catalog: catalog, quantity: quantity, fail: fail)
                }
                guard let product = item["product"]?.stringValue, let from = item["from"]?.stringValue,
                    let to = item["to"]?.stringValue
                else { throw fail("\(field) needs product, from and to") }
                return Movement(
                    product: product, quantity: try quantity(item["quantity"], field: field + ".quantity"),
                    from: from, to: to, reason: item["reason"]?.stringValue, reference: item["reference"]?.stringValue,
                    description: item["description"]?.stringValue, user: item["user"]?.stringValue)
            }
        }
        func quantity(_ value: JSONValue?, field: String) throws -> Quantity {
            guard let text = value?.stringValue ?? value?.numberText, let quantity = try? Quantity(parsing: text)
            else { throw fail("\(field) must be a decimal") }
            return quantity
        }
        let moves = try movements("movements")
        guard !moves.isEmpty else { throw fail("'movements' must hold at least one movement") }
        guard let expect = object["expect"]?.objectValue else { throw fail("'expect' is required") }
        let expectation: Expectation
        if expect["refused"] == true {
            expectation = .refused
        } else if let changes = expect["changes"]?.arrayValue {
            expectation = .changes(
                try changes.enumerated().map { index, change in
                    guard let product = change["product"]?.stringValue,
                        let location = change["location"]?.stringValue
                    else { throw fail("expect.changes[\(index)] needs product and location") }
                    return Change(
                        product: product, location: location,
                        change: try quantity(change["change"], field: "expect.changes[\(index)].change"))
                })
        } else if let levels = expect["levels"]?.arrayValue {
            expectation = .levels(
                try levels.enumerated().map { index, level in
                    guard let product = level["product"]?.stringValue, let location = level["location"]?.stringValue
                    else { throw fail("expect.levels[\(index)] needs product and location") }
                    return Change(
                        product: product, location: location,
                        change: try quantity(level["level"], field: "expect.levels[\(index)].level"))
                })
        } else {
            throw fail("'expect' holds 'changes', 'levels' or \"refused\": true")
        }
        var skip: [String: String] = [:]
        if let value = object["skip"] {
            guard let members = value.objectValue?.members else { throw fail("'skip' maps a dialect to a reason") }
            for member in members {
                guard let reason = member.value.stringValue else { throw fail("skip.\(member.key) must be a reason") }
                skip[member.key] = reason
            }
        }
        return Intent(
            name: name, description: object["description"]?.stringValue ?? "", setup: try movements("setup"),
            movements: moves, atomic: object["atomic"]?.boolValue ?? true, expectation: expectation, skip: skip)
    }
}
