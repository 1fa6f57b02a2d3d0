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
        let bytes = query.utf8
        var pairs: [(name: String, value: String)] = []
        var start = bytes.startIndex
        while start != bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.endIndex
            if start != end {
                if let equals = bytes[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                    pairs.append((decode(query[start..<equals]), decode(query[bytes.index(after: equals)..<end])))
                } else {
                    pairs.append((decode(query[start..<end]), ""))
                }
            }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
        return pairs
    }

    /// A request target cut at its first `?`: the path, and the query after it (empty without one).
    public static func split(target: String) -> (path: Substring, query: Substring) {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target[...], "") }
        return (target[..<mark], target[target.utf8.index(after: mark)...])
    }

    /// `%XX` decoded, and `+` as a space unless `plusAsSpace` is false (a path, where `+` is a
    /// `+`); a broken escape is kept as sent.
    public static func decode(_ text: Substring, plusAsSpace: Bool = true) -> String {
        let source = text.utf8
        guard source.contains(where: { ($0 == UInt8(ascii: "+") && plusAsSpace) || $0 == UInt8(ascii: "%") }) else {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(source.count)
        var index = source.startIndex
        while index != source.endIndex {
            let byte = source[index]
            index = source.index(after: index)
            if byte == UInt8(ascii: "+") && plusAsSpace {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), index != source.endIndex,
                source.index(after: index) != source.endIndex, let high = hex(source[index]),
                let low = hex(source[source.index(after: index)])
            {
                bytes.append(high << 4 | low)
                index = source.index(index, offsetBy: 2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
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
