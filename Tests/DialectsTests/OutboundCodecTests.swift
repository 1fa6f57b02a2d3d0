import Foundation
import StockCore
import Testing

@testable import Dialects

/// Every outbound codec without a socket: the request a restock becomes, the vendor's own
/// success and refusal read back, an unreadable success left an unknown outcome; and the one
/// place (`MovePlan`) where the declared capabilities refuse what a backend cannot carry.
@Suite("Outbound codecs (no socket)")
struct OutboundCodecTests {
    static let restock = Movement(product: "tshirt-blue-m", quantity: Quantity(2), from: "supplier", to: "shop-floor")

    /// Per dialect: the request line, a fragment its body holds, the vendor's success answer
    /// and its refusal (with the message the caller must get).
    struct Vendor: Sendable, CustomTestStringConvertible {
        var dialect: DialectID
        var method: String
        var path: String
        var bodyHolds: [String]
        var success: (Int, String)
        var refusal: (Int, String, message: String)
        /// Whether a 2xx with a body the codec cannot read is an unknown outcome (vendors
        /// whose success status alone says the write was taken read it as applied).
        var readsSuccessBody: Bool
        var testDescription: String { dialect.rawValue }
    }

    static let vendors: [Vendor] = [
        Vendor(
            dialect: "stockgate", method: "POST", path: "/stockgate/v1/movements",
            bodyHolds: [#""product":"tshirt-blue-m""#, #""quantity":"2""#],
            success: (
                200,
                #"{"atomic": true, "applied": 1, "failed": 0, "results": [{"index": 0, "status": "applied", "movement": {"id": 9}}]}"#
            ),
            refusal: (
                422,
                #"{"atomic": true, "applied": 0, "failed": 1, "results": [{"index": 0, "status": "failed", "error": {"code": "insufficientStock", "message": "only 1 held"}}]}"#,
                "only 1 held"
            ),
            readsSuccessBody: true),
        Vendor(
            dialect: "colleqtive", method: "POST", path: "/api/v2/public/stores/1001/storeproductlocation/movement",
            bodyHolds: [#""product_number":"100200""#, #""location_code":"SHOPFLOOR""#],
            success: (200, #"{"data": "77", "message": null, "success": true}"#),
            refusal: (
                400, #"{"data": null, "message": "product 100200 is blocked", "success": false}"#,
                "product 100200 is blocked"
            ),
            readsSuccessBody: true),
        Vendor(
            dialect: "storefeeder", method: "POST", path: "/stocklocations/create-transfers",
            bodyHolds: [
                #""TransferAmount":2"#, #"{"IDType":"ID","Value":"6743"}"#,
                #""StockLocationTo":{"IDType":"ID","Value":"5431"}"#,
            ],
            success: (200, #"{"Responses": [{"Success": true, "Error": null}]}"#),
            refusal: (
                200, #"{"Responses": [{"Success": false, "Error": "The product does not exist"}]}"#,
                "The product does not exist"
            ),
            readsSuccessBody: true),
        Vendor(
            dialect: "open2b-v6", method: "POST", path: "/api/v6/commerce.movements.create",
            bodyHolds: [#""sku":"TS-BLUE-M""#, #""adjustment":"2.00""#],
            success: (200, #"{"status": "ok", "id": 58913}"#),
            refusal: (
                200,
                #"{"status": "error", "error": {"field": "sku", "type": "NotFound", "description": "Item 'TS-BLUE-M' does not exist"}}"#,
                "Item 'TS-BLUE-M' does not exist"
            ),
            readsSuccessBody: true),
        Vendor(
            dialect: "open2b-v3", method: "POST", path: "/open2b/api/v3/commerce.movements.create",
            bodyHolds: [#""adjustment":"2.00""#],
            success: (200, #"{"status": "ok", "id": 1}"#),
            refusal: (
                200,
                #"{"status": "error", "error": {"field": "adjustment", "type": "InvalidValue", "description": "Adjustment 2.00 is out of range"}}"#,
                "Adjustment 2.00 is out of range"
            ),
            readsSuccessBody: true),
        Vendor(
            dialect: "zettle", method: "PUT", path: "/organizations/self/inventory",
            bodyHolds: [#""fromLocationUuid":"c1a0b7e2-5f0f-11ec-bf63-0242ac130002""#, #""change":2"#],
            success: (200, #"{"locationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "variants": []}"#),
            refusal: (
                400,
                #"{"developerMessage": "Variant not tracked", "errorType": "PRODUCT_NOT_TRACKED", "violations": []}"#,
                "Variant not tracked"
            ),
            readsSuccessBody: false),
        Vendor(
            dialect: "zettle-v3", method: "POST", path: "/v3/movements",
            bodyHolds: [#""from":"c1a0b7e2-5f0f-11ec-bf63-0242ac130002""#, #""change":2"#],
            success: (204, ""),
            refusal: (
                404, #"{"developerMessage": "Inventory not found", "errorType": "ENTITY_NOT_FOUND", "violations": []}"#,
                "Inventory not found"
            ),
            readsSuccessBody: false),
    ]

    @Test("every registered backend dialect is covered here")
    func coverage() {
        #expect(Set(Self.vendors.map(\.dialect)) == Set(DialectRegistry.ids))
    }

    static func codec(_ dialect: DialectID) -> any OutboundCodec {
        DialectRegistry.dialect(dialect)!.outboundCodec(BackendParameters(["colleqtive_app_user": "gateway"]))
    }

    @Test("a restock becomes the vendor's request; its success and its refusal read back", arguments: vendors)
    func roundTrip(_ vendor: Vendor) throws {
        let codec = Self.codec(vendor.dialect)
        let plan = MovePlan.make(
            MoveBatch(items: [Self.restock], atomicity: .allOrNothing), codec: codec, catalog: demo)
        #expect(plan.refusals.isEmpty && plan.chunks == [[0]])
        let request = try codec.moveRequest([Self.restock], catalog: demo, idempotencyKey: "k1", atomic: true)
        #expect(request.method.rawValue == vendor.method)
        #expect(request.path.hasPrefix(vendor.path), "\(request.path)")
        let body = String(decoding: request.body ?? [], as: UTF8.self)
        for fragment in vendor.bodyHolds { #expect(body.contains(fragment), "\(vendor.dialect): \(body)") }
        // Only a backend that deduplicates is sent the key.
        #expect((request.head.headerFields[.idempotencyKey] == "k1") == codec.capabilities.idempotencyKeys)

        let applied = codec.moveResult(
            OutboundResponse(status: vendor.success.0, body: Array(vendor.success.1.utf8)), items: [Self.restock],
            catalog: demo)
        guard case .applied(let movement) = applied.first else { Issue.record("\(vendor.dialect): \(applied)"); return }
        #expect(movement.product == "tshirt-blue-m" && movement.quantity == Quantity(2))

        let refused = codec.moveResult(
            OutboundResponse(status: vendor.refusal.0, body: Array(vendor.refusal.1.utf8)), items: [Self.restock],
            catalog: demo)
        guard case .failed(let error) = refused.first else { Issue.record("\(vendor.dialect): \(refused)"); return }
        #expect(error.message.contains(vendor.refusal.message), "\(error)")
        #expect(error.code != .unknownOutcome)

        let unreadable = codec.moveResult(
            OutboundResponse(status: 200, body: Array("<html>ok</html>".utf8)), items: [Self.restock], catalog: demo)
        if vendor.readsSuccessBody {
            guard case .failed(let error) = unreadable.first else {
                Issue.record("\(vendor.dialect): \(unreadable)"); return
            }
            #expect(error.code == .unknownOutcome)
        } else {
            guard case .applied = unreadable.first else { Issue.record("\(vendor.dialect): \(unreadable)"); return }
        }
    }

    @Test("a path segment keeps unreserved bytes and percent-encodes every other byte, UTF-8 included")
    func pathSegments() {
        #expect(percentEncoded("self") == "self")
        #expect(percentEncoded("89ac1e4a-5f0f-11ec_A.~") == "89ac1e4a-5f0f-11ec_A.~")
        #expect(percentEncoded("") == "")
        #expect(percentEncoded("a b/c?d") == "a%20b%2Fc%3Fd")
        #expect(percentEncoded("ü%") == "%C3%BC%25")
        #expect(percentEncoded("\u{0}\u{7F}") == "%00%7F")
    }

    @Test("the capabilities refuse, in one place and one wording, what a backend cannot carry")
    func capabilitiesDecide() {
        var pending = Self.restock
        pending.state = .pending
        let fraction = Movement(
            product: "tshirt-blue-m", quantity: Quantity(parsingOrZero: "2.5"), from: "supplier", to: "shop-floor")
        let fine = Movement(
            product: "tshirt-blue-m", quantity: Quantity(parsingOrZero: "1.005"), from: "supplier", to: "shop-floor")
        for dialect in DialectRegistry.ids {
            let codec = Self.codec(dialect)
            let capabilities = codec.capabilities
            func refusal(_ item: Movement) -> GatewayError? {
                MovePlan.make(MoveBatch(items: [item], atomicity: .allOrNothing), codec: codec, catalog: demo).refusals[
                    0]
            }
            let pendingRefused = refusal(pending)
            #expect((pendingRefused != nil) == !capabilities.pendingTransfers, "\(dialect)")
            if let pendingRefused {
                #expect(
                    pendingRefused.message == "a \(dialect) backend has no pending transfers"
                        && pendingRefused.field == "pending")
            }
            let fractionRefused = refusal(fraction)
            #expect((fractionRefused != nil) == capabilities.integerQuantities, "\(dialect)")
            if let fractionRefused {
                #expect(fractionRefused.message == "a \(dialect) backend carries whole quantities only, got 2.5")
            }
            let digitsRefused = refusal(fine)
            let expectRefused =
                capabilities.integerQuantities || (capabilities.maxFractionDigits.map { $0 < 3 } ?? false)
            #expect((digitsRefused != nil) == expectRefused, "\(dialect)")
            if let digitsRefused, !capabilities.integerQuantities {
                #expect(digitsRefused.message == "a \(dialect) backend carries at most 2 decimals, got 1.005")
                #expect(digitsRefused.field == "quantity")
            }
        }
    }
}
