import Crypto
import Dialects
import Foundation
import HTTPTypes
import Operations
import StockCore

/// `POST /stockgate/console/settle`: the operator page's settle buttons. An operator records
/// the outcome of a forwarded movement whose outcome is unknown (`applied` or `failed`) with a
/// note saying why; the note, the operator's client name and the decision are kept on the
/// journal row (`settlement`).
///
/// Protected against cross-site requests three ways: the form carries a token only a page
/// served to this client holds (HMAC under a key of this process, bound to the client's name),
/// a browser's `Sec-Fetch-Site` must say `same-origin`, and an `Origin` must be this host.
/// The answer is a redirect back to the page (`303`), or a short page saying why not.
enum ConsoleSettle {
    /// A key of this process: tokens die with it (a page from before a restart asks for a reload).
    static let key = SymmetricKey(size: .bits256)
    static let maxNote = OperatorPage.maxSettleNote

    /// The token a page served to `client` carries in its settle forms.
    static func token(client: String?) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("settle|\(client ?? "")".utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// What the form sent, checked; or why it is refused (code and message, for the page).
    static func decide(
        head: HTTPRequest, body: [UInt8], client: String?
    ) -> Result<(id: Int64, state: MovementState, note: String), GatewayError> {
        if let site = head.headerFields[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin" {
            return .failure(GatewayError(code: .forbidden, message: "a settle must come from the operator page itself"))
        }
        if let origin = head.headerFields[HTTPField.Name("Origin")!] {
            let host = head.authority ?? ""
            let stripped = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first
            guard origin != "null", let stripped, stripped == host else {
                return .failure(GatewayError(code: .forbidden, message: "a settle from another site is refused"))
            }
        }
        let form = QueryString.parse(String(decoding: body, as: UTF8.self))
        func value(_ name: String) -> String? { form.first { $0.name == name }?.value }
        let presented = Array((value("token") ?? "").utf8)
        guard ClientAuthenticator.constantTimeEquals(presented, Array(token(client: client).utf8)) else {
            // 400, not 403: the caller holds the role; the form is what is wrong.
            return .failure(
                GatewayError.invalidValue("the form is stale or not from this page: reload the page", field: "token"))
        }
        guard let id = value("id").flatMap({ Int64($0) }), id > 0 else {
            return .failure(GatewayError.invalidValue("id must be a journal row's id", field: "id"))
        }
        guard let state = value("state").flatMap(MovementState.init(rawValue:)), state == .applied || state == .failed
        else {
            return .failure(GatewayError.invalidValue("state must be applied or failed", field: "state"))
        }
        let note = (value("note") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !note.isEmpty, note.count <= maxNote, !note.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            return .failure(
                GatewayError.invalidValue(
                    "a note (1 to \(maxNote) characters, one line) says what was checked", field: "note"))
        }
        return .success((id, state, note))
    }

    /// Settles the row and keeps the note; a redirect to the page, or a page saying why not.
    static func settle(_ gateway: Gateway, head: HTTPRequest, body: [UInt8], client: String?) async -> CodecResponse {
        let decided = decide(head: head, body: body, client: client)
        guard case .success(let form) = decided else {
            if case .failure(let error) = decided { return refusal(error) }
            return refusal(GatewayError.internalError("no decision"))
        }
        guard let journal = gateway.forwardJournal else {
            return refusal(GatewayError.unsupported("this gateway keeps no journal of forwarded movements"))
        }
        do {
            _ = try await journal.settleUnknown(id: form.id, state: form.state)
            let who = client ?? "an operator"
            try await journal.recordNotes([
                (form.id, .settlement, "\(form.state.rawValue) by \(who) at \(Timestamp.iso8601(Date())): \(form.note)")
            ])
        } catch let error as GatewayError {
            return refusal(error)
        } catch {
            return refusal(GatewayError.internalError("the journal could not be written"))
        }
        var headers = HTTPFields()
        headers[.location] = "/stockgate/console?settled=\(form.id)#unknown"
        headers[.cacheControl] = "no-store"
        return CodecResponse(status: .seeOther, headers: headers, body: [])
    }

    static func refusal(_ error: GatewayError) -> CodecResponse {
        var html = HTML()
        html.raw(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not settled</title></head><body>")
        html.element("h1", "Not settled")
        html.element("p", error.message)
        html.raw("<p><a href=\"/stockgate/console#unknown\">Back to the operator page</a></p></body></html>\n")
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        var response = CodecResponse(status: error.code.httpStatus, headers: headers, body: Array(html.output.utf8))
        response.logFacts.error = error.code.description
        response.logFacts.reason = error.message
        return response
    }
}
