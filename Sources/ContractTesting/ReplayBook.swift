import Dialects
import Foundation
import Gateway
import HTTPTypes
import Logging
import StockCore
import Synchronization

/// Answers a vendor dialect's requests from contract cases (`stockgate serve --replay DIR`):
/// what the vendor answered when it was recorded (`stockgate record`), or what a hand-written
/// case says it answers. Each step of each case under `DIR/<dialect>/` is one recorded
/// exchange.
///
/// A request is answered by the exchange whose request it matches best: method and path
/// segments, query and JSON body equal, where UUIDs, times, scrubbed credentials and `${…}`
/// references match any value of their kind (an exact match wins over such a loose one).
/// Several exchanges matching equally well are answered in their order, one per request, the
/// last one again once all were used (a read before and after a write). Values of the
/// request that matched loosely (the caller's UUIDs) replace the recorded ones in the answer,
/// so a client finds its own `externalUuid` echoed. A request of a dialect with cases that
/// matches none is refused in the dialect's envelope with 404, naming the closest case and
/// where it differs; dialects without cases are served by the ledger as usual.
public final class ReplayBook: DirectAnswerer {
    struct Exchange: Sendable {
        var name: String
        var request: ContractCase.Request
        var expected: ContractCase.Expected
        /// The recorded body with its values loosened (`Recording.loosened`).
        var loose: JSONValue?
    }

    /// By dialect; replaced whole when the directory is read again (`reload`).
    let loaded: Mutex<[String: [Exchange]]>
    var exchanges: [String: [Exchange]] { loaded.withLock { $0 } }
    let served = Mutex<Set<String>>([])
    let logger: Logger
    let directory: String

    /// Loads every case under `directory` (`<dialect>/<case>.json`).
    public init(directory: String, logger: Logger = Logger(label: "stockgate.replay")) throws {
        self.directory = directory
        self.logger = logger
        loaded = Mutex(try Self.read(directory))
    }

    /// Reads the directory again (a case was recorded into it).
    public func reload() throws {
        let fresh = try Self.read(directory)
        loaded.withLock { $0 = fresh }
    }

    static func read(_ directory: String) throws -> [String: [Exchange]] {
        let cases = try ContractCase.load(directory: directory)
        var exchanges: [String: [Exchange]] = [:]
        for contract in cases {
            for (index, step) in contract.steps.enumerated() {
                let name = contract.steps.count > 1 ? "\(contract.name) step \(index + 1)" : contract.name
                exchanges[contract.dialect, default: []].append(
                    Exchange(
                        name: name, request: step.request, expected: step.expected,
                        loose: step.request.bodyJSON.map(Recording.loosened)))
            }
        }
        return exchanges
    }

    /// Every exchange is unused again: repeats are answered from the first one on.
    public func resetPositions() {
        served.withLock { $0.removeAll() }
    }

    /// The dialects answered from cases.
    public var dialects: [String] { exchanges.keys.sorted() }
    /// How many exchanges were loaded.
    public var count: Int { exchanges.values.reduce(0) { $0 + $1.count } }

    /// Where requests are matched: off the event loop that calls in. Matching runs the cases'
    /// `$pattern`s, and a slow one (catastrophic backtracking) would stall every connection of
    /// that loop (issue 29, finding 7); here it holds one thread of its own.
    static let matching = DispatchQueue(label: "stockgate.replay-matching", attributes: .concurrent)

    public func answer(_ request: DirectRequest) async -> DirectAnswer {
        guard exchanges[request.dialect.rawValue] != nil else { return .pass }
        let matched = await withCheckedContinuation { (continuation: CheckedContinuation<Match, Never>) in
            Self.matching.async { continuation.resume(returning: self.match(request)) }
        }
        switch matched {
        case .found(let exchange, let echoes):
            logger.debug("replayed", metadata: ["case": "\(exchange.name)"])
            return .answer(Self.response(exchange.expected, echoes: echoes))
        case .missed(let why):
            logger.notice(
                "no recorded answer", metadata: ["dialect": "\(request.dialect)", "path": "\(request.path)"])
            return .refuse(GatewayError(code: .notFound, message: why))
        }
    }

    enum Match: Sendable {
        case found(Exchange, echoes: [String: JSONValue])
        case missed(String)
    }

