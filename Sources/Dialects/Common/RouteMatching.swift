import HTTPTypes

/// A route's path: literal segments and `{name}` parameters. A trailing slash and empty
/// segments are ignored when matching (real clients send `organizations/self/locations/`,
/// SwagPayPal PosRequestUri.php); a parameter's value is percent-decoded (`+` stays a `+` in
/// a path).
public struct RouteTemplate: Sendable, Hashable {
    public enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
    }

    public let segments: [Segment]
    /// Literal segments: where two templates fit a path, the one with more literals wins
    /// (`/stocklocations/create-transfers` over `/stocklocations/{stockLocationID}`).
    public let literals: Int

    public init(_ path: String) {
        segments = path.split(separator: "/").map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}")
                ? .parameter(String(segment.dropFirst().dropLast())) : .literal(String(segment))
        }
        literals = segments.count { if case .literal = $0 { true } else { false } }
    }

    /// The parameters when `path` (split into its non-empty segments) fits.
    public func match(_ path: [Substring]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        // Literals first: most templates of the right length fail on one, before any
        // parameter is copied.
        for (segment, actual) in zip(segments, path) {
            if case .literal(let text) = segment, actual != text { return nil }
        }
        guard literals < segments.count else { return [:] }
        var parameters: [String: String] = [:]
        for (segment, actual) in zip(segments, path) {
            if case .parameter(let name) = segment { parameters[name] = QueryString.decode(actual, plusAsSpace: false) }
        }
        return parameters
    }
}

/// The one rule by which a method and a path find their route — the server's route table,
/// `translate`, the loss probe and the OpenAPI generator all use it:
///
/// - a route fits when its template fits the path's non-empty segments and it serves the
///   method (a route without a method serves any; `HEAD` is served wherever `GET` is);
/// - of the routes that fit, the one with the most literal segments wins, then the first given;
/// - a path that fits only with other methods is `otherMethods`, with every method it fits
///   with (405 with `Allow`).
public struct RouteMatcher: Sendable {
    public enum Match: Sendable, Equatable {
        /// The index of the route (in the order given) and the path's parameters.
        case route(Int, parameters: [String: String])
        /// The path exists with these methods only; `first` is the first route with the path.
        case otherMethods([HTTPRequest.Method], first: Int)
        case none
    }

    public struct Entry: Sendable {
        public var template: RouteTemplate
        /// nil: any method.
        public var methods: [HTTPRequest.Method]?

        public init(_ template: RouteTemplate, methods: [HTTPRequest.Method]?) {
            self.template = template
            self.methods = methods
        }
    }

    /// Entries by segment count, so a lookup compares only templates of the right length.
    private let bySegments: [Int: [(entry: Entry, index: Int)]]
    /// The templates without parameters, by their path as a client writes it (`/a/b`), each
    /// path's entries in the order given. Such a template has the most literals its length
    /// allows, so a path equal to one goes to the first of them that serves the method: the
    /// rule's own answer, found with one hash instead of the split and the comparisons
    /// (~3,000 instructions of a read).
    private let byLiteralPath: [Substring: [(entry: Entry, index: Int)]]

    public init(_ entries: [Entry]) {
        var bySegments: [Int: [(entry: Entry, index: Int)]] = [:]
        var byLiteralPath: [Substring: [(entry: Entry, index: Int)]] = [:]
        for (index, entry) in entries.enumerated() {
            let template = entry.template
            bySegments[template.segments.count, default: []].append((entry, index))
            if template.literals == template.segments.count {
                let path =
                    "/"
                    + template.segments.map { if case .literal(let text) = $0 { text } else { "" } }
                    .joined(separator: "/")
                byLiteralPath[path[...], default: []].append((entry, index))
            }
        }
        self.bySegments = bySegments
        self.byLiteralPath = byLiteralPath
    }

    /// Where `method` and `path` (without its query) lead.
    public func match(method: HTTPRequest.Method, path: Substring) -> Match {
        if let exact = byLiteralPath[path], let hit = exact.first(where: { Self.serves($0.entry.methods, method) }) {
            return .route(hit.index, parameters: [:])
        }
        return matchBySegments(method: method, path: path)
    }

