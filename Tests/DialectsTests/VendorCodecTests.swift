import Foundation
import HTTPTypes
import StockCore
import Testing

@testable import Dialects

let demo: Catalog = {
    let mappings = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("mappings")
    return try! Catalog.parse(
        productsCSV: String(contentsOf: mappings.appendingPathComponent("products.csv"), encoding: .utf8),
        locationsCSV: String(contentsOf: mappings.appendingPathComponent("locations.csv"), encoding: .utf8))
}()

func request(
    _ method: HTTPRequest.Method, _ path: String, _ body: String = "", query: [(String, String)] = [],
    parameters: [String: String] = [:], headers: HTTPFields = [:]
) -> InboundRequest {
    InboundRequest(
        method: method, path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: headers,
        body: Array(body.utf8), pathParameters: parameters)
}

func batch(_ decoded: Decoded<some Sendable>) throws -> MoveBatch {
    guard case .move(let batch)? = decoded.commands.first else { throw GatewayError.internalError("no move command") }
    return batch
}

@Suite("Colleqtive codec")
struct ColleqtiveCodecTests {
    let codec = ColleqtiveCodec()
    var create: Route<ColleqtiveCodec.Endpoint> { codec.route(.movementCreate)! }

    @Test("maps product number, location codes, user and order references into one all-or-nothing batch")
    func decode() throws {
        let body =
            #"[{"product_number": "100200", "quantity": 0.30000000000000004, "reason_code": "RC", "source": "pos", "allow_overage": true, "from_location": {"location_code": "SHOPFLOOR", "customer_order_number": "CO-1", "customer_order_line_number": 3}, "to_location": {"location_code": "SOLD"}}]"#
        let decoded = try codec.decode(
            request(.post, "/x", body, query: [("appusername", "jane")], parameters: ["store_number": "1001"]),
            route: create, catalog: demo)
        let moves = try batch(decoded)
        #expect(moves.atomicity == .allOrNothing)
        let item = moves.items[0]
        #expect(item.product == "tshirt-blue-m")
        #expect(item.quantity.description == "0.30000000000000004")  // the exact text, not a rounded double
        #expect(item.from == "shop-floor" && item.to == "sold")
        #expect(item.user == "jane")
        #expect(item.reason == "RC" && item.sourceSystem == "pos" && item.allowOverage)
        #expect(item.extras.fromOrder == CustomerOrderRef(orderNumber: "CO-1", lineNumber: 3))
    }

    @Test("a failed batch item becomes success false naming the item's field")
    func encodeFailure() throws {
        let outcome = Outcome.moved(
            BatchOutcome(items: [.notApplied, .failed(.insufficientStock("holds 0", field: "quantity"))]))
        let response = codec.encode([outcome], context: .movement(count: 2), route: create, catalog: demo)
        #expect(response.status == .conflict)
        let json = try JSONParser.parse(response.body)
        #expect(json["success"] == false)
        #expect(json["message"] == "[1].quantity: holds 0")
    }
}

@Suite("StoreFeeder codec")
struct StoreFeederCodecTests {
    let codec = StoreFeederCodec()
    var route: Route<StoreFeederCodec.Endpoint> { codec.route(.transfersCreate)! }

    @Test("bad items stay out of the batch and the answer keeps request order")
    func perItem() throws {
        let body = """
            [{"ProductIDType": {"IDType": "SKU", "Value": "sku10"}, "StockLocationFrom": {"IDType": "StockLocationReference", "Value": "unspecified"}, "StockLocationTo": {"IDType": "ID", "Value": "3213"}, "TransferAmount": 2, "ImmediateTransfer": false},
             {"ProductIDType": {"IDType": "SKU", "Value": "sku10"}, "StockLocationFrom": {"IDType": "ID", "Value": "3213"}, "StockLocationTo": {"IDType": "ID", "Value": "5431"}, "TransferAmount": 2.5, "ImmediateTransfer": true},
             {"ProductIDType": {"IDType": "ID", "Value": "6743"}, "StockLocationFrom": {"IDType": "ID", "Value": "3213"}, "StockLocationTo": {"IDType": "ID", "Value": "5431"}, "TransferAmount": 1, "ImmediateTransfer": true}]
            """
        let decoded = try codec.decode(
            request(.post, "/stocklocations/create-transfers", body), route: route, catalog: demo)
        let moves = try batch(decoded)
        #expect(moves.atomicity == .perItem)
        #expect(moves.items.count == 2)
        #expect(moves.items[0].from == "outside" && moves.items[0].state == .pending)
        #expect(moves.items[1].product == "tshirt-blue-m")

        let outcome = Outcome.moved(
            BatchOutcome(items: [
                .applied(
                    Movement(
                        id: 1, product: "socks", quantity: Quantity(2), from: "outside", to: "back-room",
                        state: .pending)),
                .failed(.insufficientStock("holds 0", field: "quantity")),
            ]))
        let json = try JSONParser.parse(
            codec.encode([outcome], context: decoded.context, route: route, catalog: demo).body)
        #expect(json["PendingTransfers"] == 1 && json["ImmediateTransfers"] == 0)
        #expect(json["Successful"] == 1 && json["Failed"] == 2 && json["TotalItemsProcessed"] == 3)
        let responses = try #require(json["Responses"]?.arrayValue)
        #expect(responses.map { $0["Success"] } == [true, false, false])
        #expect(responses[1]["Error"]?.stringValue?.hasPrefix("[1].TransferAmount must be a whole number") == true)
        #expect(responses[2]["Error"] == "[2].TransferAmount: holds 0")
        #expect(responses[2]["Transfer"]?["TransferAmount"] == 1)
    }
}

