import Dialects
import Foundation
import StockCore
import Synchronization

/// A fault a StockGate standing in for a vendor plays on demand (issue 16): scheduled through
/// `POST /stockgate/v1/test/faults` when `serve --enable-faults` is on, or by a contract case's
/// `fault` key. Each fault is answered in the dialect's own shape: the vendor's error envelope,
/// its status codes, its `Retry-After`.
///
/// A fault hits requests to the dialects' routes (not `/healthz`, `/metrics` or the admin
/// endpoints) that it `matches`; `skip` lets that many matching requests through first,
/// `times` is how many it then hits (nil: every one until removed), `probability` makes it hit
/// only some. When several match, the one scheduled first is played, once per request.
public struct Fault: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The request waits `delay`, then is served as usual.
        case latency
        /// No answer: the connection stays open (closed after `delay` when given) until the
        /// client gives up. With `afterApply`, the request is carried out first.
        case hang
        /// The connection is reset (TCP RST) instead of answered; with `afterApply` after the
        /// request was carried out.
        case reset
        /// The request is carried out and the answer's head (with its full `Content-Length`)
        /// and half its body are written, then the connection closes.
        case truncate
        /// 429 in the dialect's envelope with `Retry-After: retryAfter`; nothing carried out.
        case rateLimit = "rate-limit"
        /// 503 in the dialect's envelope with `Retry-After: retryAfter`; nothing carried out.
        case unavailable
        /// The vendor's own refusal of the request (Open2b HTTP 200 `status: error`, StoreFeeder
        /// per-item failures, Zettle `violations`, Colleqtive `success: false`): every movement
        /// of a write fails with `code` on `field`; a read fails with `code`. Nothing applied.
        case error
        /// The first `applied` movements of a write are applied, then the request fails with
        /// `code` (500 by default), as a vendor that failed midway.
        case partial
        /// The request is carried out and its answer written slowly: the head (with the full
        /// `Content-Length`), then the body `chunkBytes` at a time, one piece every `dribble_ms`
        /// — a slow network or an overloaded vendor, for a client's read timeouts.
        case dribble
    }

    /// How long a `latency` fault waits, or a `hang` holds the connection.
    public enum Delay: Sendable, Equatable {
        case fixed(milliseconds: Int)
        /// Uniformly between the two.
        case uniform(min: Int, max: Int)
        /// Normally distributed, never below zero.
        case normal(mean: Int, deviation: Int)

        func sample<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
            let milliseconds: Double
            switch self {
            case .fixed(let value):
                milliseconds = Double(value)
            case .uniform(let low, let high):
                milliseconds = Double(Int.random(in: low...high, using: &generator))
            case .normal(let mean, let deviation):
                // Box–Muller.
                let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
                let u2 = Double.random(in: 0..<1, using: &generator)
                let z = (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
                milliseconds = max(0, Double(mean) + z * Double(deviation))
            }
            return .microseconds(Int64(milliseconds * 1000))
        }

        var json: JSONValue {
            switch self {
            case .fixed(let value): .integer(value)
            case .uniform(let low, let high): ["min": .integer(low), "max": .integer(high)]
            case .normal(let mean, let deviation): ["mean": .integer(mean), "deviation": .integer(deviation)]
            }
        }
    }

    /// Which requests it hits; a nil member matches anything.
    public struct Match: Sendable, Equatable {
        /// The dialect of the route (`zettle`, `open2b-v6`, …).
        public var dialect: DialectID?
        /// The route's name, as in metrics and logs (`commerce.movements.create`, `inventory.move`…).
        public var route: String?
        public var method: String?
        /// A path prefix (`/organizations/self/inventory`).
        public var path: String?
        /// The name of the backend the dialect is routed to (`embedded` for the ledger).
        public var backend: String?

        public init(
            dialect: DialectID? = nil, route: String? = nil, method: String? = nil, path: String? = nil,
            backend: String? = nil
        ) {
            self.dialect = dialect
            self.route = route
            self.method = method
            self.path = path
            self.backend = backend
        }

        func matches(_ request: Request) -> Bool {
            (dialect == nil || dialect == request.dialect) && (route == nil || route == request.route)
                && (method == nil || method?.uppercased() == request.method)
                && (path.map { request.path.hasPrefix($0) } ?? true)
                && (backend == nil || backend == request.backend)
        }
    }

    /// What a request is matched on.
    public struct Request: Sendable {
        public var dialect: DialectID
        public var route: String
        public var method: String
        public var path: String
        public var backend: String

        public init(dialect: DialectID, route: String, method: String, path: String, backend: String) {
            self.dialect = dialect
            self.route = route
            self.method = method
            self.path = path
            self.backend = backend
        }
    }

    public var id: Int = 0
    public var kind: Kind
    public var match: Match
    public var delay: Delay?
    /// Seconds, for `rate-limit` and `unavailable`.
    public var retryAfter: Int = 1
    public var afterApply: Bool = false
    /// Movements applied before a `partial` fault fails.
    public var applied: Int = 1
    /// A `dribble` fault's pieces: bytes each, and milliseconds between them.
    public var chunkBytes: Int = 16
    public var dribbleInterval: Int = 200
    /// The refusal of an `error` or `partial` fault.
    public var code: GatewayError.Code
    /// The canonical field an `error` names (`product`, `from`, `to`, `quantity`), said in the
    /// dialect's own words.
    public var field: String?
    public var message: String
    public var skip: Int = 0
    public var times: Int? = 1
    public var probability: Double = 1
    /// Matching requests seen and hit so far.
    public var seen: Int = 0
    public var fired: Int = 0

    public init(kind: Kind, match: Match = Match()) {
        self.kind = kind
        self.match = match
        switch kind {
        case .partial:
            code = .internal
            message = "failed after applying part of the request (a scheduled fault)"
        default:
            code = .invalidValue
            message = "refused by a scheduled fault"
        }
        if kind == .error { field = "quantity" }
    }

    /// The error an `error` or `partial` fault answers with.
    public var refusal: GatewayError { GatewayError(code: code, message: message, field: field) }

    /// Whether it is used up.
    var spent: Bool { times.map { fired >= $0 } ?? false }
}

