import ContractTesting
import Foundation
import Gateway
import StockCore
import Testing

@testable import ContractTesting

/// The OpenAPI documents (issue 16) as data: operations from the codec's routes, schemas from
/// the contract cases' examples. Schemathesis against a live server is `SchemathesisTests`.
@Suite("OpenAPI documents")
struct OpenAPITests {
    static func document(_ dialect: String) throws -> JSONValue {
        try #require(OpenAPI.document(dialect: dialect, cases: ContractSuiteTests.cases))
    }

    @Test("an operation per route and method; Open2b's one route becomes an operation per method its cases call")
    func operations() throws {
        let zettle = try Self.document("zettle")
        let paths = try #require(zettle["paths"]?.objectValue)
        #expect(paths["/organizations/{org}/inventory"]?["put"]?["operationId"] == "zettle.inventory.update")
        let parameters = paths["/organizations/{org}/inventory"]?["put"]?["parameters"]?.arrayValue ?? []
        #expect(parameters.contains { $0["name"] == "org" && $0["in"] == "path" && $0["required"] == true })
        let open2b = try #require(try Self.document("open2b-v6")["paths"]?.objectValue)
        #expect(open2b["/api/v6/commerce.movements.create"]?["post"] != nil)
        #expect(open2b["/api/v6/commerce.movements.find"]?["post"] != nil)
        #expect(open2b["/api/v6/{method}"] == nil)
        #expect(OpenAPI.document(dialect: "sap", cases: []) == nil)
    }

    @Test("request schemas from accepted bodies: members every one carries are required, types united")
    func requestSchema() throws {
        let put = try Self.document("zettle")["paths"]?["/organizations/{org}/inventory"]?["put"]
        let schema = try #require(put?["requestBody"]?["content"]?["application/json"]?["schema"])
        let change = schema["properties"]?["changes"]?["items"]
        #expect(change?["required"]?.arrayValue?.contains("productUuid") == true)
        // `change` is a number in some cases and a decimal string in others (zettle/015).
        #expect(change?["properties"]?["change"]?["type"] == ["number", "string"])
        #expect(schema["required"] == ["changes"])
        // Every case's body is an example, refused ones too.
        let examples = put?["requestBody"]?["content"]?["application/json"]?["examples"]?.objectValue
        #expect(examples?.keys.contains("zettle/013-negative-change-400.json") == true)
    }

    @Test("responses per status the cases expect, matchers turned into schemas; a member null anywhere may be null")
    func responseSchemas() throws {
        #expect(Schema.infer([["$pattern": "[0-9]+"]], matchers: true) == ["type": ["string", "number"]])
        #expect(Schema.infer([["$uuid": true]], matchers: true) == ["type": "string", "format": "uuid"])
        let rows = Schema.infer([["$each": ["n": 1]]], matchers: true)
        #expect(rows["items"]?["properties"]?["n"]?["type"] == "number")
        let stock = Schema.infer(
            [["id": 1, "at": "2026-12-02T10:00:00Z", "latest": "x"], ["id": 7, "at": ["$absent": true]]],
            matchers: true, nullable: ["latest"])
        // `at` is absent in one example, `latest` in the other: neither is required.
        #expect(stock["required"] == ["id"])
        #expect(stock["properties"]?["latest"]?["type"] == ["string", "null"])
        let responses = try #require(
            try Self.document("open2b-v6")["paths"]?["/api/v6/commerce.movements.create"]?["post"]?["responses"])
        #expect(responses["200"] != nil)
        // Every other 4xx in the dialect's refusal envelope, and the 5xx. Open2b refuses in a
        // 200 (`"status": "error"`) and its 4xx are text: no JSON schema, never a null one
        // (the documents once said `"schema": null`, which no OpenAPI tool accepts).
        #expect(responses["4XX"] != nil && responses["4XX"]?["content"]?["application/json"] == nil)
        #expect(responses["5XX"] != nil)
        let colleqtive = try #require(
            try Self.document("colleqtive")["paths"]?.objectValue?.members.first?.value.objectValue?.members.first?
                .value["responses"])
        #expect(colleqtive["4XX"]?["content"]?["application/json"]?["schema"]?.objectValue?.isEmpty == false)
    }
}
