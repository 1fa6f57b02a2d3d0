import ArgumentParser
import CurlHTTP
import Foundation
import Gateway

/// `stockgate health`: asks a running gateway's `/healthz` — what a container's `HEALTHCHECK`
/// or a load balancer's probe script runs, with no HTTP client in the image.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running gateway whether it is healthy (GET /healthz); exit 0 if it is, 1 if not.",
        discussion: """
            Prints the answer's status and body. Exit 0 on 200; 1 on any other answer or none within
            --timeout seconds. The address defaults to 127.0.0.1 and STOCKGATE_PORT (else 8080).
            """)

    @Option(help: "The gateway's base URL (default: http://127.0.0.1:$STOCKGATE_PORT, port 8080 when unset).")
    var url: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Int = 3

    func run() async throws {
        let port = ProcessInfo.processInfo.environment["STOCKGATE_PORT"].flatMap(Int.init) ?? 8080
        let base = url ?? "http://127.0.0.1:\(port)"
        let client = CurlHTTPClient(configuration: .init(timeout: .seconds(max(1, timeout))))
        let answer: CurlResponse
        do {
            answer = try await client.execute(CurlRequest(url: base + "/healthz"))
        } catch {
            await client.shutdown()
            throw CommandError("no answer from \(base)/healthz: \(error)", exitCode: 1)
        }
        await client.shutdown()
        let body = String(decoding: answer.body.prefix(1000), as: UTF8.self)
        print("\(answer.status) \(body)")
        if answer.status != 200 { throw CommandError("\(base) is not healthy (HTTP \(answer.status))", exitCode: 1) }
    }
}