    /// The exchange answering `request`, marked used, with the caller's values that stand for
    /// recorded ones.
    func match(_ request: DirectRequest) -> Match {
        let candidates = exchanges[request.dialect.rawValue] ?? []
        let query = QueryString.parse(request.query)
        let body = request.body.isEmpty ? nil : try? JSONParser.parse(request.body)
        var best: [(exchange: Exchange, echoes: [String: JSONValue])] = []
        var bestScore = -1
        var closest: (name: String, why: String, score: Int)?
        for exchange in candidates where exchange.request.method.uppercased() == request.method.uppercased() {
            var echoes: [String: JSONValue] = [:]
            var score = 0
            guard
                let pathScore = Self.compare(
                    path: exchange.request.path, request.path, echoes: &echoes)
            else { continue }
            score += pathScore
            switch Self.compare(query: exchange.request.query, query, echoes: &echoes) {
            case .failure(let why):
                if closest == nil || closest!.score < score { closest = (exchange.name, why, score) }
                continue
            case .success(let points):
                score += points
            }
            switch Self.compare(exchange, body: body, raw: request.body, echoes: &echoes) {
            case .failure(let why):
                if closest == nil || closest!.score < score { closest = (exchange.name, why, score) }
                continue
            case .success(let points):
                score += points
            }
            if score > bestScore {
                bestScore = score
                best = [(exchange, echoes)]
            } else if score == bestScore {
                best.append((exchange, echoes))
            }
        }
        guard !best.isEmpty else {
            let what = "no recorded answer for \(request.method) \(request.path)"
            return .missed(closest.map { "\(what): closest is \($0.name), which differs at \($0.why)" } ?? what)
        }
        let chosen = served.withLock { used in
            let pick = best.first { !used.contains($0.exchange.name) } ?? best[best.count - 1]
            used.insert(pick.exchange.name)
            return pick
        }
        return .found(chosen.exchange, echoes: chosen.echoes)
    }

    enum Comparison {
        case success(Int)
        case failure(String)
    }

    /// Points for each equal segment; nil when the paths differ beyond identifiers.
    static func compare(path recorded: String, _ actual: String, echoes: inout [String: JSONValue]) -> Int? {
        let want = recorded.split(separator: "/", omittingEmptySubsequences: false)
        let have = actual.split(separator: "/", omittingEmptySubsequences: false)
        guard want.count == have.count else { return nil }
        var score = 0
        for (a, b) in zip(want, have) {
            if a == b {
                score += 1
            } else if a.contains("${") {
                continue
            } else if let echo = looseEcho(String(a), String(b)) {
                echoes[String(a)] = echo
            } else {
                return nil
            }
        }
        return score
    }

    /// The caller's value standing for a recorded one of the same kind (UUID, number, time).
    static func looseEcho(_ recorded: String, _ actual: String) -> JSONValue? {
        if Recording.isUUID(recorded) && Recording.isUUID(actual) { return .string(actual) }
        if !recorded.isEmpty, !actual.isEmpty, recorded.allSatisfy(\.isNumber), actual.allSatisfy(\.isNumber) {
            return .string(actual)
        }
        if let format = Recording.timestampFormat(recorded), Recording.timestampFormat(actual) == format {
            return .string(actual)
        }
        return nil
    }

    static func compare(
        query recorded: [(name: String, value: String)], _ actual: [(name: String, value: String)],
        echoes: inout [String: JSONValue]
    ) -> Comparison {
        var score = 0
        var left = actual
        for (name, value) in recorded {
            guard let index = left.firstIndex(where: { $0.name == name }) else {
                return .failure("query: '\(name)' missing")
            }
            let given = left.remove(at: index).value
            if given == value {
                score += 1
            } else if value == Recording.scrubbed || value.contains("${") {
                continue
            } else if let echo = looseEcho(value, given) {
                echoes[value] = echo
            } else {
                return .failure("query: \(name) is '\(given)', recorded '\(value)'")
            }
        }
        if let extra = left.first { return .failure("query: '\(extra.name)' not recorded") }
        return .success(score)
    }

    static func compare(
        _ exchange: Exchange, body: JSONValue?, raw: [UInt8], echoes: inout [String: JSONValue]
    ) -> Comparison {
        guard let recorded = exchange.request.bodyJSON, let loose = exchange.loose else {
            let want = exchange.request.body ?? []
            return want == raw ? .success(1) : .failure("body: not the recorded text")
        }
        guard let body else { return .failure("body: not JSON, recorded a JSON body") }
        if JSONMatcher.mismatches(expected: recorded, actual: body, subset: false).isEmpty { return .success(10) }
        if let why = JSONMatcher.mismatch(expected: loose, actual: body, subset: false) {
            return .failure("body \(why)")
        }
        collectEchoes(recorded, body, into: &echoes)
        return .success(0)
    }

