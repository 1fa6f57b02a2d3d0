import CurlHTTP
import Foundation

/// Which addresses a webhook may be delivered to. A subscriber names the destination, so it is
/// untrusted: by default only public unicast addresses are allowed — not loopback (the gateway
/// itself and everything else on its host), link-local (cloud metadata at 169.254.169.254),
/// private, shared (CGNAT), unique-local, unspecified, multicast or reserved ranges. The check
/// is made when a subscription names the destination (an IP literal, or `localhost`) and again
/// on every connection libcurl opens (`CurlRequest.permitAddress`), so a name that resolves to
/// a forbidden address — at once or later — is refused too. Ranges an operator trusts (a
/// receiver on loopback in a test, one on the private network) are allowed with
/// `server.webhook_allowed_networks` (CIDRs, comma-separated).
public struct DestinationPolicy: Sendable, Equatable {
    /// A network in CIDR form.
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        let bytes: [UInt8]
        let prefix: Int

        /// `10.0.0.0/8`, `127.0.0.1` (a single address), `fd00::/8`; nil when not one.
        public init?(_ text: String) {
            let parts = text.trimmingCharacters(in: .whitespaces).split(
                separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 1 || parts.count == 2, let address = DestinationPolicy.parseIP(String(parts[0]))
            else { return nil }
            let bytes = address.bytes
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...(bytes.count * 8)).contains(prefix) else { return nil }
            self.bytes = bytes
            self.prefix = prefix
        }

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var left = prefix
            for index in 0..<bytes.count where left > 0 {
                let bits = min(8, left)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != bytes[index] & mask { return false }
                left -= bits
            }
            return true
        }

        public var description: String {
            (bytes.count == 4 ? IPAddress.v4(bytes) : IPAddress.v6(bytes)).description + "/\(prefix)"
        }
    }

    /// Networks allowed although they are not public.
    public var allowed: [Network]

    public init(allowed: [Network] = []) {
        self.allowed = allowed
    }

    /// Parses `server.webhook_allowed_networks`; the failure names the first entry that is no network.
    public static func parse(_ list: String) -> Result<DestinationPolicy, ParseError> {
        var networks: [Network] = []
        for entry in list.split(separator: ",") where !entry.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let network = Network(String(entry)) else { return .failure(ParseError(entry: String(entry))) }
            networks.append(network)
        }
        return .success(DestinationPolicy(allowed: networks))
    }

    public struct ParseError: Error, Sendable {
        public var entry: String
    }

    /// Non-public ranges (RFC 6890 and its successors), refused unless allowed.
    static let forbidden: [Network] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64",
        "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
    ].map { Network($0)! }

    /// Whether a webhook may connect to `address`.
    public func permits(_ address: IPAddress) -> Bool {
        let bytes = address.bytes
        if allowed.contains(where: { $0.contains(bytes) }) { return true }
        if case .v6 = address, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address.
            return permits(.v4(Array(bytes[12..<16])))
        }
        return !Self.forbidden.contains { $0.contains(bytes) }
    }

    /// Why a destination URL's host is refused at once (an IP literal or `localhost` outside the
    /// allowed ranges); nil when it may be tried (a name is checked again when it is resolved).
    public func refusal(host: String) -> String? {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        while name.hasSuffix(".") { name.removeLast() }  // the root: "localhost." is localhost
        if name == "localhost" || name.hasSuffix(".localhost") {
            return permits(.v4([127, 0, 0, 1])) ? nil : "destination must not be a loopback address"
        }
        guard let address = Self.parseIP(name) else { return nil }
        return permits(address)
            ? nil
            : "destination must be a public address, not \(address) (loopback, link-local and private ranges are refused)"
    }

    /// An IPv4 dotted quad or an IPv6 address, through `inet_pton`.
    static func parseIP(_ text: String) -> IPAddress? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return .v4(withUnsafeBytes(of: v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return .v6(withUnsafeBytes(of: v6) { Array($0) }) }
        return nil
    }
}
