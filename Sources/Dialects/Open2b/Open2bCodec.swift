import HTTPTypes
import StockCore

/// Open2b's `commerce.movements` RPC methods, v6 (`/api/v6/…`) and v3 (`/open2b/api/v3/…`).
///
/// Open2b knows no locations: a movement is a signed adjustment of one SKU's stock. StockGate
/// shows it the ledger as seen from the catalog's `open2b_role: stock` location: a movement
/// into it is a positive adjustment, one out of it a negative one, whichever dialect made it.
/// `create` with a positive adjustment moves from the `in` location, a negative one to the
/// `out` location; like Open2b, an adjustment is never refused for lack of stock.
///
/// Method errors are HTTP 200 `{"status": "error", "error": {field, type, description}}`;
/// transport errors are not JSON (405 for a method other than POST, 404 for an unknown method).
public struct Open2bCodec: InboundCodec {
    public enum Version: String, Sendable {
        case v6 = "open2b-v6"
        case v3 = "open2b-v3"

        var prefix: String { self == .v6 ? "/api/v6" : "/open2b/api/v3" }
        var maxLimit: Int? { self == .v6 ? nil : 100 }
        var hasAfter: Bool { self == .v6 }
    }

    public enum Method: String, Sendable, CaseIterable {
        case find, get, count, create, update, delete
    }

    public struct Context: Sendable {
        var method: Method
        var fields: [String]
        var stockLocation: String
    }

