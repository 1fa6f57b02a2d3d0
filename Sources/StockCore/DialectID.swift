/// The id of a dialect (`zettle`, `open2b-v6`, `stockgate`, …) as routes, backends, clients,
/// metrics and the journal name it. Each dialect declares its own (`ZettleCodec.dialect`, …)
/// and `DialectRegistry` lists them; a text read from outside (a config file, a journal row, a
/// contract case) becomes one here, and is checked against the registry where it matters.
public struct DialectID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }

    public var description: String { rawValue }

    public static func < (lhs: DialectID, rhs: DialectID) -> Bool { lhs.rawValue < rhs.rawValue }
}