    /// The rule itself, over the path's segments: what `match` answers when the path is not
    /// exactly a template without parameters that serves the method.
    package func matchBySegments(method: HTTPRequest.Method, path: Substring) -> Match {
        let segments = Self.segments(path)
        guard let candidates = bySegments[segments.count] else { return .none }
        var best: (index: Int, literals: Int, parameters: [String: String])?
        for candidate in candidates {
            if let current = best, current.literals >= candidate.entry.template.literals { continue }
            guard Self.serves(candidate.entry.methods, method),
                let parameters = candidate.entry.template.match(segments)
            else { continue }
            best = (candidate.index, candidate.entry.template.literals, parameters)
        }
        if let best { return .route(best.index, parameters: best.parameters) }
        return otherMethods(segments, candidates)
    }

    static func serves(_ methods: [HTTPRequest.Method]?, _ method: HTTPRequest.Method) -> Bool {
        guard let methods else { return true }
        return methods.contains(method) || (method == .head && methods.contains(.get))
    }

    /// The miss path only: the methods other routes serve this path with, if any.
    private func otherMethods(_ segments: [Substring], _ candidates: [(entry: Entry, index: Int)]) -> Match {
        var allowed: [HTTPRequest.Method] = []
        var first: Int?
        for candidate in candidates where candidate.entry.template.match(segments) != nil {
            guard let methods = candidate.entry.methods else { continue }
            allowed += methods.filter { !allowed.contains($0) }
            first = first ?? candidate.index
        }
        guard let first else { return .none }
        if allowed.contains(.get) && !allowed.contains(.head) { allowed.append(.head) }
        return .otherMethods(allowed, first: first)
    }

    /// `path`'s non-empty segments, split on the bytes (a `Character` walk cost more than the
    /// whole lookup).
    public static func segments(_ path: Substring) -> [Substring] {
        var segments: [Substring] = []
        segments.reserveCapacity(8)
        let utf8 = path.utf8
        // Cut where the contiguous bytes say (stepping the UTF-8 view's indices one by one
        // cost ~1,800 instructions for a three-segment path); `/` is ASCII, so every cut is
        // on a character boundary.
        let cut: Void? = utf8.withContiguousStorageIfAvailable { bytes in
            var start = 0
            for index in 0...bytes.count where index == bytes.count || bytes[index] == UInt8(ascii: "/") {
                if start != index {
                    segments.append(
                        path[
                            utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: index)]
                    )
                }
                start = index + 1
            }
        }
        if cut != nil { return segments }
        var start = utf8.startIndex
        var index = start
        while index != utf8.endIndex {
            if utf8[index] == UInt8(ascii: "/") {
                if start != index { segments.append(path[start..<index]) }
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        if start != utf8.endIndex { segments.append(path[start..<utf8.endIndex]) }
        return segments
    }

    /// The request target without its query.
    public static func withoutQuery(_ target: String) -> Substring {
        guard let mark = target.firstIndex(ofASCII: UInt8(ascii: "?")) else { return target[...] }
        return target[..<mark]
    }
}

extension InboundCodec {
    /// The route `method` and `path` (without its query) reach, by the server's own rule
    /// (`RouteMatcher`), with the path's parameters.
    public func route(
        method: HTTPRequest.Method, path: String
    ) -> (route: Route<Endpoint>, parameters: [String: String])? {
        let routes = self.routes
        let matcher = RouteMatcher(routes.map { .init(RouteTemplate($0.path), methods: $0.method.map { [$0] }) })
        guard case .route(let index, let parameters) = matcher.match(method: method, path: path[...]) else {
            return nil
        }
        return (routes[index], parameters)
    }
}

extension String {
    /// Where the first `byte` (an ASCII byte, so on a character boundary) is, found over the
    /// contiguous bytes when the string has them.
    public func firstIndex(ofASCII byte: UInt8) -> String.Index? {
        let utf8 = self.utf8
        if let offset = utf8.withContiguousStorageIfAvailable({ $0.firstIndex(of: byte) }) {
            return offset.map { utf8.index(utf8.startIndex, offsetBy: $0) }
        }
        return utf8.firstIndex(of: byte)
    }
}
