import StockCore

/// Another StockGate as a backend, through its own API (`/stockgate/v1`). Catalog keys are
/// the shared identity.
public struct CanonicalOutbound: OutboundCodec {
    public var dialect: DialectID { CanonicalCodec.dialect }
    /// Levels go as level items: the other StockGate reads and changes each atomically.
    public let capabilities = BackendCapabilities(
        maxBatchItems: CanonicalCodec.maxBatchItems, atomicRequests: false, integerQuantities: false,
        maxFractionDigits: nil, pendingTransfers: true, balanceReads: true, idempotencyKeys: true, nativeLevels: true)

    public init() {}

    public func check(_ item: Movement, catalog: Catalog) throws(GatewayError) {}

    /// StockGate takes either semantics per request; `atomic` asks for all-or-nothing.
    public func moveRequest(
        _ items: [Movement], catalog: Catalog, idempotencyKey: String?, atomic: Bool
    )
        throws(GatewayError) -> OutboundRequest
    {
        var movements: [JSONValue] = []
        for item in items {
            if let level = item.level {
                movements.append(CanonicalJSON.levelRequest(item, level: level))
                continue
            }
            var object = JSONObject()
            object["product"] = .string(item.product)
            object["quantity"] = .string(item.quantity.description)
            object["from"] = .string(item.from)
            object["to"] = .string(item.to)
            let texts: [(String, String?)] = [
                ("reason", item.reason), ("reference", item.reference), ("description", item.description),
                ("user", item.user), ("source", item.sourceSystem), ("externalId", item.externalID),
            ]
            for (key, value) in texts { if let value { object[key] = .string(value) } }
            if item.state == .pending { object["pending"] = true }
            if item.allowOverage { object["allowOverage"] = true }
            if !item.extras.isEmpty { object["extras"] = CanonicalJSON.json(item.extras) }
            movements.append(.object(object))
        }
        var request = OutboundRequest.json(
            .post, "/stockgate/v1/movements", ["movements": .array(movements), "atomic": .bool(atomic)])
        if let idempotencyKey { request.head.headerFields[.idempotencyKey] = idempotencyKey }
        return request
    }

    public func moveResult(_ response: OutboundResponse, items: [Movement], catalog: Catalog) -> [BatchOutcome.Item] {
        let results = response.json?["results"]?.arrayValue
        let success = (200..<300).contains(response.status)
        if success, results?.count != items.count {
            return items.map { _ in .failed(unreadableAnswer("StockGate", response)) }
        }
        // A refusal status that calls an item applied contradicts itself: nobody knows what happened.
        if !success, results?.contains(where: { $0["status"]?.stringValue == "applied" }) == true {
            return items.map { _ in .failed(unreadableAnswer("StockGate", response)) }
        }
        guard let results, results.count == items.count else {
            let error = errorOf(response)
            return items.map { _ in .failed(error) }
        }
        return zip(results, items).map { result, item in
            switch result["status"]?.stringValue {
            case "applied":
                var movement = item
                if let id = result["movement"]?["id"]?.numberText.flatMap({ Int64($0) }) { movement.id = id }
                if item.level != nil {
                    // What the other StockGate found and did: the balance it read, the change it made.
                    guard let resolved = Self.resolvedLevel(result["movement"], item: item) else {
                        return .failed(unreadableAnswer("StockGate", response))
                    }
                    movement = resolved
                }
                return .applied(movement)
            case "failed":
                return .failed(Self.error(result["error"]))
            default:
                return .notApplied
            }
        }
    }

    public func balanceRequest(_ query: BalanceQuery, catalog: Catalog) -> OutboundRequest {
        var parameters: [String] = []
        if let products = query.products, products.count == 1 {
            parameters.append("product=\(percentEncoded(products[0]))")
        }
        if let location = query.location { parameters.append("location=\(percentEncoded(location))") }
        return OutboundRequest(
            .get, "/stockgate/v1/balances" + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&")))
    }

    public func balanceResult(
        _ response: OutboundResponse, query: BalanceQuery, catalog: Catalog
    )
        throws(GatewayError) -> [Balance]
    {
        guard response.status == 200, let list = response.json?["balances"]?.arrayValue else { throw errorOf(response) }
        return list.compactMap { item in
            guard let product = item["product"]?.stringValue, let location = item["location"]?.stringValue,
                let text = item["quantity"]?.stringValue, let quantity = try? Quantity(parsing: text)
            else { return nil }
            if let products = query.products, !products.contains(product) { return nil }
            if !query.includeZero && quantity.isZero { return nil }
            return Balance(product: product, location: location, quantity: quantity)
        }
    }

    /// A level item as the other StockGate applied it: quantity, ends and the balance it read.
    static func resolvedLevel(_ answer: JSONValue?, item: Movement) -> Movement? {
        guard let answer, var level = item.level,
            let quantity = answer["quantity"]?.stringValue.flatMap({ try? Quantity(parsing: $0) }),
            let from = answer["from"]?.stringValue, let to = answer["to"]?.stringValue,
            from == level.location || to == level.location, !quantity.isNegative
        else { return nil }
        if let text = answer["level"]?["before"]?.stringValue {
            guard let before = try? Quantity(parsing: text) else { return nil }
            level.before = before
        }
        var movement = item
        movement.quantity = quantity
        movement.from = from
        movement.to = to
        movement.level = level
        if let id = answer["id"]?.numberText.flatMap({ Int64($0) }) { movement.id = id }
        return movement
    }

    func errorOf(_ response: OutboundResponse) -> GatewayError {
        if let error = response.json?["error"] { return Self.error(error) }
        return backendError(
            status: response.status, message: "stockgate backend answered \(response.status): \(response.text)")
    }

    /// A canonical error object back into a `GatewayError`: same code, message and field.
    static func error(_ value: JSONValue?) -> GatewayError {
        let codes: [String: GatewayError.Code] = [
            "malformed": .malformed, "missing": .missing, "invalidValue": .invalidValue, "unknownField": .unknownField,
            "notFound": .notFound, "insufficientStock": .insufficientStock, "conflict": .conflict,
            "unsupported": .unsupported,
        ]
        let code = value?["code"]?.stringValue.flatMap { codes[$0] } ?? .backendFailure
        var field = value?["field"]?.stringValue
        // `movements[3].quantity` → `quantity`: the item is known by its position already.
        if let text = field, let dot = text.firstIndex(of: "."), text.hasPrefix("movements[") {
            field = String(text[text.index(after: dot)...])
        }
        return GatewayError(code: code, message: value?["message"]?.stringValue ?? "backend error", field: field)
    }
}

func percentEncoded(_ text: String) -> String {
    func unreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
    // Ids and names usually need nothing: the text itself, with no copy.
    if text.utf8.allSatisfy(unreserved) { return text }
    let hex = Array("0123456789ABCDEF".utf8)
    var output: [UInt8] = []
    output.reserveCapacity(text.utf8.count * 3)
    for byte in text.utf8 {
        if unreserved(byte) {
            output.append(byte)
        } else {
            output.append(UInt8(ascii: "%"))
            output.append(hex[Int(byte >> 4)])
            output.append(hex[Int(byte & 0x0F)])
        }
    }
    return String(decoding: output, as: UTF8.self)
}
