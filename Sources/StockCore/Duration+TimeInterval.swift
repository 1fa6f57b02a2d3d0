import Foundation

extension Duration {
    /// In seconds, for `Date` arithmetic and messages.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
