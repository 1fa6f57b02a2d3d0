/// What build this is: `stockgate --version`, the `Server` header, `stockgate_build_info`.
public enum BuildInfo {
    public static let version = "0.8.0"
    /// The `Server` header's value.
    public static let server = "StockGate/\(version)"
}
