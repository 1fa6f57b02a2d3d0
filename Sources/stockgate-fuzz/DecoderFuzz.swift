import Dialects
import Foundation
import StockCore

/// Which target a run fuzzes: `STOCKGATE_FUZZ_TARGET=decoders` (the default), `answers` or `http`.
enum FuzzTarget {
    static let name = ProcessInfo.processInfo.environment["STOCKGATE_FUZZ_TARGET"] ?? "decoders"

    static func run(_ data: [UInt8]) {
        switch name {
        case "answers": AnswerFuzz.run(data)
        case "http", "http-forward": HTTPFuzz.run(data)
        default: DecoderFuzz.run(data)
        }
    }
}

/// libFuzzer target over every inbound decoder: the first byte picks the dialect, the rest is
/// the request body. A crash, or an accepted move with a quantity that is not positive, is a
/// finding. Built by `scripts/fuzz` with `-sanitize=fuzzer -D FUZZING`; built normally it
/// replays files given as arguments (the corpus), so a finding becomes a regression case.
enum DecoderFuzz {
    static let catalog: Catalog = try! Catalog.parse(
        productsCSV: """
            key,sku,storefeeder_id,zettle_product_uuid,zettle_variant_uuid,colleqtive_product_number
            mug-white,sku5,6745,3cc3b9f6-623b-11ec-90d6-0242ac120003,4066f6cc-623b-11ec-90d6-0242ac120003,
            tshirt,TS,6743,,,100200
            """,
        locationsCSV: """
            key,kind,colleqtive_store,colleqtive_location_code,storefeeder_id,storefeeder_reference,zettle_uuid,open2b_role
            shop-floor,stock,1001,SHOPFLOOR,5431,pb1,89ac1e4a-5f0f-11ec-bf63-0242ac130002,stock
            supplier,supplier,1001,INBOUND,,,c1a0b7e2-5f0f-11ec-bf63-0242ac130002,in
            sold,sold,1001,SOLD,,,92646e02-5f0f-11ec-bf63-0242ac130002,out
            outside,outside,,,,Unspecified,,
            """)

    static let targets: [(any InboundCodec, String, [String: String])] = [
        (CanonicalCodec(), "movements.create", [:]),
        (ColleqtiveCodec(), "movement.create", ["store_number": "1001"]),
        (StoreFeederCodec(), "transfers.create", [:]),
        (Open2bCodec(version: .v6), "rpc", ["method": "commerce.movements.create"]),
        (Open2bCodec(version: .v3), "rpc", ["method": "commerce.movements.find"]),
        (ZettleCodec(), "inventory.update", ["org": "self"]),
        (ZettleV3Codec(), "movements.create", [:]),
    ]

    static func run(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let (codec, route, parameters) = targets[Int(selector) % targets.count]
        check(codec, route: route, parameters: parameters, body: Array(data.dropFirst()))
    }

    static func check<Codec: InboundCodec>(
        _ codec: Codec, route name: String, parameters: [String: String], body: [UInt8]
    ) {
        let route = codec.routes.first { $0.name == name }!
        let request = InboundRequest(
            method: route.method ?? .post, path: "/fuzz", body: body, pathParameters: parameters)
        do {
            let decoded = try codec.decode(request, route: route, catalog: catalog)
            for case .move(let batch) in decoded.commands {
                for item in batch.items where !item.quantity.isPositive {
                    fatalError("\(codec.dialect) accepted a quantity of \(item.quantity)")
                }
            }
        } catch {
            let response = codec.encode(error, route: route, context: nil)
            if response.status.code >= 500 {
                fatalError("\(codec.dialect) answered \(response.status.code) to bad input")
            }
        }
    }
}

#if FUZZING
    /// The function libFuzzer calls with each input.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        guard let start else { return 0 }
        FuzzTarget.run(Array(UnsafeBufferPointer(start: start, count: count)))
        return 0
    }

    /// libFuzzer's entry for programs that keep their own `main` (SwiftPM renames it).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

@main
struct DecoderFuzzMain {
    static func main() {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            let status = LLVMFuzzerRunDriver(&argc, &argv) { start, count in fuzzOne(start, count) }
            exit(status)
        #else
            var replayed = 0
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                FuzzTarget.run(Array(data))
                replayed += 1
            }
            if FuzzTarget.name.hasPrefix("http") {
                HTTPFuzz.checkLedger()
                print(
                    "replayed \(replayed) inputs without a finding (\(HTTPFuzz.answered.load(ordering: .relaxed)) answered)"
                )
            } else {
                print("replayed \(replayed) inputs without a finding")
            }
        #endif
    }
}
