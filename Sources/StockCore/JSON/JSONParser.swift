/// Why a body is not acceptable JSON: a message for the caller and the byte offset.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var offset: Int
    /// The document holds more values than the parser was allowed to build (a size limit,
    /// not a syntax error).
    public var tooManyValues = false

    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// Strict where a gateway must be: invalid UTF-8, control characters in strings, lone
/// surrogates, duplicate object keys, `NaN` / `Infinity`, leading zeros, trailing garbage
/// and nesting deeper than `maxDepth` are all refused. Numbers are kept as their text.
public struct JSONParser {
    public static let defaultMaxDepth = 64
    /// Values one document may hold. Each parsed value costs memory whatever its size in the
    /// text (`{}` is two bytes), so the count, not only the body size, bounds what a request
    /// can make the gateway allocate. 1000 movements of any dialect hold far fewer.
    public static let defaultMaxValues = 100_000

    /// The body being parsed: valid only inside `parse`. Every read is preceded by a check
    /// against `bytes.count`, so no read goes past the end.
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private let maxDepth: Int
    private var valuesLeft: Int

    /// Parses one JSON document.
    /// - Parameters:
    ///   - bytes: the UTF-8 body.
    ///   - maxDepth: arrays and objects nested deeper than this are refused.
    ///   - maxValues: a document holding more values than this is refused (`tooManyValues`).
    public static func parse(
        _ bytes: [UInt8], maxDepth: Int = defaultMaxDepth, maxValues: Int = defaultMaxValues
    )
        throws(JSONParseError) -> JSONValue
    {
        try parse(bytes, keeping: .whole, maxDepth: maxDepth, maxValues: maxValues)
    }

    /// Parses one document as strictly as `parse(_:maxDepth:maxValues:)` — it accepts and refuses
    /// the same documents — and builds only the parts `shape` names: every other member is
    /// checked and skipped without being built (no strings, arrays or objects made for it).
    /// For a reader that uses a few fields of a large answer.
    public static func parse(
        _ bytes: [UInt8], keeping shape: JSONShape, maxDepth: Int = defaultMaxDepth,
        maxValues: Int = defaultMaxValues
    )
        throws(JSONParseError) -> JSONValue
    {
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<JSONValue, JSONParseError> in
            var parser = JSONParser(bytes: buffer, maxDepth: maxDepth, maxValues: maxValues)
            do throws(JSONParseError) {
                return .success(try parser.parseDocument(shape))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, maxValues: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.valuesLeft = maxValues
    }

    private mutating func parseDocument(_ shape: JSONShape) throws(JSONParseError) -> JSONValue {
        // A UTF-8 byte order mark is tolerated, as many .NET clients send one.
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
        skipWhitespace()
        guard index < bytes.count else { throw fail("empty body, expected a JSON value") }
        let value = try parseValue(depth: 0, shape: shape)
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the JSON value") }
        return value
    }

    private func fail(_ message: String) -> JSONParseError {
        JSONParseError(message: message, offset: index)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        try countValue()
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw fail("NaN and Infinity are not JSON numbers")
        default:
            throw fail("unexpected character '\(Self.printable(bytes[index]))'")
        }
    }