@Suite("Open2b codec")
struct Open2bCodecTests {
    @Test("a negative adjustment moves out of the stock location to the out location")
    func create() throws {
        let codec = Open2bCodec(version: .v6)
        let decoded = try codec.decode(
            request(
                .post, "/api/v6/commerce.movements.create", #"{"movement": {"sku": "A927TP", "adjustment": "-5.00"}}"#,
                parameters: ["method": "commerce.movements.create"]), route: codec.routes[0], catalog: demo)
        let item = try batch(decoded).items[0]
        #expect(item.product == "mug-black" && item.from == "shop-floor" && item.to == "sold")
        #expect(item.quantity == Quantity(5) && item.allowOverage)
    }

    @Test("find shows movements signed as seen from the stock location")
    func find() throws {
        let codec = Open2bCodec(version: .v3)
        let decoded = try codec.decode(
            request(
                .post, "/open2b/api/v3/commerce.movements.find", #"{"fields": ["id", "adjustment"]}"#,
                parameters: ["method": "commerce.movements.find"]), route: codec.routes[0], catalog: demo)
        guard case .findMovements(let query)? = decoded.commands.first else {
            Issue.record("expected find")
            return
        }
        #expect(query.location == "shop-floor" && query.appliedOnly && query.limit == 100)
        let movements = [
            Movement(id: 1, product: "mug-black", quantity: Quantity(10), from: "supplier", to: "shop-floor"),
            Movement(
                id: 2, product: "mug-black", quantity: try Quantity(parsing: "2.5"), from: "shop-floor", to: "sold"),
        ]
        let json = try JSONParser.parse(
            codec.encode([.movements(movements)], context: decoded.context, route: codec.routes[0], catalog: demo).body)
        #expect(
            json == [
                "status": "ok", "movements": [["id": 1, "adjustment": "10.00"], ["id": 2, "adjustment": "-2.50"]],
            ])
    }

    @Test("transport errors are not JSON; v3 has no after")
    func transport() throws {
        let codec = Open2bCodec(version: .v3)
        let wrongMethod = request(
            .get, "/open2b/api/v3/commerce.movements.find", parameters: ["method": "commerce.movements.find"])
        #expect(throws: GatewayError.self) { try codec.decode(wrongMethod, route: codec.routes[0], catalog: demo) }
        do {
            _ = try codec.decode(wrongMethod, route: codec.routes[0], catalog: demo)
        } catch {
            let response = codec.encode(error, route: codec.routes[0], context: nil)
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
        }
        let after = request(
            .post, "/x", #"{"conditions": {"after": 3}}"#, parameters: ["method": "commerce.movements.count"])
        #expect {
            try codec.decode(after, route: codec.routes[0], catalog: demo)
        } throws: { ($0 as? GatewayError)?.field == "conditions.after" }
    }
}

@Suite("Zettle codec")
struct ZettleCodecTests {
    let codec = ZettleCodec(organizationUUID: "0B7C8A3E-0000-4000-8000-000000000001")

    @Test(
        "externalUuid is kept on the movements as a correlation id, never an idempotency key; balances are read after the move"
    )
    func update() throws {
        let body =
            #"{"changes": [{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "92646e02-5f0f-11ec-bf63-0242ac130002", "change": 42}], "externalUuid": "0F4E6B2C-1D3A-4C5E-8F70-9A1B2C3D4E5F"}"#
        let decoded = try codec.decode(
            request(
                .put, "/organizations/0b7c8a3e-0000-4000-8000-000000000001/inventory", body,
                parameters: ["org": "0b7c8a3e-0000-4000-8000-000000000001"]), route: codec.routes[0], catalog: demo)
        #expect(decoded.idempotencyKey == nil)
        #expect(decoded.commands.count == 2)
        #expect(try batch(decoded).items[0].externalID == "0f4e6b2c-1d3a-4c5e-8f70-9a1b2c3d4e5f")
        #expect(decoded.commands[1] == .readBalances(BalanceQuery(products: ["tshirt-blue-m"], location: "shop-floor")))
    }

    @Test("errors carry one violation per bad property")
    func errors() throws {
        let response = codec.encode(
            GatewayError.invalidValue("changes[0].change must be greater than zero", field: "changes[0].change"),
            route: codec.routes[0], context: nil)
        #expect(response.status == .badRequest)
        let json = try JSONParser.parse(response.body)
        #expect(json["violations"]?.arrayValue?.first?["propertyName"] == "changes[0].change")
    }
}
