import HTTPTypes
import StockCore

/// StockGate's own API, the sixth dialect (`stockgate`).
///
/// - `GET  /stockgate/v1/balances?product=KEY&location=KEY`
/// - `POST /stockgate/v1/movements` `{"movements": [...], "atomic": false}`
/// - `POST /stockgate/v1/levels` `{"levels": [{"product", "location", "level" | "change", "expected"?}], "atomic": false}`
/// - `GET  /stockgate/v1/movements?product=&location=&after=&limit=`
/// - `GET  /stockgate/v1/movements/{id}`
/// - `POST /stockgate/v1/transfers/{id}/confirm`
/// - `GET  /stockgate/v1/movements?state=sent&backend=NAME&request=ID` (the journal of forwards)
/// - `POST /stockgate/v1/journal/{id}/settle` `{"state": "applied" | "failed"}`
/// - `GET  /stockgate/v1/locations`
public struct CanonicalCodec: InboundCodec {
    public struct Context: Sendable {
        public var atomic: Bool
        public init(atomic: Bool = false) { self.atomic = atomic }
    }

    public static let dialect: DialectID = "stockgate"
    public static let maxBatchItems = 10_000
    public static let defaultLimit = 100
    public static let maxLimit = 1000

    public var dialect: DialectID { Self.dialect }

    public init() {}

    /// The endpoints, one case each (raw value: the metrics label).
    public enum Endpoint: String, Sendable, Hashable, CaseIterable {
        case balancesRead = "balances.read"
        case movementsCreate = "movements.create"
        case levelsSet = "levels.set"
        case movementsFind = "movements.find"
        case movementsGet = "movements.get"
        case transfersConfirm = "transfers.confirm"
        case locationsList = "locations.list"
        case journalSettle = "journal.settle"
    }

    /// The reads are served on the admin listener too (the operator's `journal` and `reconcile`
    /// read there); settling the journal is the operator's, on the admin listener only.
    public let routes: [Route<Endpoint>] = [
        Route(.balancesRead, .get, "/stockgate/v1/balances", exposure: .both),
        Route(.movementsCreate, .post, "/stockgate/v1/movements"),
        Route(.levelsSet, .post, "/stockgate/v1/levels"),
        Route(.movementsFind, .get, "/stockgate/v1/movements", exposure: .both),
        Route(.movementsGet, .get, "/stockgate/v1/movements/{id}", exposure: .both),
        Route(.transfersConfirm, .post, "/stockgate/v1/transfers/{id}/confirm"),
        Route(.locationsList, .get, "/stockgate/v1/locations", exposure: .both),
        Route(.journalSettle, .post, "/stockgate/v1/journal/{id}/settle", audience: .operator, exposure: .operations),
    ]

    public func decode(
        _ request: InboundRequest, route: Route<Endpoint>, catalog: Catalog
    ) throws(GatewayError)
        -> Decoded<Context>
    {
        switch route.endpoint {
        case .balancesRead:
            try rejectUnknownQuery(request, allowed: Self.balancesQuery)
            let product = try knownProduct(request.queryValue("product"), catalog: catalog)
            let location = try knownLocation(request.queryValue("location"), field: "location", catalog: catalog)
            return Decoded(
                commands: [.readBalances(BalanceQuery(products: product.map { [$0] }, location: location))],
                context: Context())
        case .movementsCreate:
            return try decodeMoves(request.jsonBody(), member: "movements", catalog: catalog)
        case .levelsSet:
            return try decodeMoves(request.jsonBody(), member: "levels", catalog: catalog)
        case .movementsFind:
            try rejectUnknownQuery(request, allowed: Self.movementsQuery)
            var query = MovementQuery()
            if let state = request.queryValue("state") {
                guard let known = MovementState(rawValue: state) else {
                    throw GatewayError.invalidValue(
                        "state must be one of \(MovementState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(state)'",
                        field: "state")
                }
                query.state = known
            }
            // A remote backend's journal (its name in the configuration); without it, the
            // movements of the backend this dialect is routed to.
            query.backend = request.queryValue("backend")
            query.requestID = request.queryValue("request")
            query.product = try knownProduct(request.queryValue("product"), catalog: catalog)
            query.location = try knownLocation(request.queryValue("location"), field: "location", catalog: catalog)
            query.afterID = try queryInteger(request, "after", range: 0...Int64.max)
            query.limit = Int(
                try queryInteger(request, "limit", range: 1...Int64(Self.maxLimit)) ?? Int64(Self.defaultLimit))
            query.offset = Int(try queryInteger(request, "offset", range: 0...Int64(Int32.max)) ?? 0)
            return Decoded(commands: [.findMovements(query)], context: Context())
        case .movementsGet:
            return Decoded(commands: [.getMovement(id: try pathID(request))], context: Context())
        case .transfersConfirm:
            return Decoded(commands: [.confirmTransfer(id: try pathID(request))], context: Context())
        case .locationsList:
            return Decoded(commands: [.listLocations], context: Context())
        case .journalSettle:
            let root = try FieldReader(try request.jsonBody(), path: "")
            try root.rejectUnknown(["state"])
            let text = try root.requiredString("state", maxLength: 16)
            guard let state = MovementState(rawValue: text), state == .applied || state == .failed else {
                throw GatewayError.invalidValue("state must be applied or failed, got '\(text)'", field: "state")
            }
            return Decoded(commands: [.settleForwarded(id: try pathID(request), state: state)], context: Context())
        }
    }

