/// Parses `application/x-www-form-urlencoded` text (a URL query or a form body).
///
/// It works on the UTF-8 bytes: `&`, `=`, `+` and `%` are ASCII, so the text is cut where the
/// bytes say (as the WHATWG URL standard does), never inside a character, and a part with
/// nothing to decode is copied as it is.
public enum QueryString {
    /// Name/value pairs in order; `+` is a space and `%XX` escapes are decoded in both.
    /// Invalid escapes are kept as written; empty pairs (`a=1&&b=2`) are skipped.
    public static func parse(_ query: String) -> [(name: String, value: String)] {
        parse(query[...])
    }

    /// The same, for a part of a longer text (the query of a request target).
    public static func parse(_ query: Substring) -> [(name: String, value: String)] {
        // Over the contiguous bytes (native strings have them): walking a `Substring.UTF8View`
        // by its indices cost ~1,000 instructions per pair.
        if let pairs = query.utf8.withContiguousStorageIfAvailable(parse(bytes:)) { return pairs }
        return Array(query.utf8).withUnsafeBufferPointer(parse(bytes:))
    }

    static func parse(bytes: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        var start = 0
        while start < bytes.count {
            var end = start
            var equals: Int?
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") {
                if equals == nil && bytes[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if start != end {
                if let equals {
                    pairs.append((decode(bytes, start..<equals), decode(bytes, equals + 1..<end)))
                } else {
                    pairs.append((decode(bytes, start..<end), ""))
                }
            }
            start = end + 1
        }
        return pairs
    }

    /// A request target cut at its first `?`: the path, and the query after it (empty without one).
    public static func split(target: String) -> (path: Substring, query: Substring) {
        guard let mark = target.firstIndex(ofASCII: UInt8(ascii: "?")) else { return (target[...], "") }
        return (target[..<mark], target[target.utf8.index(after: mark)...])
    }

    /// `%XX` decoded, and `+` as a space unless `plusAsSpace` is false (a path, where `+` is a
    /// `+`); a broken escape is kept as sent.
    public static func decode(_ text: Substring, plusAsSpace: Bool = true) -> String {
        let decode = { (bytes: UnsafeBufferPointer<UInt8>) in
            Self.decode(bytes, 0..<bytes.count, plusAsSpace: plusAsSpace)
        }
        if let text = text.utf8.withContiguousStorageIfAvailable(decode) { return text }
        return Array(text.utf8).withUnsafeBufferPointer(decode)
    }

    /// `decode` of the bytes in `range`.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, plusAsSpace: Bool = true) -> String {
        let source = UnsafeBufferPointer(rebasing: bytes[range])
        guard source.contains(where: { ($0 == UInt8(ascii: "+") && plusAsSpace) || $0 == UInt8(ascii: "%") }) else {
            return String(decoding: source, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(source.count)
        var index = 0
        while index < source.count {
            let byte = source[index]
            index += 1
            if byte == UInt8(ascii: "+") && plusAsSpace {
                decoded.append(0x20)
            } else if byte == UInt8(ascii: "%"), index + 1 < source.count, let high = hex(source[index]),
                let low = hex(source[index + 1])
            {
                decoded.append(high << 4 | low)
                index += 2
            } else {
                decoded.append(byte)
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
