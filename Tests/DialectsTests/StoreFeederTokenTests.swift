import Foundation
import StockCore
import Testing

@testable import Dialects

/// StoreFeeder's `/Token` as its clients speak it, without a socket: the vendor knowledge of
/// the grant lives with the dialect (issue 30), the decision who gets a token with the gateway.
@Suite("StoreFeeder /Token, without a socket")
struct StoreFeederTokenTests {
    @Test("a password grant is read from the form; any other grant type is unsupported_grant_type")
    func grant() throws {
        let form = Array("grant_type=password&username=shop%40example.com&password=p%2Bw+x".utf8)
        #expect(try StoreFeederToken.grant(form).get() == .init(username: "shop@example.com", password: "p+w x"))
        guard case .failure(let refusal) = StoreFeederToken.grant(Array("grant_type=client_credentials".utf8)) else {
            Issue.record("a client_credentials grant was taken")
            return
        }
        #expect(refusal.response.status.code == 400)
        #expect(String(decoding: refusal.response.body, as: UTF8.self).contains("unsupported_grant_type"))
    }

    @Test("the answer: bearer token, expires_in, .issued and .expires as RFC 1123 dates, no-store")
    func issued() throws {
        let answer = StoreFeederToken.issued(
            token: "t", username: "u", lifetime: 3600, at: Date(timeIntervalSince1970: 784_111_777))
        let body = try JSONParser.parse(answer.body)
        #expect(body[".issued"] == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(body[".expires"] == "Sun, 06 Nov 1994 09:49:37 GMT")
        #expect(body["token_type"] == "bearer" && body["expires_in"] == 3600 && body["access_token"] == "t")
        #expect(answer.headers[.cacheControl] == "no-store")
        #expect(StoreFeederToken.refusal(GatewayError(code: .tooManyRequests, message: "x")).status.code == 429)
    }
}
