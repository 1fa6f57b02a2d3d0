import StockCore

/// One fact a canonical movement can carry, named as the canonical (`stockgate`) dialect
/// spells it. What each dialect keeps of a movement is found by changing one fact at a time
/// and looking at what the codecs make of it (`Carriage`), never from a list kept by hand.
public enum MovementFact: String, CaseIterable, Sendable, Hashable {
    case product, quantity, from, to
    case reason, reference, description, user, source, externalId, allowOverage
    case batchReference = "extras.batchReference"
    case expiryDate = "extras.expiryDate"
    case deliveredDate = "extras.deliveredDate"
    case fromOrderNumber = "extras.fromOrder.orderNumber"
    case fromOrderLine = "extras.fromOrder.lineNumber"
    case fromShipmentNumber = "extras.fromOrder.shipmentNumber"
    case fromShipmentLine = "extras.fromOrder.shipmentLineNumber"
    case toOrderNumber = "extras.toOrder.orderNumber"
    case toOrderLine = "extras.toOrder.lineNumber"
    case toShipmentNumber = "extras.toOrder.shipmentNumber"
    case toShipmentLine = "extras.toOrder.shipmentLineNumber"
    case dissociateIfEmpty = "extras.dissociateIfEmpty"
    case isSystem = "extras.isSystem"
    case trackingStatusChange = "extras.trackingStatusChange"

    /// The facts every movement has: what moves, how much, from where to where.
    public var isIdentity: Bool { [.product, .quantity, .from, .to].contains(self) }

    /// The optional facts, in the order they are reported.
    public static let optional: [MovementFact] = allCases.filter { !$0.isIdentity }

    /// The optional facts kept outside `extras` (the others are named `extras.…` and read from
    /// there): all a movement with no extras can carry.
    static let optionalOutsideExtras: [MovementFact] = optional.filter { !$0.rawValue.hasPrefix("extras.") }

    /// Free text a codec may cut short (a probe of 1,000 characters tells where).
    var isFreeText: Bool {
        switch self {
        case .reason, .reference, .description, .user, .source, .batchReference, .fromOrderNumber,
            .fromShipmentNumber, .toOrderNumber, .toShipmentNumber:
            true
        default: false
        }
    }

    /// The fact's value in a movement as text, nil when the movement does not carry it.
    public func value(in movement: Movement) -> String? {
        let extras = movement.extras
        switch self {
        case .product: return movement.product
        case .quantity: return movement.quantity.description
        case .from: return movement.from
        case .to: return movement.to
        case .reason: return movement.reason
        case .reference: return movement.reference
        case .description: return movement.description
        case .user: return movement.user
        case .source: return movement.sourceSystem
        case .externalId: return movement.externalID
        case .allowOverage: return movement.allowOverage ? "true" : nil
        case .batchReference: return extras.batchReference
        case .expiryDate: return extras.expiryDate
        case .deliveredDate: return extras.deliveredDate
        case .fromOrderNumber: return extras.fromOrder?.orderNumber
        case .fromOrderLine: return extras.fromOrder?.lineNumber.map(String.init)
        case .fromShipmentNumber: return extras.fromOrder?.shipmentNumber
        case .fromShipmentLine: return extras.fromOrder?.shipmentLineNumber.map(String.init)
        case .toOrderNumber: return extras.toOrder?.orderNumber
        case .toOrderLine: return extras.toOrder?.lineNumber.map(String.init)
        case .toShipmentNumber: return extras.toOrder?.shipmentNumber
        case .toShipmentLine: return extras.toOrder?.shipmentLineNumber.map(String.init)
        case .dissociateIfEmpty: return extras.dissociateIfEmpty.map { $0 ? "true" : "false" }
        case .isSystem: return extras.isSystem.map { $0 ? "true" : "false" }
        case .trackingStatusChange: return extras.trackingStatusChange
        }
    }

