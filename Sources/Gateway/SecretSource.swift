import Foundation

/// Where a secret is read: an environment variable or a file, never the config file itself.
/// The one reader of secrets — clients', backends', the database URL's and the command-line
/// tools' `--token-env` — so each is read, trimmed and refused the same way.
public enum SecretSource: Sendable, Equatable {
    case environment(String)
    case file(String)

    /// The secret; an unset or empty variable, or a file that cannot be read, is refused naming it.
    public func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Secret {
        switch self {
        case .environment(let variable):
            guard let value = environment[variable], !value.isEmpty else {
                throw ConfigFile.Error(description: "the environment variable \(variable) is not set")
            }
            return Secret(value)
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigFile.Error(description: "cannot read the secret file \(path)")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            return Secret(text)
        }
    }
}
