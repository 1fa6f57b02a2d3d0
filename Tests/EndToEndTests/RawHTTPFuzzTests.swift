import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import Ledger
import StockCore
import TestSupport
import Testing

/// Raw HTTP/1.1 requests, mutated, through the whole server pipeline on a real socket: what an
/// attacker reaches before any codec. Seeded (the same inputs every run) and bounded (a few
/// hundred requests, a short body timeout), so it runs in `swift test`; the coverage-guided
/// search over the same pipeline is the libFuzzer target `STOCKGATE_FUZZ_TARGET=http` of `stockgate-fuzz` (`scripts/fuzz`),
/// whose corpus is replayed here.
@Suite("Raw HTTP fuzz")
struct RawHTTPFuzzTests {
    static let seeds: [String] = [
        "POST /stockgate/v1/movements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 86\r\n\r\n{\"movements\": [{\"product\": \"mug-white\", \"quantity\": 1, \"from\": \"supplier\", \"to\": \"shop-floor\"}]}",
        "POST /api/v2/public/stores/1001/storeproductlocation/movement?AppUserName=jane HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"pr\r\n0\r\n\r\n",
        "POST /stocklocations/create-transfers HTTP/1.1\r\nHost: x\r\nContent-Type: text/json\r\nContent-Length: 2\r\n\r\n[]",
        "POST /api/v6/commerce.movements.create HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k1\r\nContent-Length: 52\r\n\r\n{\"movement\": {\"sku\": \"sku5\", \"adjustment\": \"1.00\"}}",
        "PUT /organizations/self/inventory HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"changes\": []}",
        "GET /stockgate/v1/balances?product=mug-white HTTP/1.1\r\nHost: x\r\nX-Request-Id: r1\r\n\r\n",
        "GET /organizations/self/inventory/locations/89ac1e4a-5f0f-11ec-bf63-0242ac130002 HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    static let splices: [[UInt8]] = [
        "\r\n", "\r", "\n", "\u{0}", ":", " ", "Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
        "Content-Length: 99999999999999999999\r\n", "Host: y\r\n", "Expect: 100-continue\r\n", "%00", "%", "?", "/../",
        "\u{FF}\u{FE}", "HTTP/1.0", "Connection: keep-alive\r\n", "-1", "ffffffffffffffff\r\n",
    ].map { Array($0.utf8) }

    static func mutate(_ seed: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard !bytes.isEmpty else { break }
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 1: bytes.insert(contentsOf: splices.randomElement(using: &random)!, at: at)
            case 2: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &random)))
            case 3: bytes = Array(bytes.prefix(at))
            default: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 16)], at: at)
            }
        }
        return bytes
    }

    /// Sends raw bytes, half-closes, and reads what comes back within `seconds`.
    static func exchange(_ bytes: [UInt8], port: Int, seconds: Int = 2) -> String {
        guard let client = try? RawClient(port: port, timeoutSeconds: seconds) else { return "connect failed" }
        client.send(bytes: bytes)
        client.finishSending()
        return client.readToEnd()
    }

    @Test("mutated raw requests never get a 5xx, never take the server down, never apply a bad movement")
    func mutatedRequests() async throws {
        try await LiveGateway.run(configure: { $0.requestTimeout = .seconds(1) }) { live in
            var random = SeededGenerator(seed: 0x5EED_4711)
            var inputs: [[UInt8]] = []
            for _ in 0..<300 {
                inputs.append(Self.mutate(Array(Self.seeds.randomElement(using: &random)!.utf8), using: &random))
            }
            let port = live.port
            let answers = await withTaskGroup(of: [String].self) { group in
                for slice in stride(from: 0, to: inputs.count, by: 20).map({
                    Array(inputs[$0..<min(inputs.count, $0 + 20)])
                }) {
                    group.addTask { await offPool { slice.map { Self.exchange($0, port: port) } } }
                }
                var all: [String] = []
                for await part in group { all += part }
                return all
            }
            #expect(answers.count == inputs.count)
            // Most mutated requests are still answered (the rest are closed on): the inputs reach the pipeline.
            let answered = answers.filter { $0.hasPrefix("HTTP/1.") }.count
            #expect(answered > inputs.count / 2, "only \(answered) of \(inputs.count) answered")
            for answer in answers {
                // Every status line in the answer (pipelined requests may get several).
                for line in answer.components(separatedBy: "\r\n") where line.hasPrefix("HTTP/1.") {
                    let status = Int(line.dropFirst(9).prefix(3)) ?? 0
                    #expect(status < 500, "\(line)")
                }
            }
            let health = try await HTTPClient.shared.send(.GET, live.baseURL + "/healthz")
            #expect(health.status == 200)
            for movement in try await live.ledger.movements(MovementQuery()) {
                #expect(movement.quantity.isPositive)
                #expect(demoCatalog.product(key: movement.product) != nil)
            }
        }
    }

    @Test(
        "the libFuzzer corpora kept in the repository replay without a finding (decoders, backend answers, raw HTTP)",
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: StockGateProcess.fuzzBinary),
            "needs .build/debug/stockgate-fuzz: swift build --build-tests"))
    func corpusReplays() async throws {
        let repository = StockGateProcess.repository
        for target in ["decoders", "answers", "http", "http-forward"] {
            let binary = StockGateProcess.fuzzBinary
            let corpus = target == "http-forward" ? "http" : target
            let directory = repository.appendingPathComponent("Tests/FuzzCorpus/\(corpus)").path
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map {
                directory + "/" + $0
            }
            #expect(!files.isEmpty)
            let process = try ChildProcess(
                binary, files,
                environment: [
                    "STOCKGATE_FUZZ_TARGET": target,
                    "STOCKGATE_MAPPINGS": repository.appendingPathComponent("mappings").path,
                ], output: .standardOutput)
            let text = await process.readOutputToEnd()
            await process.exit()
            #expect(process.terminationStatus == 0, "\(target): \(text)")
            #expect(text.contains("replayed \(files.count) inputs without a finding"), "\(target): \(text)")
            if target.hasPrefix("http") {
                // Each seed is a well-formed request: all reach the pipeline and are answered.
                #expect(text.contains("(\(files.count) answered)"), "\(text)")
            }
        }
    }
}