    /// The movement with this optional fact taken away (identity facts are left as they are).
    public func clearing(_ movement: Movement) -> Movement {
        var copy = movement
        switch self {
        case .product, .quantity, .from, .to: break
        case .reason: copy.reason = nil
        case .reference: copy.reference = nil
        case .description: copy.description = nil
        case .user: copy.user = nil
        case .source: copy.sourceSystem = nil
        case .externalId: copy.externalID = nil
        case .allowOverage: copy.allowOverage = false
        case .batchReference: copy.extras.batchReference = nil
        case .expiryDate: copy.extras.expiryDate = nil
        case .deliveredDate: copy.extras.deliveredDate = nil
        case .fromOrderNumber, .fromOrderLine, .fromShipmentNumber, .fromShipmentLine:
            copy.extras.fromOrder = Self.order(copy.extras.fromOrder, setting: self, to: nil)
        case .toOrderNumber, .toOrderLine, .toShipmentNumber, .toShipmentLine:
            copy.extras.toOrder = Self.order(copy.extras.toOrder, setting: self, to: nil)
        case .dissociateIfEmpty: copy.extras.dissociateIfEmpty = nil
        case .isSystem: copy.extras.isSystem = nil
        case .trackingStatusChange: copy.extras.trackingStatusChange = nil
        }
        return copy
    }

    /// The movement with this optional fact set to a recognisable value: `variant` tells
    /// probes apart, `long` asks for 1,000 characters of free text (to find a length limit).
    func probing(_ movement: Movement, variant: Int = 1, long: Bool = false) -> Movement {
        var copy = movement
        let text = "probe\(variant)-" + rawValue.replacingOccurrences(of: ".", with: "-")
        let free = long ? text + String(repeating: "x", count: 1000 - text.count) : text
        let number = 70 + variant
        switch self {
        case .product, .quantity, .from, .to: break
        case .reason: copy.reason = free
        case .reference: copy.reference = free
        case .description: copy.description = free
        case .user: copy.user = free
        case .source: copy.sourceSystem = free
        case .externalId: copy.externalID = "5f0c1b6e-0000-4000-8000-00000000000\(variant % 10)"
        case .allowOverage: copy.allowOverage = true
        case .batchReference: copy.extras.batchReference = free
        case .expiryDate: copy.extras.expiryDate = "2027-0\(1 + variant % 9)-15T00:00:00"
        case .deliveredDate: copy.extras.deliveredDate = "2026-0\(1 + variant % 9)-14T00:00:00"
        case .fromOrderNumber, .fromShipmentNumber:
            copy.extras.fromOrder = Self.order(copy.extras.fromOrder, setting: self, to: .text(free))
        case .toOrderNumber, .toShipmentNumber:
            copy.extras.toOrder = Self.order(copy.extras.toOrder, setting: self, to: .text(free))
        case .fromOrderLine, .fromShipmentLine:
            copy.extras.fromOrder = Self.order(copy.extras.fromOrder, setting: self, to: .number(number))
        case .toOrderLine, .toShipmentLine:
            copy.extras.toOrder = Self.order(copy.extras.toOrder, setting: self, to: .number(number))
        case .dissociateIfEmpty: copy.extras.dissociateIfEmpty = true
        case .isSystem: copy.extras.isSystem = true
        case .trackingStatusChange:
            copy.extras.trackingStatusChange = variant % 2 == 1 ? "START_TRACKING" : "STOP_TRACKING"
        }
        return copy
    }

    private enum OrderValue {
        case text(String)
        case number(Int)
    }

    /// A customer order reference with one member changed; nil when nothing is left in it.
    private static func order(
        _ order: CustomerOrderRef?, setting fact: MovementFact, to value: OrderValue?
    )
        -> CustomerOrderRef?
    {
        var order = order ?? CustomerOrderRef()
        var text: String? = nil
        var number: Int? = nil
        switch value {
        case .text(let value): text = value
        case .number(let value): number = value
        case nil: break
        }
        switch fact {
        case .fromOrderNumber, .toOrderNumber: order.orderNumber = text
        case .fromOrderLine, .toOrderLine: order.lineNumber = number
        case .fromShipmentNumber, .toShipmentNumber: order.shipmentNumber = text
        case .fromShipmentLine, .toShipmentLine: order.shipmentLineNumber = number
        default: break
        }
        return order.isEmpty ? nil : order
    }
}
