import AsyncHTTPClient
import Foundation
import GatewayTestSupport
import TestSupport
import Testing

/// The operator's page in a real browser (issue 17): Debian's Chromium, headless, loads
/// `/stockgate/console` from the executable serving data, signs in with HTTP Basic, and its
/// DOM and a screenshot are kept (`.build/operator-page.png`).
@Suite("Operator page in Chromium", .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct BrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(
        "the page loads in headless Chromium with the data, behind the clients' credentials",
        .enabled(if: chromium != nil, "needs Chromium: apt-get install chromium (scripts/install-deps test)"))
    func page() async throws {
        let browser = try #require(Self.chromium)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "ops-page-secret\n".write(toFile: directory + "/ops.secret", atomically: true, encoding: .utf8)
        try """
        clients:
          - name: ops
            secret_file: \(directory)/ops.secret
            dialects: [stockgate]
            roles: [operator]
        """.write(toFile: directory + "/config.yaml", atomically: true, encoding: .utf8)
        let (process, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/data", arguments: ["--config", directory + "/config.yaml"])
        defer { process.terminate() }
        let base = "http://127.0.0.1:\(port)"
        try await StockGateProcess.waitUntilHealthy(base)
        for (product, quantity) in [("mug-black", "12"), ("tshirt-blue-m", "3")] {
            let moved = try await HTTPClient.shared.send(
                .POST, base + "/stockgate/v1/movements",
                body:
                    #"{"movements": [{"product": "\#(product)", "quantity": \#(quantity), "from": "supplier", "to": "shop-floor"}]}"#,
                headers: [("Authorization", "Bearer ops-page-secret")])
            #expect(moved.status == 200, "\(moved.text)")
        }

        let signedIn = "http://ops:ops-page-secret@127.0.0.1:\(port)/stockgate/console"
        let screenshot = StockGateProcess.repository.appendingPathComponent(".build/operator-page.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        // One browser run: the DOM as rendered, and a screenshot of it.
        let dom = try await Self.run(
            browser, ["--dump-dom", "--screenshot=\(screenshot)", "--window-size=1280,1400", signedIn],
            profile: directory + "/profile")
        #expect(dom.contains(#"<span class="status-ok" id="status">ok</span>"#), "\(dom)")
        #expect(dom.contains("<td>mug-black</td><td class=\"n\">12</td>"), "\(dom)")
        #expect(dom.contains("<td>tshirt-blue-m</td><td class=\"n\">3</td>"), "\(dom)")
        #expect(dom.contains("<td>stockgate</td><td>embedded</td>"), "movements with the dialect they arrived in")
        #expect(dom.contains("None: every forwarded movement"), "no unknown outcome")

        // Issue 33: at a phone's width, filtered and paused; its screenshot kept beside the other.
        let phone = StockGateProcess.repository.appendingPathComponent(".build/operator-page-phone.png").path
        try? FileManager.default.removeItem(atPath: phone)
        let narrow = try await Self.run(
            browser,
            [
                "--dump-dom", "--screenshot=\(phone)", "--window-size=390,1400",
                signedIn + "?dialect=stockgate&state=applied&refresh=off",
            ], profile: directory + "/profile-phone")
        #expect(narrow.contains(#"<form method="get" action="" class="filters">"#), "\(narrow)")
        #expect(narrow.contains("refresh paused"), "\(narrow)")
        #expect(narrow.contains("<td>stockgate</td><td>embedded</td>"), "the filter lets the stockgate rows through")
        let phoneImage = try #require(FileManager.default.contents(atPath: phone), "no phone screenshot written")
        #expect(phoneImage.count > 5_000, "a rendered page: \(phoneImage.count) bytes")

        // Without the credentials the browser is asked to sign in (headless, nobody answers the
        // prompt) and is shown none of the data.
        let anonymous = try await Self.run(
            browser, ["--dump-dom", base + "/stockgate/console"], profile: directory + "/profile-anonymous")
        #expect(!anonymous.contains("mug-black") && !anonymous.contains("<table"), "\(anonymous)")

        let image = try #require(FileManager.default.contents(atPath: screenshot), "no screenshot written")
        #expect(Array(image.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        #expect(image.count > 10_000, "a rendered page, not a blank one: \(image.count) bytes")
    }

    /// Chromium headless with a profile of its own; what it prints on standard output.
    static func run(_ browser: String, _ arguments: [String], profile: String) async throws -> String {
        let process = try ChildProcess(
            browser,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)",
            ] + arguments, output: .standardOutput)
        // A browser that hangs is stopped, and the test fails on its status.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            process.send(SIGKILL)
        }
        let output = await process.readOutputToEnd()
        let status = await process.exit()
        watchdog.cancel()
        guard status == 0 else { throw TestFailure("chromium exited \(status): \(output)") }
        return output
    }
}
