import Dialects
import Foundation
import StockCore
import Testing

/// Zettle's Pusher API shapes, pure (the simulator's delivery is tested in GatewayTests).
@Suite("Zettle Pusher shapes")
struct ZettlePusherTests {
    @Test("the signature is hex HMAC-SHA256 of timestamp.payload keyed by the signing key")
    func signature() {
        // Computed independently (Python's hmac module).
        #expect(
            ZettlePusher.signature(timestamp: "2021-03-17T11:44:58.000Z", payload: #"{"a":1}"#, key: "T3stK3y")
                == "471208e9661d0d458e0924f7f0fe81dfe23eb20821f894c42603f03a3299a825")
        let key = ZettlePusher.makeSigningKey()
        #expect(key.count == 64 && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
    }

    @Test("a message carries its payload as a JSON string, with balances before and after in Zettle's ids")
    func message() throws {
        let mappings = CatalogTests.repoMappings
        let catalog = try Catalog.parse(
            productsCSV: String(contentsOf: mappings.appendingPathComponent("products.csv"), encoding: .utf8),
            locationsCSV: String(contentsOf: mappings.appendingPathComponent("locations.csv"), encoding: .utf8))
        let movement = Movement(product: "tshirt-blue-m", quantity: Quantity(3), from: "supplier", to: "shop-floor")
        let changes = ZettlePusher.changes([movement], catalog: catalog)
        #expect(changes == ["shop-floor": ["tshirt-blue-m": Quantity(3)]], "the supplier is not a stock location")
        let location = try #require(catalog.location(key: "shop-floor"))
        let product = try #require(catalog.product(key: "tshirt-blue-m"))
        let payload = ZettlePusher.payload(
            organization: "org", update: "u", timestamp: "t",
            balances: [
                ZettlePusher.Balance(location: location, product: product, before: Quantity(4), after: Quantity(7))
            ],
            externalUUID: "e")
        let parsed = try JSONParser.parse(Array(payload.utf8))
        #expect(parsed["balanceBefore"]?.arrayValue?.first?["balance"] == "4")
        #expect(parsed["balanceAfter"]?.arrayValue?.first?["variantUuid"]?.stringValue == product.zettleVariantUUID)
        #expect(parsed["balanceAfter"]?.arrayValue?.first?["locationUuid"]?.stringValue == location.zettleUUID)
        #expect(parsed["externalUuid"] == "e" && parsed["updated"]?["uuid"] == "u")
        let body = try JSONParser.parse(
            ZettlePusher.message(organization: "org", messageID: "m", payload: payload, timestamp: "t"))
        #expect(body["payload"]?.stringValue == payload)
        #expect(
            body["eventName"] == "InventoryBalanceChanged" && body["messageUuid"] == "m" && body["messageId"] == "m")
    }

    @Test("subscription bodies are refused as the vendor refuses, the first problem in the vendor's order")
    func subscriptions() {
        func refusal(_ result: Result<ZettlePusher.SubscriptionFields, ZettlePusher.Refused>) -> (Int, String)? {
            guard case .failure(let refused) = result else { return nil }
            let field = (try? JSONParser.parse(refused.response.body))?["violations"]?.arrayValue?.first?[
                "propertyName"]?.stringValue
            return (refused.response.status.code, field ?? "")
        }
        let allow: (String) -> String? = { _ in nil }
        // Missing uuid wins over an unknown event; an unknown event over a bad destination.
        #expect(
            refusal(ZettlePusher.create(Array(#"{"eventNames": ["Nope"]}"#.utf8), refuseHost: allow))! == (400, "uuid"))
        let base = #""uuid": "6eefcb26-912c-11eb-a8b3-0242ac130003", "transportName": "WEBHOOK""#
        #expect(
            refusal(
                ZettlePusher.create(
                    Array("{\(base), \"eventNames\": [\"Nope\"], \"destination\": 3}".utf8), refuseHost: allow))!
                == (400, "eventNames"))
        #expect(
            refusal(
                ZettlePusher.create(
                    Array("{\(base), \"destination\": \"https://h.example\", \"contactEmail\": \"x\"}".utf8),
                    refuseHost: { _ in "refused" }))! == (422, "destination"), "the host is judged before the email")
        let made = ZettlePusher.create(
            Array("{\(base), \"destination\": \"https://h.example\", \"contactEmail\": \"a@b.c\"}".utf8),
            refuseHost: allow)
        #expect(refusal(made) == nil)
        #expect((try? made.get())?.eventNames == [])
        #expect(
            refusal(ZettlePusher.update(Array(#"{"destination": ""}"#.utf8), refuseHost: allow))! == (
                422, "destination"
            ))
        #expect(refusal(ZettlePusher.update(Array("[1]".utf8), refuseHost: allow))! == (400, ""))
        #expect(
            (try? ZettlePusher.update(Array(#"{"contactEmail": "a@b.c"}"#.utf8), refuseHost: allow).get())?.eventNames
                == nil)
    }
}
