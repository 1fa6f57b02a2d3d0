import Dialects
import Foundation
import StockCore

/// libFuzzer target over what backends answer: every outbound codec's reading of a move
/// answer and a balance answer, and the `Retry-After` reader. A backend is untrusted input.
///
/// Input layout: byte 0 picks the codec, byte 1 the status (from a list of the interesting
/// ones, or raw), then a `Retry-After` value up to the first newline, then the body.
/// A crash, an answer that reports a different number of items than were sent, an item
/// reported applied from a status other than 2xx, or a negative or over-long wait is a finding.
enum AnswerFuzz {
    static let codecs: [any OutboundCodec] = [
        CanonicalOutbound(), ColleqtiveOutbound(parameters: BackendParameters(["colleqtive_app_user": "fuzz"])),
        StoreFeederOutbound(), Open2bOutbound(version: .v6), Open2bOutbound(version: .v3), ZettleOutbound(),
        ZettleV3Outbound(),
    ]
    static let statuses = [200, 201, 204, 400, 401, 404, 409, 422, 429, 500, 502, 503, 504]
    static let items = [
        Movement(product: "mug-white", quantity: Quantity(2), from: "supplier", to: "shop-floor"),
        Movement(product: "mug-white", quantity: Quantity(1), from: "shop-floor", to: "sold"),
    ]

    static func run(_ data: [UInt8]) {
        guard data.count >= 2 else { return }
        let codec = codecs[Int(data[0]) % codecs.count]
        let statusByte = Int(data[1])
        let status = statusByte < 200 ? statuses[statusByte % statuses.count] : statusByte * 3 - 400
        let rest = data.dropFirst(2)
        let newline = rest.firstIndex(of: 0x0A) ?? rest.endIndex
        let header = String(decoding: rest[rest.startIndex..<newline], as: UTF8.self)
        let body = Array(rest[min(newline + 1, rest.endIndex)...])

        if let wait = RetryAfterHeader.delay(header) {
            if wait < .zero || wait > RetryAfterHeader.cap { fatalError("Retry-After '\(header)' read as \(wait)") }
        }
        let response = OutboundResponse(status: status, body: body, retryAfter: header)
        let batch = codec.capabilities.maxBatchItems == 1 ? [items[0]] : items
        let outcomes = codec.moveResult(response, items: batch, catalog: DecoderFuzz.catalog)
        if outcomes.count != batch.count {
            fatalError("\(codec.dialect) reported \(outcomes.count) outcomes for \(batch.count) items")
        }
        for case .applied in outcomes where !(200..<300).contains(status) {
            fatalError("\(codec.dialect) took status \(status) for an applied movement")
        }
        if codec.capabilities.balanceReads {
            let query = BalanceQuery(products: ["mug-white"], location: "shop-floor", includeZero: true)
            if let balances = try? codec.balanceResult(response, query: query, catalog: DecoderFuzz.catalog) {
                for balance in balances where !balance.quantity.isInRange {
                    fatalError("\(codec.dialect) read a balance out of range")
                }
            }
        }
    }
}
