import Testing

@testable import StockCore

@Suite("Batch outcome")
struct BatchOutcomeTests {
    static func movement(_ id: Int64) -> Movement {
        Movement(id: id, product: "mug", quantity: Quantity(1), from: "supplier", to: "floor")
    }

    /// The counts the request log, the metrics and the canonical answer take from a batch are
    /// counted without copying the movements; they agree with `succeeded`.
    @Test("applied items are counted as succeeded lists them; undone, failed and not applied ones are not")
    func counts() {
        let mixed = BatchOutcome(items: [
            .applied(Self.movement(1)), .failed(GatewayError(code: .insufficientStock, message: "no")),
            .notApplied, .undone(Self.movement(2)), .applied(Self.movement(3)),
        ])
        #expect(mixed.appliedCount == 2)
        #expect(mixed.appliedCount == mixed.succeeded.count)
        #expect(mixed.succeeded.compactMap(\.id) == [1, 3])
        #expect(!mixed.allSucceeded)
        let whole = BatchOutcome(items: [.applied(Self.movement(4)), .applied(Self.movement(5))])
        #expect(whole.appliedCount == 2 && whole.allSucceeded)
        let empty = BatchOutcome(items: [])
        #expect(empty.appliedCount == 0 && empty.allSucceeded)
    }
}
