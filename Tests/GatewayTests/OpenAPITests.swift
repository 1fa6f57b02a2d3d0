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

    @Test(
        "request schemas are the codec's declaration: formats, ranges, required members, batch limits; accepted bodies are the examples"
    )
    func requestSchema() throws {
        let put = try Self.document("zettle")["paths"]?["/organizations/{org}/inventory"]?["put"]
        let schema = try #require(put?["requestBody"]?["content"]?["application/json"]?["schema"])
        let changes = schema["properties"]?["changes"]
        #expect(changes?["minItems"] == 1 && changes?["maxItems"] == 1000 && changes?["x-stockgate-batch"] == true)
        let change = changes?["items"]
        #expect(change?["required"] == ["productUuid", "variantUuid", "fromLocationUuid", "toLocationUuid", "change"])
        #expect(change?["properties"]?["variantUuid"]?["format"] == "uuid")
        // A number or a decimal string (zettle/015 sends one, zettle/001 the other).
        let kinds = change?["properties"]?["change"]?["anyOf"]?.arrayValue?.compactMap { $0["type"]?.stringValue }
        #expect(kinds == ["number", "string"])
        #expect(schema["required"] == ["changes"])
        #expect(schema["properties"]?["externalUuid"]?["anyOf"]?.arrayValue?.last == ["type": "null"])
        // Examples fit the schema: accepted bodies only.
        let examples = put?["requestBody"]?["content"]?["application/json"]?["examples"]?.objectValue
        #expect(examples?.keys.contains("zettle/013-negative-change-400.json") == false)
        #expect(
            examples?.keys.contains("zettle/001-seed-sample-update-balance.json") == true, "\(examples?.keys ?? [])")
        // A batch is also at most server.max_batch_items long.
        let capped = try #require(
            OpenAPI.document(
                dialect: "colleqtive", cases: ContractSuiteTests.cases,
                configuration: {
                    var configuration = GatewayConfiguration(port: 0, dataDirectory: "")
                    configuration.maxBatchItems = 50
                    return configuration
                }()))
        let movement = capped["paths"]?["/api/v2/public/stores/{store_number}/storeproductlocation/movement"]?["post"]
        #expect(movement?["requestBody"]?["content"]?["application/json"]?["schema"]?["maxItems"] == 50)
        // Query parameters as declared: a range and an enum.
        let find = try Self.document("stockgate")["paths"]?["/stockgate/v1/movements"]?["get"]?["parameters"]
        let limit = find?.arrayValue?.first { $0["name"] == "limit" }
        #expect(limit?["schema"] == ["type": "integer", "minimum": 1, "maximum": 1000])
        let state = find?.arrayValue?.first { $0["name"] == "state" }
        #expect(state?["schema"]?["enum"]?.arrayValue?.contains("sent") == true)
    }

    @Test("every route of every dialect declares what it takes")
    func everyRouteDeclares() {
        for codec in Gateway.codecs(GatewayConfiguration(port: 0, dataDirectory: "")) {
            for route in codec.routeDescriptions {
                // Open2b's one route: a declaration per method it dispatches to.
                let paths =
                    route.method == nil
                    ? ["find", "get", "count", "create", "update", "delete"].map {
                        route.path.replacingOccurrences(of: "{method}", with: "commerce.movements.\($0)")
                    } : [route.path]
                for path in paths {
                    #expect(route.requestSchema(path: path) != nil, "\(codec.dialect) \(route.name) \(path)")
                }
            }
        }
    }

    @Test(
        "without a declaration, a request schema is inferred: members every accepted body carries are required, types united"
    )
    func inferredRequestSchema() {
        let schema = Schema.infer(
            [["changes": [["change": 1, "note": "a"]]], ["changes": [["change": "2"]]]], matchers: false)
        let change = schema["properties"]?["changes"]?["items"]
        #expect(change?["required"] == ["change"])
        #expect(change?["properties"]?["change"]?["type"] == ["number", "string"])
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
