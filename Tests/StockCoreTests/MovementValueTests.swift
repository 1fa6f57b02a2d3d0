import Foundation
import Testing

@testable import StockCore

/// `Movement` keeps its fields in one box shared by copies until one of them changes
/// (copy on write): it must still behave as a value.
@Suite("Movement as a value")
struct MovementValueTests {
    @Test("a changed copy leaves the original as it was, field by field, and equality follows the fields")
    func copyOnWrite() {
        let original = Movement(
            id: 7, product: "mug", quantity: Quantity(2), from: "supplier", to: "floor", reason: "delivery")
        var copy = original
        #expect(copy == original)
        copy.quantity = Quantity(5)
        copy.reason = nil
        copy.extras["colleqtive.reason_code"] = .string("12")
        copy.id = 8
        #expect(original.quantity == Quantity(2))
        #expect(original.reason == "delivery")
        #expect(original.extras.isEmpty)
        #expect(original.id == 7)
        #expect(copy.quantity == Quantity(5) && copy.reason == nil && copy.id == 8)
        #expect(copy != original)
        // A copy changed back to the original's fields is equal again.
        var back = copy
        back.quantity = Quantity(2)
        back.reason = "delivery"
        back.extras = original.extras
        back.id = 7
        #expect(back == original)
        #expect(copy.id == 8)
    }

    /// An outcome is kept across `await`s in the request path's async contexts, which each
    /// request's task allocates whole: its payloads stay a word or two (a movement is one
    /// reference), without boxing any case.
    @Test("an outcome holding a movement is as small as one holding a count")
    func outcomeSize() {
        #expect(MemoryLayout<Movement>.size == MemoryLayout<Int>.size)
        #expect(MemoryLayout<Outcome>.size <= 2 * MemoryLayout<Int>.size)
    }
}