// MARK: JSON

extension Fault {
    static let members: Set<String> = [
        "kind", "match", "latency_ms", "hang_ms", "retry_after", "after_apply", "applied", "code", "field",
        "message", "skip", "times", "probability", "chunk_bytes", "dribble_ms",
    ]
    static let matchMembers: Set<String> = ["dialect", "route", "method", "path", "backend"]

    /// Reads a fault as `POST /stockgate/v1/test/faults` and a contract case's `fault` take it;
    /// the error names the member at fault (`fault.latency_ms`, `fault.match.dialect`…).
    public static func parse(_ value: JSONValue, at prefix: String = "fault") throws(GatewayError) -> Fault {
        guard value.objectValue != nil else {
            throw GatewayError.malformed("a fault is a JSON object", field: prefix.isEmpty ? nil : prefix)
        }
        do throws(TreeProblem) {
            let object = try TreeObject(value, at: prefix, known: members)
            guard let kindText = try object.string("kind") else { throw object.problem("kind", "", .missing) }
            guard let kind = Kind(rawValue: kindText) else {
                let kinds = Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw object.problem("kind", "unknown fault kind '\(kindText)'; one of: \(kinds)")
            }
            var fault = Fault(kind: kind, match: try parseMatch(object))
            try readTiming(object, into: &fault)
            try readRefusal(object, into: &fault)
            if let skip = try object.integer("skip", in: 0...1_000_000) { fault.skip = skip }
            if let times = object["times"] {
                fault.times = times.isNull ? nil : try object.integer("times", in: 1...1_000_000)
            }
            if let probability = try object.number("probability", in: 0...1) { fault.probability = probability }
            return fault
        } catch {
            throw error.gatewayError
        }
    }

