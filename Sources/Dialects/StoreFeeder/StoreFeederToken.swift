import Foundation
import HTTPTypes
import StockCore

/// StoreFeeder's OAuth2 password grant, `POST /Token`, as its clients speak it: the form they
/// send and the answers they read (the OAuth server of the ASP.NET stack StoreFeeder runs on).
/// Pure: who may have a token is the gateway's to decide (`TokenRoutes`).
public enum StoreFeederToken {
    /// The grant a client asks for.
    public struct Grant: Sendable, Equatable {
        public var username: String
        public var password: String
    }

    /// The grant in a form body, or the refusal a client reads (`unsupported_grant_type`).
    public static func grant(_ body: [UInt8]) -> Result<Grant, CodecResponseError> {
        let form = QueryString.parse(String(decoding: body, as: UTF8.self))
        func field(_ name: String) -> String? { form.first { $0.name == name }?.value }
        guard field("grant_type") == "password" else {
            return .failure(CodecResponseError(.json(.badRequest, ["error": "unsupported_grant_type"])))
        }
        return .success(Grant(username: field("username") ?? "", password: field("password") ?? ""))
    }

    /// A request refused before its grant is read, in OAuth's envelope (RFC 6749 §5.2): too
    /// many attempts is `invalid_grant`, the rest an invalid request.
    public static func refusal(_ error: GatewayError) -> CodecResponse {
        .json(
            error.code.httpStatus,
            [
                "error": error.code == .tooManyRequests ? "invalid_grant" : "invalid_request",
                "error_description": .string(error.message),
            ])
    }

    /// A wrong user name or password.
    public static let invalidGrant = CodecResponse.json(
        .badRequest, ["error": "invalid_grant", "error_description": "The user name or password is incorrect."])

    /// Too many failed grants for a user name: 429 with `Retry-After`.
    public static func tooManyAttempts(retryAfter seconds: Int) -> CodecResponse {
        var refusal = CodecResponse.json(
            .tooManyRequests,
            [
                "error": "invalid_grant",
                "error_description": .string("Too many failed attempts for this user name; try again later."),
            ])
        refusal.headers[.retryAfter] = String(seconds)
        return refusal
    }

    /// The token answer, with `.issued` and `.expires` as RFC 1123 dates (what
    /// `DateTimeOffset.ToString("r")` writes): a client that caches its token by `.expires`
    /// fetches a new one only when it runs out.
    public static func issued(token: String, username: String, lifetime: Int, at issued: Date) -> CodecResponse {
        let expires = issued.addingTimeInterval(Double(lifetime))
        var answer = CodecResponse.json(
            .ok,
            [
                "access_token": .string(token), "token_type": "bearer", "expires_in": .integer(lifetime),
                "userName": .string(username), ".issued": .string(Timestamp.imfFixdate(issued)),
                ".expires": .string(Timestamp.imfFixdate(expires)),
            ])
        answer.headers[.cacheControl] = "no-store"
        answer.headers[.contentType] = "application/json; charset=utf-8"
        return answer
    }
}

/// A refusal already in the vendor's shape.
public struct CodecResponseError: Error, Sendable {
    public var response: CodecResponse
    public init(_ response: CodecResponse) { self.response = response }
}
