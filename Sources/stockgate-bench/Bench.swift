import Dialects
import Foundation
import Ledger
import Logging
import StockCore

/// Micro-benchmarks that need no network (codec throughput, embedded-ledger commits), and
/// `hop-floor`, the one-thread libcurl forwarder the hop is measured against (`HopFloor`).
/// `scripts/bench` builds this in release and prints its lines in the benchmark table.
@main
struct Bench {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.contains("hop-floor") {
            let port = arguments.first { $0.hasPrefix("--port=") }.flatMap { UInt16($0.dropFirst(7)) }
            let backend = arguments.first { $0.hasPrefix("--backend=") }.map { String($0.dropFirst(10)) }
            guard let port, let backend else {
                throw HopFloorError(message: "hop-floor needs --port=PORT and --backend=URL")
            }
            try HopFloor(port: port, backend: backend).run()
        }
        let mappings = arguments.first { $0.hasPrefix("--mappings=") }.map { String($0.dropFirst(11)) } ?? "mappings"
        let catalog = try Catalog.parse(
            productsCSV: String(contentsOfFile: mappings + "/products.csv", encoding: .utf8),
            locationsCSV: String(contentsOfFile: mappings + "/locations.csv", encoding: .utf8))
        if arguments.contains("codec") { codec(catalog) }
        if arguments.contains("ledger") { try await ledger(catalog) }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: Codecs

    static func colleqtiveBody(_ count: Int) -> [UInt8] {
        let item =
            #"{"product_number": "100200", "quantity": 2.5, "from_location": {"location_code": "INBOUND"}, "to_location": {"location_code": "SHOPFLOOR"}, "reason_code": "DELIVERY"}"#
        return Array(("[" + Array(repeating: item, count: count).joined(separator: ",") + "]").utf8)
    }

    static func storefeederBody(_ count: Int) -> [UInt8] {
        let item =
            #"{"ProductIDType": {"IDType": "SKU", "Value": "sku5"}, "StockLocationFrom": {"IDType": "StockLocationReference", "Value": "Unspecified"}, "StockLocationTo": {"IDType": "ID", "Value": "5431"}, "TransferAmount": 3, "ImmediateTransfer": true}"#
        return Array(("[" + Array(repeating: item, count: count).joined(separator: ",") + "]").utf8)
    }