    /// `match`: which requests the fault plays on.
    static func parseMatch(_ object: TreeObject<JSONValue>) throws(TreeProblem) -> Match {
        var match = Match()
        guard let members = try object.object("match", known: matchMembers) else { return match }
        for key in members.keys {
            let text = try members.string(key, nonEmpty: true) ?? ""
            switch key {
            case "dialect":
                guard DialectRegistry.dialect(named: text) != nil else {
                    let known = DialectRegistry.names.joined(separator: ", ")
                    throw members.problem(key, "unknown dialect '\(text)'; one of: \(known)")
                }
                match.dialect = DialectID(text)
            case "route": match.route = text
            case "method": match.method = text.uppercased()
            case "path": match.path = text
            default: match.backend = text
            }
        }
        return match
    }

    /// `latency_ms`, `hang_ms` (each for its kind only), `retry_after`, `after_apply`, `applied`.
    static func readTiming(_ object: TreeObject<JSONValue>, into fault: inout Fault) throws(TreeProblem) {
        switch fault.kind {
        case .latency: fault.delay = try object.required("latency_ms", try delay(object, "latency_ms"))
        case .hang: fault.delay = try delay(object, "hang_ms")
        default:
            for name in ["latency_ms", "hang_ms"] where object[name] != nil {
                throw object.problem(name, "only for a \(name == "latency_ms" ? "latency" : "hang") fault")
            }
        }
        if let seconds = try object.integer("retry_after", in: 0...86_400) { fault.retryAfter = seconds }
        if let afterApply = try object.bool("after_apply") {
            guard fault.kind == .hang || fault.kind == .reset || !afterApply else {
                throw object.problem("after_apply", "only for hang and reset faults")
            }
            fault.afterApply = afterApply
        }
        if let count = try object.integer("applied", in: 0...100_000) { fault.applied = count }
        for name in ["chunk_bytes", "dribble_ms"] where object[name] != nil && fault.kind != .dribble {
            throw object.problem(name, "only for a dribble fault")
        }
        if let bytes = try object.integer("chunk_bytes", in: 1...65_536) { fault.chunkBytes = bytes }
        if let interval = try object.integer("dribble_ms", in: 1...60_000) { fault.dribbleInterval = interval }
    }

    /// A delay in milliseconds: fixed, `{"min", "max"}` or `{"mean", "deviation"}`.
    static func delay(_ object: TreeObject<JSONValue>, _ name: String) throws(TreeProblem) -> Delay? {
        guard let member = object[name] else { return nil }
        let limit = 0...600_000
        if member.numberText != nil { return try object.integer(name, in: limit).map { .fixed(milliseconds: $0) } }
        guard member.objectValue != nil else {
            throw object.problem(name, "milliseconds, {\"min\", \"max\"} or {\"mean\", \"deviation\"}")
        }
        let shape = try TreeObject(member, at: object.name(name), known: ["min", "max", "mean", "deviation"])
        if let low = try shape.integer("min", in: limit), let high = try shape.integer("max", in: limit) {
            guard low <= high else { throw shape.problem("min", "min must not exceed max") }
            return .uniform(min: low, max: high)
        }
        if let mean = try shape.integer("mean", in: limit), let deviation = try shape.integer("deviation", in: limit) {
            return .normal(mean: mean, deviation: deviation)
        }
        throw object.problem(name, "give min and max, or mean and deviation")
    }

    /// `code`, `field`, `message`: the refusal an `error` fault answers with.
    static func readRefusal(_ object: TreeObject<JSONValue>, into fault: inout Fault) throws(TreeProblem) {
        if let codeText = try object.string("code") {
            guard let code = GatewayError.Code(name: codeText) else {
                throw object.problem("code", "unknown error code '\(codeText)'")
            }
            fault.code = code
        }
        if let field = object["field"] {
            guard field.isNull || field.stringValue != nil else {
                throw object.problem("field", "must be a string or null")
            }
            fault.field = field.stringValue
        }
        if let message = try object.string("message", nonEmpty: true) { fault.message = message }
    }

