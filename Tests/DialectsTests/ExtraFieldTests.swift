import Foundation
import Testing

@testable import Dialects
@testable import StockCore

/// Issue 30, point 5: the vendors' extra fields are declared by their dialects; the model and
/// the stores keep named JSON values. What the journal already holds must read back the same.
@Suite("Extra fields declared by the dialects")
struct ExtraFieldTests {
    static var extras: MovementExtras {
        var extras = MovementExtras()
        extras.batchReference = "B-7"
        extras.isSystem = true
        extras.fromOrder = CustomerOrderRef(orderNumber: "SO-1", lineNumber: 3)
        extras.trackingStatusChange = "START_TRACKING"
        return extras
    }

    @Test(
        "a fact named extras.… is read from the extras and no other is: a movement with no extras carries only the others"
    )
    func factsOutsideExtras() {
        let base = Movement(product: "p", quantity: Quantity(1), from: "a", to: "b")
        for fact in MovementFact.optional {
            let probed = fact.probing(base)
            #expect(fact.value(in: probed) != nil, "\(fact)")
            let outside = MovementFact.optionalOutsideExtras.contains(fact)
            #expect(probed.extras.isEmpty == outside, "\(fact)")
            // With no extras, no fact of the extras is carried.
            var bare = probed
            bare.extras = MovementExtras()
            #expect((fact.value(in: bare) != nil) == outside, "\(fact)")
        }
    }

    @Test("the journal column is the one the typed model wrote, and reads back whole")
    func storedForm() throws {
        var movement = Movement(product: "mug", quantity: Quantity(1), from: "a", to: "b")
        movement.extras = Self.extras
        let text = try #require(try movement.storedExtras())
        // Byte for byte what the struct with a member per vendor field wrote (keys sorted).
        #expect(
            text
                == #"{"batchReference":"B-7","fromOrder":{"lineNumber":3,"orderNumber":"SO-1"},"isSystem":true,"trackingStatusChange":"START_TRACKING"}"#
        )
        var read = Movement(product: "mug", quantity: Quantity(1), from: "a", to: "b")
        try read.restoreExtras(
            #"{"deliveredDate":"2024-05-01","failure":"refused","toOrder":{"shipmentLineNumber":2,"shipmentNumber":"S"}}"#
        )
        #expect(read.extras.deliveredDate == "2024-05-01")
        #expect(read.extras.toOrder == CustomerOrderRef(shipmentNumber: "S", shipmentLineNumber: 2))
        #expect(read.failureReason == "refused" && read.extras["failure"] == nil, "a note is not an extra")
        try read.restoreExtras(text)
        #expect(read.extras == Self.extras)
    }

    @Test("StockGate's API reads, writes and documents every declared field, and refuses others naming them")
    func canonical() throws {
        let names = ExtraField.all.map(\.name)
        #expect(
            Set(names) == [
                "batchReference", "expiryDate", "deliveredDate", "dissociateIfEmpty", "isSystem", "fromOrder",
                "toOrder", "trackingStatusChange",
            ])
        let body = Array(
            #"{"movements": [{"product": "mug-black", "quantity": 1, "from": "supplier", "to": "shop-floor", "extras": {"batchReference": "B-7", "isSystem": true, "fromOrder": {"orderNumber": "SO-1", "lineNumber": 3}, "trackingStatusChange": "START_TRACKING"}}]}"#
                .utf8)
        let items = try #require(JSONParser.parse(body)["movements"]?.arrayValue)
        let movement = try CanonicalJSON.movement(FieldReader(items[0], path: "movements[0]"))
        #expect(movement.extras == Self.extras)
        #expect(
            JSONWriter.string(CanonicalJSON.json(movement.extras))
                == #"{"batchReference":"B-7","isSystem":true,"fromOrder":{"orderNumber":"SO-1","lineNumber":3},"trackingStatusChange":"START_TRACKING"}"#
        )
        let unknown = try JSONParser.parse(
            Array(#"{"product": "m", "quantity": 1, "from": "a", "to": "b", "extras": {"colour": "red"}}"#.utf8))
        #expect(throws: GatewayError.self) { try CanonicalJSON.movement(FieldReader(unknown, path: "movements[0]")) }
    }
}
