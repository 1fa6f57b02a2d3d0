import Gateway
import GatewayTestSupport
import StockCore
import Testing

@Suite("stockgate translate")
struct TranslatorTests {
    static let colleqtiveBody = Array(
        #"[{"product_number": "100200", "quantity": 2.5, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}}, {"product_number": "100300", "quantity": 3, "from_location": {"location_code": "SHOPFLOOR"}, "to_location": {"location_code": "SOLD"}}]"#
            .utf8)

    @Test("a batch is split into Open2b's one call per movement, signed from the stock location")
    func toOpen2b() throws {
        let text = try Translator.translate(
            body: Self.colleqtiveBody, from: "colleqtive", to: "open2b-v3", catalog: demoCatalog)
        #expect(text.components(separatedBy: "POST /open2b/api/v3/commerce.movements.create").count == 3)
        #expect(text.contains(#""adjustment": "2.50""#))
        #expect(text.contains(#""adjustment": "-3.00""#))
        #expect(text.contains("if one fails, those applied are reversed"))
    }

    @Test("a fraction for StoreFeeder is refused and an all-or-nothing batch sends nothing")
    func toStoreFeeder() throws {
        let text = try Translator.translate(
            body: Self.colleqtiveBody, from: "colleqtive", to: "storefeeder", catalog: demoCatalog)
        #expect(text.contains("item 0 refused before sending"))
        #expect(text.contains("nothing would be sent"))
        #expect(!text.contains("POST "))
    }

    @Test("reads and queries say where they are answered")
    func reads() throws {
        let text = try Translator.translate(
            body: Array(#"{"conditions": {"sku": "A927TP"}}"#.utf8), from: "open2b-v6", to: "zettle",
            path: "/api/v6/commerce.movements.find", catalog: demoCatalog)
        #expect(text.contains("answered from StockGate's journal"))
    }

    @Test("a request the inbound dialect refuses is shown in that dialect's envelope")
    func refusedInbound() {
        #expect {
            try Translator.translate(body: Array("[]".utf8), from: "colleqtive", to: "zettle", catalog: demoCatalog)
        } throws: { error in
            String(describing: error).contains(#""success":false"#)
        }
    }
}