    /// As `GET /stockgate/v1/test/faults` lists it.
    public var json: JSONValue {
        var match: [JSONObject.Member] = []
        if let dialect = self.match.dialect { match.append(.init("dialect", .string(dialect.rawValue))) }
        if let route = self.match.route { match.append(.init("route", .string(route))) }
        if let method = self.match.method { match.append(.init("method", .string(method))) }
        if let path = self.match.path { match.append(.init("path", .string(path))) }
        if let backend = self.match.backend { match.append(.init("backend", .string(backend))) }
        var members: [JSONObject.Member] = [
            .init("id", .integer(id)), .init("kind", .string(kind.rawValue)),
            .init("match", .object(JSONObject(match))),
        ]
        switch kind {
        case .latency: if let delay { members.append(.init("latency_ms", delay.json)) }
        case .hang: if let delay { members.append(.init("hang_ms", delay.json)) }
        case .rateLimit, .unavailable: members.append(.init("retry_after", .integer(retryAfter)))
        case .error:
            members.append(.init("code", .string(code.description)))
            members.append(.init("field", .optional(field)))
            members.append(.init("message", .string(message)))
        case .partial:
            members.append(.init("applied", .integer(applied)))
            members.append(.init("code", .string(code.description)))
            members.append(.init("message", .string(message)))
        case .dribble:
            members.append(.init("chunk_bytes", .integer(chunkBytes)))
            members.append(.init("dribble_ms", .integer(dribbleInterval)))
        case .truncate, .reset: break
        }
        if kind == .hang || kind == .reset { members.append(.init("after_apply", .bool(afterApply))) }
        members.append(.init("skip", .integer(skip)))
        members.append(.init("times", times.map { .integer($0) } ?? .null))
        members.append(.init("probability", .number(String(probability))))
        members.append(.init("seen", .integer(seen)))
        members.append(.init("fired", .integer(fired)))
        return .object(JSONObject(members))
    }
}

// MARK: The schedule

/// The faults scheduled on one server, in the order they were scheduled. Kept in memory only:
/// a restart forgets them (a test tool, never on in production). Survives a SIGHUP reload.
public final class FaultSchedule: Sendable {
    private struct State {
        var faults: [Fault] = []
        var nextID = 1
    }

    private let state = Mutex(State())

    public init() {}

    /// Schedules faults; returns them with their ids.
    @discardableResult
    public func add(_ faults: [Fault]) -> [Fault] {
        state.withLock { state in
            faults.map { fault in
                var fault = fault
                fault.id = state.nextID
                state.nextID += 1
                state.faults.append(fault)
                return fault
            }
        }
    }

    public var faults: [Fault] { state.withLock { $0.faults } }

    /// Removes one fault (by id) or, with nil, every fault; how many were removed.
    @discardableResult
    public func remove(id: Int? = nil) -> Int {
        state.withLock { state in
            let before = state.faults.count
            if let id { state.faults.removeAll { $0.id == id } } else { state.faults.removeAll() }
            return before - state.faults.count
        }
    }

    /// The fault to play on `request`, if any: counted as seen by every fault it matches up to
    /// the one that fires. A spent fault stays listed (with its counts) until removed.
    public func take(_ request: Fault.Request) -> Fault? {
        var generator = SystemRandomNumberGenerator()
        return state.withLock { state -> Fault? in
            for index in state.faults.indices where !state.faults[index].spent {
                guard state.faults[index].match.matches(request) else { continue }
                state.faults[index].seen += 1
                guard state.faults[index].seen > state.faults[index].skip else { continue }
                let probability = state.faults[index].probability
                guard probability >= 1 || Double.random(in: 0..<1, using: &generator) < probability else { continue }
                state.faults[index].fired += 1
                return state.faults[index]
            }
            return nil
        }
    }

    /// A delay sampled for `fault` (latency, hang).
    public static func sample(_ delay: Fault.Delay) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay.sample(using: &generator)
    }
}