    /// The value at `index` built to `shape`: an object or array the shape looks into is built
    /// in part, anything else whole.
    private mutating func parseValue(depth: Int, shape: JSONShape) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of JSON") }
        if shape.members != nil, bytes[index] == UInt8(ascii: "{") {
            try countValue()
            return try parseObject(depth: depth + 1, keeping: shape)
        }
        if let item = shape.item, bytes[index] == UInt8(ascii: "[") {
            try countValue()
            return try parseArray(depth: depth + 1, keeping: item)
        }
        return try parseValue(depth: depth)
    }

    /// One more value in the document (at `index`, which must be in the body), within the bound.
    @inline(__always)
    private mutating func countValue() throws(JSONParseError) {
        guard index < bytes.count else { throw fail("unexpected end of JSON") }
        valuesLeft -= 1
        guard valuesLeft >= 0 else {
            var error = fail("the document holds too many JSON values")
            error.tooManyValues = true
            throw error
        }
    }

    /// Checks the value at `index` as `parseValue` would, and moves past it without building it.
    private mutating func skipValue(depth: Int) throws(JSONParseError) {
        try countValue()
        switch bytes[index] {
        case UInt8(ascii: "{"):
            guard depth + 1 <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
            index += 1
            // Its keys are kept only to refuse a duplicate, as `parseObject` does.
            var keys = KeyList()
            try forEachMember { (parser, keyOffset) throws(JSONParseError) in
                let key = try parser.readKey()
                try parser.refuseDuplicate(key, among: keys, at: keyOffset)
                keys.append(key)
                try parser.expectColon()
                try parser.skipValue(depth: depth + 1)
            }
        case UInt8(ascii: "["):
            guard depth + 1 <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
            index += 1
            try forEachItem { (parser) throws(JSONParseError) in try parser.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw fail("NaN and Infinity are not JSON numbers")
        default:
            throw fail("unexpected character '\(Self.printable(bytes[index]))'")
        }
    }

    private static func printable(_ byte: UInt8) -> String {
        (0x20..<0x7F).contains(byte) ? String(UnicodeScalar(byte)) : "\\u{\(String(byte, radix: 16))}"
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw fail("unexpected end of JSON") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] {
            throw fail("invalid literal, expected \(literal)")
        }
        index += count
    }

    // The whole parse keeps loops of its own: walking through `forEachMember` and
    // `forEachItem` (as the kept and skipped parts do) measured +3.4% instructions per item on
    // a 1000-item body (callgrind), and every request's body is parsed whole.
    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
        index += 1
        // No eager reservation: `{}` allocates nothing, and small objects grow as they fill.
        var members: [JSONObject.Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject(members))
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw fail("expected a string key in object")
            }
            let keyOffset = index
            let key = try parseString()
            for member in members where member.key == key {
                throw JSONParseError(message: "duplicate key '\(key)'", offset: keyOffset)
            }
            try expectColon()
            let value = try parseValue(depth: depth)
            members.append(JSONObject.Member(key, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON in object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(JSONObject(members))
            }
            throw fail("expected ',' or '}' in object")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON in array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            throw fail("expected ',' or ']' in array")
        }
    }

    /// An object after its `{`, only the members `shape` names built (each to its shape), the
    /// others checked and skipped. Keys are compared where they lie in the body, not made into
    /// strings (see `ReadKey`).
    private mutating func parseObject(depth: Int, keeping shape: JSONShape) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
        index += 1
        let wanted = shape.members ?? []
        var members: [JSONObject.Member] = []
        var keys = KeyList()
        try forEachMember { (parser, keyOffset) throws(JSONParseError) in
            let key = try parser.readKey()
            try parser.refuseDuplicate(key, among: keys, at: keyOffset)
            keys.append(key)
            try parser.expectColon()
            if let position = parser.wantedPosition(of: key, in: shape) {
                // Room for every wanted member at the first.
                if members.isEmpty { members.reserveCapacity(wanted.count) }
                let name: String
                if case .text(let text) = key { name = text } else { name = wanted[position].key }
                members.append(
                    JSONObject.Member(name, try parser.parseValue(depth: depth, shape: wanted[position].shape)))
            } else {
                try parser.skipValue(depth: depth)
            }
        }
        return .object(JSONObject(members))
    }

    /// A key as read: where a plain ASCII key's bytes lie in the body, or the text of any other
    /// (escapes, non-ASCII). Keys are equal as `String`s are (canonical equivalence, as the
    /// whole parse compares them): two ASCII keys when their bytes are, any other pair as text.
    private enum ReadKey {
        case ascii(start: Int, end: Int)
        case text(String)
    }

    /// The key at `index` (its opening quote), checked as `parseString` checks a string.
    private mutating func readKey() throws(JSONParseError) -> ReadKey {
        let (start, end, hasEscape, hasNonASCII) = try scanString()
        if !hasEscape && !hasNonASCII { return .ascii(start: start, end: end) }
        if !hasEscape {
            guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else {
                throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
            }
            return .text(text)
        }
        return .text(try unescape(start: start, end: end))
    }

    private func text(of key: ReadKey) -> String {
        switch key {
        case .ascii(let start, let end):
            String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        case .text(let text): text
        }
    }

    private func same(_ one: ReadKey, _ other: ReadKey) -> Bool {
        if case .ascii(let start, let end) = one, case .ascii(let otherStart, let otherEnd) = other {
            return end - start == otherEnd - otherStart && equalBytes(at: start, otherStart, count: end - start)
        }
        return text(of: one) == text(of: other)
    }

    private func refuseDuplicate(_ key: ReadKey, among keys: KeyList, at offset: Int) throws(JSONParseError) {
        if keys.contains(where: { same(key, $0) }) {
            throw JSONParseError(message: "duplicate key '\(text(of: key))'", offset: offset)
        }
    }

    /// Whether the `count` bytes at `start` are those at `other` (a loop over the buffer: the
    /// generic `elementsEqual` of two slices cost ~150 instructions for an 11-byte key).
    @inline(__always)
    private func equalBytes(at start: Int, _ other: Int, count: Int) -> Bool {
        for offset in 0..<count where bytes[start + offset] != bytes[other + offset] { return false }
        return true
    }

    /// The keys of one object read so far: the first eight plain ASCII ones by where they lie
    /// (in place, no allocation for the objects answers are made of), any other in an array.
    private struct KeyList {
        /// Start and end of up to eight keys, in place: a tuple of sixteen integers (a fixed
        /// array with no availability floor; `InlineArray` needs macOS 26).
        private var spans: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        private static let capacity = 8
        private var spanCount = 0
        private var more: [ReadKey] = []

        mutating func append(_ key: ReadKey) {
            if case .ascii(let start, let end) = key, spanCount < Self.capacity {
                let slot = 2 * spanCount
                withUnsafeMutableBytes(of: &spans) { raw in
                    let ints = raw.bindMemory(to: Int.self)
                    ints[slot] = start
                    ints[slot + 1] = end
                }
                spanCount += 1
            } else {
                more.append(key)
            }
        }

        func contains(where matches: (ReadKey) -> Bool) -> Bool {
            let found = withUnsafeBytes(of: spans) { raw in
                let ints = raw.bindMemory(to: Int.self)
                for index in 0..<spanCount where matches(.ascii(start: ints[2 * index], end: ints[2 * index + 1])) {
                    return true
                }
                return false
            }
            return found || more.contains(where: matches)
        }
    }

    /// Where `shape` names `key` among its members, if it does.
    private func wantedPosition(of key: ReadKey, in shape: JSONShape) -> Int? {
        guard let wanted = shape.members else { return nil }
        if case .ascii(let start, let end) = key {
            for (position, bytes) in shape.asciiKeys.enumerated() {
                if let bytes {
                    if bytes.count == end - start && matches(bytes, at: start) { return position }
                } else if wanted[position].key == text(of: key) {
                    return position
                }
            }
            return nil
        }
        let text = text(of: key)
        return wanted.firstIndex { $0.key == text }
    }

    /// Whether `wanted` is what the body holds at `start`.
    @inline(__always)
    private func matches(_ wanted: [UInt8], at start: Int) -> Bool {
        wanted.withUnsafeBufferPointer { wanted in
            for offset in 0..<wanted.count where wanted[offset] != bytes[start + offset] { return false }
            return true
        }
    }

    /// An array after its `[`, each item built to `item`'s shape.
    private mutating func parseArray(depth: Int, keeping item: JSONShape) throws(JSONParseError) -> JSONValue {
        guard depth <= maxDepth else { throw fail("JSON nested deeper than \(maxDepth) levels") }
        index += 1
        var items: [JSONValue] = []
        try forEachItem { (parser) throws(JSONParseError) in
            // A few items reserved at the first (growing from one by doubling allocated three
            // times for a Zettle location's three variants); an empty array allocates nothing.
            if items.isEmpty { items.reserveCapacity(4) }
            items.append(try parser.parseValue(depth: depth, shape: item))
        }
        return .array(items)
    }

    /// Walks an object's members after its `{`: `member` reads each from its key's opening quote
    /// (given the key's offset); the separators and the closing brace are checked here.
    private mutating func forEachMember(
        _ member: (inout JSONParser, Int) throws(JSONParseError) -> Void
    ) throws(JSONParseError) {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                throw fail("expected a string key in object")
            }
            try member(&self, index)
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON in object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            throw fail("expected ',' or '}' in object")
        }
    }

    /// Walks an array's items after its `[`: `item` reads each; the separators and the closing
    /// bracket are checked here.
    private mutating func forEachItem(_ item: (inout JSONParser) throws(JSONParseError) -> Void) throws(JSONParseError)
    {
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            try item(&self)
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of JSON in array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            throw fail("expected ',' or ']' in array")
        }
    }

    /// The `:` after a key, and the whitespace around it.
    @inline(__always)
    private mutating func expectColon() throws(JSONParseError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':' after key") }
        index += 1
        skipWhitespace()
    }

    private mutating func parseNumber() throws(JSONParseError) -> String {
        let start = index
        try scanNumber()
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
    }

    /// Moves past a number, checking its grammar.
    @inline(__always)
    private mutating func scanNumber() throws(JSONParseError) {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw fail("leading zeros are not allowed in numbers") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw fail("invalid number: digits expected after '.'")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else {
                throw fail("invalid number: exponent digits expected")
            }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    private mutating func parseString() throws(JSONParseError) -> String {
        let (start, end, hasEscape, hasNonASCII) = try scanString()
        if !hasEscape {
            if hasNonASCII {
                guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                else {
                    throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
                }
                return text
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        return try unescape(start: start, end: end)
    }

    /// Checks a string as `parseString` does, without making it (unless it holds escapes or
    /// non-ASCII bytes, which are checked by decoding them).
    private mutating func skipString() throws(JSONParseError) {
        let (start, end, hasEscape, hasNonASCII) = try scanString()
        if hasEscape || hasNonASCII { _ = try unescape(start: start, end: end) }
    }

    /// Moves past a string from its opening quote: where its content starts and ends, and
    /// whether it holds escapes or non-ASCII bytes. Control characters are refused here.
    @inline(__always)
    private mutating func scanString() throws(JSONParseError) -> (
        start: Int, end: Int, hasEscape: Bool, hasNonASCII: Bool
    ) {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, plain ASCII or valid UTF-8 bytes.
        var hasEscape = false
        var hasNonASCII = false
        // Eight bytes at a time up to the first quote, backslash or control character, which the
        // byte loop below then reads (most of a document's bytes are in strings). In a word read
        // least significant byte first, the lowest byte each test flags is a true match: a
        // borrow only runs upward from a byte that matched.
        if let base = bytes.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while index + 8 <= bytes.count {
                let word = UInt64(
                    littleEndian: UnsafeRawPointer(base).loadUnaligned(fromByteOffset: index, as: UInt64.self))
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let special =
                    (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word))
                    & highs
                if special == 0 {
                    if word & highs != 0 { hasNonASCII = true }
                    index += 8
                    continue
                }
                let first = special.trailingZeroBitCount  // the high bit of the first special byte
                if word & highs & ((1 << first) &- 1) != 0 { hasNonASCII = true }
                index += first / 8
                break
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                hasEscape = true
                index += 2
                continue
            }
            if byte < 0x20 { throw fail("control character in string") }
            if byte >= 0x80 { hasNonASCII = true }
            index += 1
        }
        guard index < bytes.count else { throw JSONParseError(message: "unterminated string", offset: start - 1) }
        let end = index
        index += 1  // closing quote
        return (start, end, hasEscape, hasNonASCII)
    }

    private func unescape(start: Int, end: Int) throws(JSONParseError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(end - start)
        var position = start
        func failAt(_ message: String) -> JSONParseError { JSONParseError(message: message, offset: position) }
        while position < end {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            guard position + 1 < end else { throw failAt("invalid escape in string") }
            let escape = bytes[position + 1]
            position += 2
            switch escape {
            case UInt8(ascii: "\""): output.append(0x22)
            case UInt8(ascii: "\\"): output.append(0x5C)
            case UInt8(ascii: "/"): output.append(0x2F)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4(at: position, end: end) else { throw failAt("invalid \\u escape") }
                position += 4
                var scalarValue = UInt32(unit)
                if (0xD800...0xDBFF).contains(unit) {
                    guard position + 6 <= end, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u"),
                        let low = hex4(at: position + 2, end: end), (0xDC00...0xDFFF).contains(low)
                    else { throw failAt("lone surrogate in string") }
                    position += 6
                    scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(unit) {
                    throw failAt("lone surrogate in string")
                }
                guard let scalar = Unicode.Scalar(scalarValue) else { throw failAt("invalid \\u escape") }
                output.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw failAt("invalid escape '\\\(Self.printable(escape))' in string")
            }
        }
        guard let text = String(validating: output, as: UTF8.self) else {
            throw JSONParseError(message: "invalid UTF-8 in string", offset: start)
        }
        return text
    }

    private func hex4(at position: Int, end: Int) -> UInt16? {
        guard position + 4 <= end else { return nil }
        var value: UInt16 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt16
            switch byte {
            case 0x30...0x39: digit = UInt16(byte - 0x30)
            case 0x41...0x46: digit = UInt16(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt16(byte - 0x61 + 10)
            default: return nil
            }
            value = value << 4 | digit
        }
        return value
    }
}

/// The parts of a JSON document a reader uses (`JSONParser.parse(_:keeping:)`): the value
/// whole, an object's members named (each with its shape; the others checked and skipped), or
/// an array's items (each with one shape). A value that is not the object or array a shape
/// looks into is built whole (its reader refuses it as before).
///
/// A class rather than an indirect enum: a reader keeps its shape in a static, and an enum's
/// payload is stored with its case in the pointer's spare bits, which LeakSanitizer (the fuzz
/// build) does not follow, so it reported the static's boxes as leaked.
public final class JSONShape: Sendable, CustomStringConvertible {
    let members: [(key: String, shape: JSONShape)]?
    /// Each member's key as bytes when it is plain ASCII (then a key equals it exactly when its
    /// bytes do), else nil.
    let asciiKeys: [[UInt8]?]
    let item: JSONShape?

    private init(members: [(key: String, shape: JSONShape)]?, item: JSONShape?) {
        self.members = members
        self.asciiKeys = (members ?? []).map { member in
            member.key.utf8.allSatisfy { $0 < 0x80 } ? Array(member.key.utf8) : nil
        }
        self.item = item
    }

    /// The value, whole.
    public static let whole = JSONShape(members: nil, item: nil)

    /// An object's members named here, each with its shape.
    public static func members(_ members: [(key: String, shape: JSONShape)]) -> JSONShape {
        JSONShape(members: members, item: nil)
    }

    /// An array's items, each with this shape.
    public static func items(_ item: JSONShape) -> JSONShape {
        JSONShape(members: nil, item: item)
    }

    /// `*` for whole, `{key: shape, …}`, `[shape]`.
    public var description: String {
        if let members { return "{" + members.map { "\($0.key): \($0.shape)" }.joined(separator: ", ") + "}" }
        if let item { return "[\(item)]" }
        return "*"
    }
}
