import Dialects
import Foundation
import HTTPTypes
import Logging
import StockCore

/// The HTTP face of a gateway: `GatewayHTTPServer` with every dialect's routes, `/healthz`,
/// `/readyz`, `/metrics` and StoreFeeder's `/Token`.
public enum GatewayServer {
    /// The server as a `Service`. `onServerRunning` receives the bound port (useful with port 0).
    /// `onAdminRunning` receives the admin listener's port, when `server.admin_listen` is set.
    public static func makeServer(
        gateway: Gateway, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        onAdminRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> GatewayHTTPServer {
        GatewayHTTPServer(
            gateway: gateway, logger: logger, onServerRunning: onServerRunning, onAdminRunning: onAdminRunning)
    }

    /// A content or transfer coding the gateway does not decode: refused rather than reading a
    /// compressed body as if it were plain JSON (or a plain one labelled gzip as if it were).
    static func unsupportedCoding(_ headers: HTTPFields) -> GatewayError? {
        if let encoding = headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
            !encoding.isEmpty, encoding != "identity"
        {
            return GatewayError.unsupported(
                "Content-Encoding '\(encoding)' is not supported: send the body uncompressed", field: "Content-Encoding"
            )
        }
        for field in headers where field.name == .transferEncoding {
            let codings = field.value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if codings.contains(where: { $0 != "chunked" && $0 != "identity" }) {
                return GatewayError.unsupported(
                    "Transfer-Encoding '\(field.value)' is not supported: only chunked", field: "Transfer-Encoding")
            }
        }
        return nil
    }

}