    public let version: Version
    public var dialect: DialectID { DialectID(version.rawValue) }
    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case rpc = "rpc"
    }

    public let routes: [Route<Endpoint>]

    static let allFields = ["id", "sku", "adjustment", "creationTime", "description"]
    static let orderFields: [String: MovementQuery.SortField] = [
        "id": .id, "sku": .product, "adjustment": .quantity, "creationTime": .createdAt, "description": .description,
    ]
    /// decimal[11,2]: at most nine integer digits.
    static let maxAdjustment = Quantity(999_999_999) + Quantity(parsingOrZero: "0.99")
    /// Without `limit`, `find` returns at most this many movements.
    public static let defaultFindLimit = 10_000

    /// `find`, `get` and `count` read, by POST as every Open2b call.
    public func onlyReads(method: HTTPRequest.Method, path: String) -> Bool {
        let name = path.split(separator: "?")[0].split(separator: "/").last ?? ""
        guard method == .post, name.hasPrefix("commerce.movements.") else { return false }
        let call = Method(rawValue: String(name.dropFirst("commerce.movements.".count)))
        return call == .find || call == .get || call == .count
    }

    public init(version: Version) {
        self.version = version
        self.routes = [Route(.rpc, nil, version.prefix + "/{method}")]
    }

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        let name = request.pathParameters["method"] ?? ""
        guard name.hasPrefix("commerce.movements."),
            let method = Method(rawValue: String(name.dropFirst("commerce.movements.".count)))
        else {
            throw GatewayError(code: .noSuchEndpoint, message: "unknown method")
        }
        guard request.method == .post else {
            throw GatewayError(code: .methodNotAllowed, message: "method not allowed")
        }
        guard let stock = catalog.location(open2bRole: .stock) else {
            throw GatewayError(code: .internal, message: "the catalog has no open2b_role stock location")
        }
        let root = try FieldReader(request.body.isEmpty ? .object(JSONObject()) : request.jsonBody(), path: "")
        var context = Context(method: method, fields: Self.allFields, stockLocation: stock.key)
        switch method {
        case .find:
            return try decodeFind(root, context: context, stock: stock.key, catalog: catalog)
        case .count:
            try root.rejectUnknown(["conditions"])
            let query = try conditions(root, stock: stock.key, catalog: catalog)
            return Decoded(commands: query.map { [.countMovements($0)] } ?? [], context: context)
        case .get:
            try root.rejectUnknown(["id", "fields"])
            let id = try root.requiredInteger("id", range: 1...Int64.max)
            context.fields = try fields(root)
            return Decoded(commands: [.getMovement(id: id)], context: context)
        case .create:
            return try decodeCreate(root, context: context, stock: stock, catalog: catalog)
        case .update:
            try root.rejectUnknown(["id", "movement"])
            let id = try root.requiredInteger("id", range: 1...Int64.max)
            let movement = try root.requiredObject("movement")
            try movement.rejectUnknown(["description"])
            guard let description = try movement.string("description", maxLength: 255) else {
                return Decoded(commands: [.getMovement(id: id)], context: context)
            }
            guard !description.isEmpty else {
                throw GatewayError.invalidValue(
                    "description must be 1 to 255 characters", field: "movement.description")
            }
            return Decoded(commands: [.updateDescription(id: id, description: description)], context: context)
        case .delete:
            try root.rejectUnknown(["ids"])
            let values = try root.requiredArray("ids")
            var ids: [Int64] = []
            for (index, value) in values.enumerated() {
                guard case .number(let text) = value, let id = Int64(text), id >= 1 else {
                    throw GatewayError.invalidValue("ids[\(index)] must be an integer of at least 1", field: "ids")
                }
                ids.append(id)
            }
            return Decoded(commands: ids.isEmpty ? [] : [.deleteMovements(ids: ids)], context: context)
        }
    }

    /// `find`: the conditions, the fields answered, the order, and a page of at most the
    /// version's limit.
    func decodeFind(
        _ root: FieldReader, context: Context, stock: String, catalog: Catalog
    ) throws(GatewayError) -> Decoded<Context> {
        var context = context
        try root.rejectUnknown(["conditions", "fields", "order", "limit", "first"])
        let conditions = try conditions(root, stock: stock, catalog: catalog)
        context.fields = try fields(root)
        let sortOrder = try order(root)
        let limit = try root.integer("limit", range: 1...Int64(version.maxLimit ?? Int(Int32.max)))
        let first = try root.integer("first", range: 0...Int64(Int32.max))
        guard var query = conditions else { return Decoded(commands: [], context: context) }
        query.order = sortOrder
        query.limit = limit.map { Int($0) } ?? version.maxLimit ?? Self.defaultFindLimit
        query.offset = Int(first ?? 0)
        return Decoded(commands: [.findMovements(query)], context: context)
    }

    /// `create`: one adjustment of a SKU at the stock location, its counterpart the catalog's
    /// `in` or `out` location by its sign.
    func decodeCreate(
        _ root: FieldReader, context: Context, stock: Location, catalog: Catalog
    ) throws(GatewayError) -> Decoded<Context> {
        try root.rejectUnknown(["movement"])
        let movement = try root.requiredObject("movement")
        try movement.rejectUnknown(["sku", "adjustment", "description"])
        let sku = try movement.requiredString("sku", maxLength: 32)
        guard let product = catalog.product(sku: sku) else {
            throw GatewayError.notFound("Item '\(sku)' does not exist", field: "movement.sku")
        }
        let adjustment = try self.adjustment(movement)
        let description = try movement.string("description", maxLength: 255)
        let counterpart: Open2bRole = adjustment.isPositive ? .in : .out
        guard let other = catalog.location(open2bRole: counterpart) else {
            throw GatewayError.unsupported(
                "the catalog has no open2b_role \(counterpart.rawValue) location", field: "movement.adjustment")
        }
        let item = Movement(
            product: product.key, quantity: adjustment.absolute,
            from: adjustment.isPositive ? other.key : stock.key, to: adjustment.isPositive ? stock.key : other.key,
            description: description, allowOverage: true)
        return Decoded(commands: [.move(MoveBatch(items: [item], atomicity: .allOrNothing))], context: context)
    }

    /// The query the `conditions` ask for, or nil when nothing can match (a SKU the catalog
    /// does not know), so no command needs to run.
    func conditions(_ root: FieldReader, stock: String, catalog: Catalog) throws(GatewayError) -> MovementQuery? {
        var query = MovementQuery(location: stock, appliedOnly: true)
        guard let conditions = try root.object("conditions") else { return query }
        var allowed: Set<String> = ["sku", "fromCreationTime", "toCreationTime", "keywords"]
        if version.hasAfter { allowed.insert("after") }
        try conditions.rejectUnknown(allowed)
        var matchesNothing = false
        if let sku = try conditions.string("sku", maxLength: 32, allowEmpty: false) {
            query.product = catalog.product(sku: sku)?.key
            matchesNothing = query.product == nil
        }
        for (key, isFrom) in [("fromCreationTime", true), ("toCreationTime", false)] {
            guard let text = try conditions.string(key) else { continue }
            guard let date = Timestamp.parseOpen2b(text) else {
                throw GatewayError(
                    code: .malformed, message: "\(key) must be a datetime YYYY-MM-DD hh:mm:ss, got '\(text)'",
                    field: conditions.name(key))
            }
            // The ledger keeps milliseconds; Open2b speaks whole seconds.
            if isFrom { query.createdFrom = date } else { query.createdTo = date.addingTimeInterval(0.999) }
        }
        query.keywords = try conditions.string("keywords", maxLength: 100, allowEmpty: false)
        if version.hasAfter { query.afterID = try conditions.integer("after", range: 0...Int64.max) }
        return matchesNothing ? nil : query
    }

    func fields(_ root: FieldReader) throws(GatewayError) -> [String] {
        guard let values = try root.array("fields") else { return Self.allFields }
        var fields: [String] = []
        for value in values {
            guard case .string(let name) = value, Self.allFields.contains(name) else {
                let shown = value.stringValue ?? value.typeName
                throw GatewayError.invalidValue("fields: '\(shown)' is not a field of movements", field: "fields")
            }
            if !fields.contains(name) { fields.append(name) }
        }
        guard !fields.isEmpty else { throw GatewayError.invalidValue("fields must not be empty", field: "fields") }
        return fields
    }

    func order(_ root: FieldReader) throws(GatewayError) -> [MovementQuery.Sort] {
        guard let values = try root.array("order") else { return [MovementQuery.Sort(.id)] }
        var sorts: [MovementQuery.Sort] = []
        for value in values {
            guard case .string(var name) = value else {
                throw GatewayError.invalidValue("order must hold field names", field: "order")
            }
            let descending = name.hasPrefix("-")
            if descending { name.removeFirst() }
            guard let field = Self.orderFields[name] else {
                throw GatewayError.invalidValue(
                    "order: '\(value.stringValue ?? "")' is not a sortable field", field: "order")
            }
            sorts.append(MovementQuery.Sort(field, descending: descending))
        }
        return sorts
    }

    func adjustment(_ movement: FieldReader) throws(GatewayError) -> Quantity {
        guard let value = movement.value("adjustment") else { throw GatewayError.missing("movement.adjustment") }
        let text: String
        switch value {
        case .string(let string): text = string
        case .number(let number): text = number
        default:
            throw GatewayError.invalidValue(
                "Adjustment must be a decimal, got \(value.typeName)", field: "movement.adjustment")
        }
        guard let quantity = try? Quantity(parsing: text), !quantity.isZero, quantity.scale <= 2,
            quantity.absolute <= Self.maxAdjustment
        else {
            throw GatewayError.invalidValue("Adjustment \(text) is out of range", field: "movement.adjustment")
        }
        return quantity
    }

    // MARK: Encoding

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        switch context.method {
        case .find:
            var rows: [JSONValue] = []
            if case .movements(let movements) = outcomes.first {
                rows = movements.map { json($0, context: context, catalog: catalog) }
            }
            return ok(["movements": .array(rows)])
        case .count:
            if case .count(let count) = outcomes.first { return ok(["count": .integer(count)]) }
            return ok(["count": 0])
        case .get:
            if case .movement(let movement?) = outcomes.first, visible(movement, context: context) {
                return ok(["movement": json(movement, context: context, catalog: catalog)])
            }
            return ok(["movement": .null])
        case .create:
            guard case .moved(let batch) = outcomes.first else {
                return encode(GatewayError.internalError("no outcome"), route: route, context: context)
            }
            if let failure = batch.combinedFailure(naming: { _, error in
                error.renamingField(["product": "movement.sku", "quantity": "movement.adjustment"])
            }) {
                return encode(failure, route: route, context: context)
            }
            return ok(["id": .integer(batch.succeeded.first?.id ?? 0)])
        case .update:
            if case .movement(nil) = outcomes.first {
                return encode(
                    GatewayError.notFound("Movement does not exist", field: "id"), route: route, context: context)
            }
            return ok([:])
        case .delete:
            return ok([:])
        }
    }

    /// Whether Open2b sees the movement: applied, standing, and changing the stock location.
    func visible(_ movement: Movement, context: Context) -> Bool {
        movement.state == .applied && movement.reverses == nil
            && (movement.from == context.stockLocation || movement.to == context.stockLocation)
    }

    func json(_ movement: Movement, context: Context, catalog: Catalog) -> JSONValue {
        var object = JSONObject()
        for field in context.fields {
            switch field {
            case "id": object["id"] = .integer(movement.id ?? 0)
            case "sku": object["sku"] = .string(catalog.product(key: movement.product)?.sku ?? movement.product)
            case "adjustment":
                let signed = movement.to == context.stockLocation ? movement.quantity : -movement.quantity
                // More than two decimals can only come from another dialect; Open2b would
                // round, StockGate shows the exact value rather than invent one.
                object["adjustment"] = .string(signed.fixed(fractionDigits: 2) ?? signed.description)
            case "creationTime": object["creationTime"] = .string(movement.createdAt.map(Timestamp.sqlDateTime) ?? "")
            case "description": object["description"] = .string(movement.description ?? "")
            default: break
            }
        }
        return .object(object)
    }

    func ok(_ members: JSONObject) -> CodecResponse {
        var object = JSONObject([.init("status", "ok")])
        object.members.append(contentsOf: members.members)
        return .json(.ok, .object(object))
    }

    func ok(_ value: JSONValue) -> CodecResponse {
        ok(value.objectValue ?? JSONObject())
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        // Transport errors are plain text, as the vendor's web server answers them.
        switch error.code {
        case .noSuchEndpoint: return .text(.notFound, "404 Not Found")
        case .methodNotAllowed:
            // Every call of the API is a POST (RFC 9110 §15.5.6: a 405 lists what is allowed).
            var answer = CodecResponse.text(.methodNotAllowed, "405 Method Not Allowed")
            answer.headers[.allow] = "POST"
            return answer
        case .unauthorized, .forbidden: return .text(.forbidden, "403 Forbidden")
        case .tooLarge: return .text(.contentTooLarge, "413 Request Entity Too Large")
        case .tooManyRequests: return .text(.tooManyRequests, "429 Too Many Requests")
        case .requestTimeout: return .text(.requestTimeout, "408 Request Timeout")
        default: break
        }
        // "A temporary inability of the server to fulfill the request (... internal system
        // error)" is answered in the error envelope (open2b.dev/en/error-handling); the vendor
        // names no type for it, so the type says what happened, and the HTTP status stays the
        // gateway's (500, 502, 503, 504) for clients and proxies that look only at it.
        let serverFailure: (HTTPResponse.Status, String)? =
            switch error.code {
            case .internal: (.internalServerError, "InternalError")
            case .unavailable: (.serviceUnavailable, "Unavailable")
            case .unknownOutcome: (.gatewayTimeout, "UnknownOutcome")
            case .backendFailure: (.badGateway, "BackendFailure")
            default: nil
            }
        if let (status, type) = serverFailure {
            return .json(
                status,
                [
                    "status": "error",
                    "error": [
                        "field": .string(error.field.map(Self.vendorField) ?? ""), "type": .string(type),
                        "description": .string(error.message),
                    ],
                ])
        }
        let type: String
        switch error.code {
        case .malformed: type = "Malformed"
        case .missing: type = "Missing"
        case .unknownField: type = "UnknownField"
        case .notFound: type = "NotFound"
        case .conflict: type = "InvalidCombination"
        default: type = "InvalidValue"
        }
        // The vendor's tables name a field by the member alone (`sku`, `adjustment`, `id`), and
        // word UnknownField and Missing in fixed texts (open2b.dev/en/error-handling, "Common errors").
        let field = Self.vendorField(error.field ?? "")
        let description: String
        switch error.code {
        case .unknownField: description = "Field '\(field)' is unknown"
        case .missing: description = "\(field) is required"
        default: description = error.message
        }
        return .json(
            .ok,
            [
                "status": "error",
                "error": ["field": .string(field), "type": .string(type), "description": .string(description)],
            ])
    }

    /// A field path as Open2b's error tables name it: the member's own name, without the
    /// objects around it or an array index (`movement.sku` → `sku`, `conditions.after` →
    /// `after`, `ids[2]` → `ids`). Where a nested member shares a name with another (`sku` in
    /// `movement` and in `conditions`), the method tells them apart.
    static func vendorField(_ path: String) -> String {
        var leaf = Substring(path)
        if let dot = leaf.lastIndex(of: ".") { leaf = leaf[leaf.index(after: dot)...] }
        if let bracket = leaf.firstIndex(of: "[") { leaf = leaf[..<bracket] }
        return String(leaf)
    }
}

extension Quantity {
    init(parsingOrZero text: String) {
        self = (try? Quantity(parsing: text)) ?? .zero
    }
}
