import ContractTesting
import Foundation
import Gateway
import StockCore
import Testing

/// Issue 32, point 6: "did the vendor change?" — two versions of an API compared per
/// operation, breaking changes told apart from compatible ones.
@Suite("contract-test --diff: what changed, and whether it breaks a client")
struct OpenAPIDiffTests {
    static func document(_ paths: JSONValue) -> JSONValue { ["openapi": "3.1.0", "paths": paths] }

    static let answer: JSONValue = [
        "type": "object", "required": ["id", "sku"],
        "properties": ["id": ["type": "number"], "sku": ["type": "string"], "note": ["type": "string"]],
    ]

    static func operation(answer: JSONValue, request: JSONValue? = nil, statuses: [String] = ["200"]) -> JSONValue {
        var responses = JSONObject()
        for status in statuses {
            responses[status] = ["description": "x", "content": ["application/json": ["schema": answer]]]
        }
        var operation = JSONObject()
        operation["responses"] = .object(responses)
        if let request { operation["requestBody"] = ["content": ["application/json": ["schema": request]]] }
        return .object(operation)
    }

    @Test("the same document: nothing")
    func same() {
        let one = Self.document(["/m": ["post": Self.operation(answer: Self.answer)]])
        #expect(OpenAPIDiff.changes(old: one, new: one).isEmpty)
    }

    @Test("an answer's member gone, optional, or of another type breaks; a member added does not")
    func answers() {
        let old = Self.document(["/m": ["post": Self.operation(answer: Self.answer)]])
        var changed = Self.answer.objectValue!
        var properties = changed["properties"]!.objectValue!
        properties["note"] = nil  // gone
        properties["id"] = ["type": "string"]  // another type
        properties["extra"] = ["type": "string"]  // added
        changed["properties"] = .object(properties)
        changed["required"] = ["id"]  // sku no longer always there
        let new = Self.document(["/m": ["post": Self.operation(answer: .object(changed))]])
        let changes = OpenAPIDiff.changes(old: old, new: new).map(\.description)
        #expect(changes.contains("BREAKING POST /m: response 200: $.note is gone"), "\(changes)")
        #expect(changes.contains("BREAKING POST /m: response 200: $.sku is no longer always there"), "\(changes)")
        #expect(changes.contains("BREAKING POST /m: response 200: $.id was number, now string"), "\(changes)")
        #expect(changes.contains("compatible POST /m: response 200: $.extra is new"), "\(changes)")
        #expect(changes.firstIndex { $0.hasPrefix("compatible") }! > changes.lastIndex { $0.hasPrefix("BREAKING") }!)
    }

    @Test("an operation or a success status gone breaks; a new one, or an error status gone, does not")
    func operations() {
        let old = Self.document([
            "/a": ["get": Self.operation(answer: Self.answer, statuses: ["200", "404"])],
            "/b": ["get": Self.operation(answer: Self.answer)],
        ])
        let new = Self.document([
            "/a": ["get": Self.operation(answer: Self.answer, statuses: ["201"])],
            "/c": ["get": Self.operation(answer: Self.answer)],
        ])
        let changes = OpenAPIDiff.changes(old: old, new: new)
        #expect(
            changes.filter(\.breaking).map(\.description).sorted() == [
                "BREAKING GET /a: response 200 is no longer answered", "BREAKING GET /b: the operation is gone",
            ])
        #expect(changes.contains { $0.description == "compatible GET /a: response 404 is no longer answered" })
        #expect(changes.contains { $0.description == "compatible GET /c: a new operation" })
    }

    @Test("a request member newly required breaks; one no longer required does not")
    func requests() {
        let body: JSONValue = [
            "type": "object", "required": ["sku"],
            "properties": ["sku": ["type": "string"], "note": ["type": "string"]],
        ]
        let stricter: JSONValue = [
            "type": "object", "required": ["note"],
            "properties": ["sku": ["type": "string"], "note": ["type": "string"], "user": ["type": "string"]],
        ]
        let old = Self.document(["/m": ["post": Self.operation(answer: Self.answer, request: body)]])
        let new = Self.document(["/m": ["post": Self.operation(answer: Self.answer, request: stricter)]])
        let breaking = OpenAPIDiff.changes(old: old, new: new).filter(\.breaking).map(\.description)
        #expect(breaking == ["BREAKING POST /m: request body: $.note is now required"], "\(breaking)")
        // The other way round: `sku` becomes required (breaking), `note` stops being required
        // and `user` goes (neither breaks a client: it may still send them).
        let back = OpenAPIDiff.changes(old: new, new: old)
        #expect(back.filter(\.breaking).map(\.description) == ["BREAKING POST /m: request body: $.sku is now required"])
        #expect(back.contains { !$0.breaking && $0.what == "request body: $.user is gone" }, "\(back)")
    }

    @Test("two recordings directories: each dialect's cases made into its document, then compared")
    func recordings() throws {
        let cases = try ContractCase.load(directory: "contract-tests", dialect: "zettle")
        #expect(
            OpenAPIDiff.changes(oldCases: cases, newCases: cases, configuration: GatewayConfiguration()).isEmpty)
        // A newer recording without the cases of one operation's answers: that operation's
        // answers are no longer shown, which a client relying on them must hear about.
        let fewer = cases.filter { !$0.steps.contains { $0.request.path.hasSuffix("/inventory") } }
        let changes = OpenAPIDiff.changes(oldCases: cases, newCases: fewer, configuration: GatewayConfiguration())
        #expect(changes.contains { $0.breaking && $0.operation.hasPrefix("zettle PUT /organizations/") }, "\(changes)")
    }
}