    /// A batch of `movements` (each a movement, or a level item naming one `location`), or of
    /// `levels` (level items only).
    func decodeMoves(_ body: JSONValue, member: String, catalog: Catalog) throws(GatewayError) -> Decoded<Context> {
        let root = try FieldReader(body, path: "")
        try root.rejectUnknown([member, "atomic"])
        let items = try root.requiredArray(member)
        guard !items.isEmpty else {
            throw GatewayError.invalidValue("\(member) must hold at least one item", field: member)
        }
        guard items.count <= Self.maxBatchItems else {
            throw GatewayError.invalidValue(
                "\(member) holds \(items.count) items, at most \(Self.maxBatchItems) are allowed", field: member)
        }
        let atomic = try root.bool("atomic") ?? false
        var movements: [Movement] = []
        movements.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            let reader = try FieldReader(item, path: "\(member)[\(index)]")
            if member == "levels" || CanonicalJSON.isLevel(reader) {
                movements.append(try CanonicalJSON.level(reader, catalog: catalog))
            } else {
                movements.append(try CanonicalJSON.movement(reader))
            }
        }
        let batch = MoveBatch(items: movements, atomicity: atomic ? .allOrNothing : .perItem)
        return Decoded(commands: [.move(batch)], context: Context(atomic: atomic))
    }

    public func encode(
        _ outcomes: [Outcome], context: Context, route: Route<Endpoint>, catalog: Catalog
    ) -> CodecResponse {
        guard let outcome = outcomes.first else { return .json(.ok, [:]) }
        switch outcome {
        case .moved(let batch):
            var results: [JSONValue] = []
            results.reserveCapacity(batch.items.count)
            for (index, item) in batch.items.enumerated() {
                switch item {
                case .applied(let movement):
                    results.append([
                        "index": .integer(index), "status": "applied", "movement": CanonicalJSON.json(movement),
                    ])
                case .failed(let error):
                    let member = route.endpoint == .levelsSet ? "levels" : "movements"
                    let named = error.withField(error.field.map { "\(member)[\(index)].\($0)" })
                    results.append([
                        "index": .integer(index), "status": "failed", "error": CanonicalJSON.json(named)["error"]!,
                    ])
                case .notApplied:
                    results.append(["index": .integer(index), "status": "notApplied"])
                case .undone(let movement):
                    results.append([
                        "index": .integer(index), "status": "undone", "movement": CanonicalJSON.json(movement),
                    ])
                }
            }
            let failed = batch.failures.count
            let body: JSONValue = [
                "atomic": .bool(context.atomic), "applied": .integer(batch.appliedCount), "failed": .integer(failed),
                "results": .array(results),
            ]
            // All-or-nothing with a failure changed nothing: say so with the status too.
            return .json(context.atomic && failed > 0 ? .unprocessableContent : .ok, body)
        case .movements(let movements):
            return .json(.ok, ["movements": .array(movements.map(CanonicalJSON.json))])
        case .movement(let movement):
            guard let movement else {
                return encode(
                    GatewayError.notFound("movement does not exist", field: "id"), route: route, context: context)
            }
            return .json(.ok, ["movement": CanonicalJSON.json(movement)])
        case .confirmed(let movement), .updated(let movement):
            return .json(.ok, ["movement": CanonicalJSON.json(movement)])
        case .count(let count):
            return .json(.ok, ["count": .integer(count)])
        case .deleted(let ids):
            return .json(.ok, ["deleted": .array(ids.map(JSONValue.integer))])
        case .balances(let balances):
            return .json(.ok, bytes: CanonicalJSON.balancesBytes(balances))
        case .locations(let locations):
            return .json(.ok, ["locations": .array(locations.map(CanonicalJSON.json))])
        case .tracking(let untracked):
            return .json(.ok, ["untracked": .array(untracked.sorted().map(JSONValue.string))])
        }
    }

    public func encode(_ error: GatewayError, route: Route<Endpoint>, context: Context?) -> CodecResponse {
        .json(error.code.httpStatus, CanonicalJSON.json(error))
    }

    // MARK: Query helpers

    /// The query parameters each read takes (made once, not per request).
    static let balancesQuery: Set<String> = ["product", "location"]
    static let movementsQuery: Set<String> = [
        "product", "location", "after", "limit", "offset", "state", "backend", "request",
    ]

    func rejectUnknownQuery(_ request: InboundRequest, allowed: Set<String>) throws(GatewayError) {
        for item in request.query where !allowed.contains(item.name) {
            throw GatewayError.unknownField(item.name)
        }
    }

    func queryInteger(
        _ request: InboundRequest, _ name: String, range: ClosedRange<Int64>
    ) throws(GatewayError)
        -> Int64?
    {
        guard let text = request.queryValue(name) else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw GatewayError.invalidValue(
                "\(name) must be an integer from \(range.lowerBound)\(range.upperBound == Int64.max ? "" : " to \(range.upperBound)"), got '\(text)'",
                field: name)
        }
        return value
    }

    func knownProduct(_ key: String?, catalog: Catalog) throws(GatewayError) -> String? {
        guard let key else { return nil }
        guard catalog.product(key: key) != nil else {
            throw GatewayError.notFound("product '\(key)' is not in the catalog", field: "product")
        }
        return key
    }

    func knownLocation(_ key: String?, field: String, catalog: Catalog) throws(GatewayError) -> String? {
        guard let key else { return nil }
        guard catalog.location(key: key) != nil else {
            throw GatewayError.notFound("location '\(key)' is not in the catalog", field: field)
        }
        return key
    }

    func pathID(_ request: InboundRequest) throws(GatewayError) -> Int64 {
        let text = request.pathParameters["id"] ?? ""
        guard let id = Int64(text), id >= 1 else {
            throw GatewayError.invalidValue("id must be a positive integer, got '\(text)'", field: "id")
        }
        return id
    }
}
