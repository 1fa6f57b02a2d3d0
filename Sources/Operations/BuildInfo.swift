/// What build this is: `stockgate --version`, the `Server` header, `stockgate_build_info`.
public enum BuildInfo {
    public static let version = "0.8.0"
    /// The git commit the binary was built from (12 hex digits), or `unknown` (no repository at
    /// build time). Written by the BuildStamp plugin.
    public static let commit = BuildStamp.commit
    /// The commit's date (ISO 8601), or `unknown`: the same for every build of one commit.
    public static let commitDate = BuildStamp.commitDate
    /// `0.8.0 (commit 1a2b3c4d5e6f, 2026-12-06T10:26:07+00:00)`.
    public static let description = "\(version) (commit \(commit), \(commitDate))"
    /// The `Server` header's value.
    public static let server = "StockGate/\(version)"
}