    /// Pairs each recorded UUID or time with the caller's value at the same place.
    static func collectEchoes(_ recorded: JSONValue, _ actual: JSONValue, into echoes: inout [String: JSONValue]) {
        switch (recorded, actual) {
        case (.object(let want), .object(let have)):
            for member in want.members {
                if let value = have[member.key] { collectEchoes(member.value, value, into: &echoes) }
            }
        case (.array(let want), .array(let have)):
            for (a, b) in zip(want, have) { collectEchoes(a, b, into: &echoes) }
        case (.string(let a), .string(let b)) where a != b:
            if let echo = looseEcho(a, b) { echoes[a] = echo }
        default:
            break
        }
    }

    // MARK: The answer

    /// The answer a step describes: its example as recorded, or else a value made for each
    /// matcher of its body; the caller's values put in for the recorded ones.
    static func response(_ expected: ContractCase.Expected, echoes: [String: JSONValue]) -> CodecResponse {
        var headers = HTTPFields()
        var body: [UInt8] = []
        if let example = expected.example {
            for member in example["headers"]?.objectValue?.members ?? [] {
                if let name = HTTPField.Name(member.key), let value = member.value.stringValue {
                    headers[name] = value
                }
            }
            if let json = example["body"] { body = JSONWriter.bytes(substitute(json, echoes)) }
        }
        if expected.example?["body"] == nil {
            if let json = expected.body {
                body = JSONWriter.bytes(substitute(made(json) ?? .null, echoes))
            } else if let text = expected.bodyText {
                body = Array(text.utf8)
            }
        }
        for (name, value) in expected.headers {
            guard let field = HTTPField.Name(name), headers[field] == nil else { continue }
            if let text = value.stringValue {
                headers[field] = text
            } else if name.lowercased() == "retry-after" {
                headers[field] = "1"
            }
        }
        if headers[.contentType] == nil && (expected.body != nil || expected.example?["body"] != nil) {
            headers[.contentType] = "application/json"
        }
        let status = HTTPResponse.Status(code: expected.status)
        return CodecResponse(status: status, headers: headers, body: body)
    }

    static func substitute(_ value: JSONValue, _ echoes: [String: JSONValue]) -> JSONValue {
        guard !echoes.isEmpty else { return value }
        switch value {
        case .object(var object):
            for index in object.members.indices {
                object.members[index].value = substitute(object.members[index].value, echoes)
            }
            return .object(object)
        case .array(let items):
            return .array(items.map { substitute($0, echoes) })
        case .string(let text):
            return echoes[text] ?? value
        default:
            return value
        }
    }

    /// A value satisfying `expected`'s matchers (nil for `$absent`: the member is left out).
    static func made(_ expected: JSONValue) -> JSONValue? {
        if case .object(let object) = expected, object.members.count == 1, let key = object.members.first?.key,
            key.hasPrefix("$")
        {
            let argument = object.members[0].value
            switch key {
            case "$absent": return nil
            case "$uuid": return .string(UUID().uuidString.lowercased())
            case "$timestamp":
                let now = Date()
                switch argument.stringValue ?? "iso8601" {
                case "http": return .string(Timestamp.imfFixdate(now))
                case "epoch-seconds": return .number(String(Int(now.timeIntervalSince1970)))
                case "epoch-millis": return .number(String(Int(now.timeIntervalSince1970 * 1000)))
                default: return .string(Timestamp.iso8601(now))
                }
            case "$type":
                switch argument.stringValue {
                case "string": return "x"
                case "integer", "number": return 1
                case "boolean": return true
                case "array": return []
                case "object": return .object(JSONObject())
                default: return .null
                }
            case "$decimal": return .number("0")
            case "$each": return .array(made(argument).map { [$0] } ?? [])
            case "$contains", "$unordered": return .array((argument.arrayValue ?? []).compactMap(made))
            case "$pattern": return .string("")
            default: return 1  // $any, $capture: a value a later step can refer to
            }
        }
        switch expected {
        case .object(var object):
            object.members = object.members.compactMap { member in made(member.value).map { .init(member.key, $0) } }
            return .object(object)
        case .array(let items):
            return .array(items.compactMap(made))
        default:
            return expected
        }
    }
}