    static func zettleBody(_ count: Int) -> [UInt8] {
        let item =
            #"{"productUuid": "65314d7e-5f0f-11ec-bf63-0242ac130002", "variantUuid": "78194842-5f0f-11ec-bf63-0242ac130002", "fromLocationUuid": "c1a0b7e2-5f0f-11ec-bf63-0242ac130002", "toLocationUuid": "89ac1e4a-5f0f-11ec-bf63-0242ac130002", "change": 42}"#
        return Array(#"{"changes": ["#.utf8) + Array(Array(repeating: item, count: count).joined(separator: ",").utf8)
            + Array("]}".utf8)
    }

    static func canonicalBody(_ count: Int) -> [UInt8] {
        let item = #"{"product": "mug-white", "quantity": "1.5", "from": "supplier", "to": "shop-floor"}"#
        return Array(#"{"atomic": true, "movements": ["#.utf8)
            + Array(Array(repeating: item, count: count).joined(separator: ",").utf8) + Array("]}".utf8)
    }

    /// Decode a vendor request, translate through the catalog, encode for another dialect.
    static func measure<Codec: InboundCodec>(
        _ name: String, _ inbound: Codec, route: String, parameters: [String: String], body: [UInt8], items: Int,
        to outbound: any OutboundCodec, catalog: Catalog
    ) {
        // `--codec-cells=storefeeder->zettle/1000` picks cells (for profiling one of them).
        if let picked = CommandLine.arguments.first(where: { $0.hasPrefix("--codec-cells=") }),
            !picked.dropFirst("--codec-cells=".count).split(separator: ",").contains(Substring("\(name)/\(items)"))
        {
            return
        }
        let route = inbound.routes.first { $0.name == route }!
        let request = InboundRequest(method: route.method ?? .post, path: "/", body: body, pathParameters: parameters)
        func once() -> Int {
            guard case .move(let batch)? = try? inbound.decode(request, route: route, catalog: catalog).commands.first
            else {
                fatalError("\(name) did not decode")
            }
            let plan = MovePlan.make(batch, codec: outbound, catalog: catalog)
            for chunk in plan.chunks {
                _ = try? outbound.moveRequest(
                    chunk.map { batch.items[$0] }, catalog: catalog, idempotencyKey: nil, atomic: true)
            }
            return batch.items.count
        }
        // `--codec-requests=N`: exactly N requests, no clock (for instruction counts under callgrind).
        if let fixed = CommandLine.arguments.first(where: { $0.hasPrefix("--codec-requests=") })
            .flatMap({ Int($0.dropFirst("--codec-requests=".count)) })
        {
            var movements = 0
            for _ in 0..<fixed { movements += once() }
            print("codec  \(name)  items=\(items)  movements=\(movements)")
            return
        }
        // Five rounds of 0.4 s: the best round is the code's speed (interference from a shared
        // machine only ever slows a round down); the median shows how noisy the run was.
        var rates: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<5 {
            var movements = 0
            let started = clock.now
            var elapsed = Duration.zero
            while elapsed < .milliseconds(400) {
                for _ in 0..<max(1, 2000 / items) { movements += once() }
                elapsed = clock.now - started
            }
            rates.append(Double(movements) / seconds(elapsed))
        }
        rates.sort()
        print("codec  \(name)  items=\(items)  movements_per_second=\(Int(rates.last!))  median=\(Int(rates[2]))")
    }

    static func codec(_ catalog: Catalog) {
        for items in [1, 1000] {
            measure(
                "colleqtive->storefeeder", ColleqtiveCodec(), route: "movement.create",
                parameters: ["store_number": "1001"],
                body: colleqtiveBody(items), items: items, to: StoreFeederOutbound(), catalog: catalog)
            measure(
                "storefeeder->zettle", StoreFeederCodec(), route: "transfers.create", parameters: [:],
                body: storefeederBody(items), items: items, to: ZettleOutbound(), catalog: catalog)
            measure(
                "zettle->colleqtive", ZettleCodec(), route: "inventory.update", parameters: ["org": "self"],
                body: zettleBody(items), items: items, to: ColleqtiveOutbound(), catalog: catalog)
            measure(
                "stockgate->open2b-v6", CanonicalCodec(), route: "movements.create", parameters: [:],
                body: canonicalBody(items), items: items, to: Open2bOutbound(version: .v6), catalog: catalog)
        }
    }

    // MARK: Ledger

    static func ledger(_ catalog: Catalog) async throws {
        // `--ledger-cells=16x1,16x100` picks cells (for profiling one of them).
        let picked = CommandLine.arguments.first { $0.hasPrefix("--ledger-cells=") }.map {
            $0.dropFirst("--ledger-cells=".count).split(separator: ",").map(String.init)
        }
        let cells = [(1, 1), (16, 1), (1, 100), (16, 100)].filter { picked?.contains("\($0.0)x\($0.1)") ?? true }
        for (clients, batchSize) in cells {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "stockgate-bench-\(UUID().uuidString)"
            ).path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var logger = Logger(label: "stockgate.bench")
            logger.logLevel = .warning
            let ledger = try Ledger.open(directory: directory, catalog: catalog, logger: logger)
            let clock = ContinuousClock()
            let commitsBefore = ledger.commitCount
            let started = clock.now
            let perClient = batchSize == 1 ? 1000 : 60
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in 0..<clients {
                    group.addTask {
                        for index in 0..<perClient {
                            let items = (0..<batchSize).map { _ in
                                Movement(
                                    product: "mug-white", quantity: Quantity(1), from: "supplier", to: "shop-floor")
                            }
                            _ = try await ledger.move(
                                MoveBatch(items: items, atomicity: .allOrNothing),
                                facts: RequestFacts(dialect: "bench", requestID: "b\(client)-\(index)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = seconds(clock.now - started)
            let movements = clients * perClient * batchSize
            let commits = ledger.commitCount - commitsBefore
            try ledger.close()
            print(
                "ledger  clients=\(clients)  batch=\(batchSize)  movements_per_second=\(Int(Double(movements) / elapsed))"
                    + "  requests_per_second=\(Int(Double(clients * perClient) / elapsed))"
                    + "  transactions_per_second=\(Int(Double(commits) / elapsed))")
        }
    }
}
