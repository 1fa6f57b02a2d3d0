/// What a `Host` header may hold: `host[:port]`, the host a DNS-style name (letters, digits,
/// `-`, `_`, `.`), an IPv4 address or a bracketed IPv6 address, the port 1 to 5 digits.
/// Anything else — spaces, quotes, `<>`, `,`, `;`, `/`, `@`, controls — is refused 400 before
/// routing: the host is echoed into answers (Zettle V3's `Link` URLs), where such characters
/// would forge URLs or header syntax (issue 29, finding 10). Stricter than RFC 3986's
/// reg-name, as nginx and most proxies are in practice.
enum HostHeader {
    static let maxLength = 255

    static func isValid(_ value: String) -> Bool {
        var value = value
        return value.withUTF8(isValid(bytes:))
    }

    private static func isValid(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        var index = 0
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            for byte in bytes[1..<close] where !(isHex(byte) || byte == UInt8(ascii: ":") || byte == UInt8(ascii: "."))
            {
                return false
            }
            index = close + 1
        } else {
            while index < bytes.count, bytes[index] != UInt8(ascii: ":") {
                let byte = bytes[index]
                guard
                    isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                        || byte == UInt8(ascii: "_")
                else { return false }
                index += 1
            }
            guard index > 0 else { return false }
        }
        guard index < bytes.count else { return true }
        guard bytes[index] == UInt8(ascii: ":") else { return false }
        let port = bytes[(index + 1)...]
        return (1...5).contains(port.count) && port.allSatisfy { (0x30...0x39).contains($0) }
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
