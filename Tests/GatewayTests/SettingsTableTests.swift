import Foundation
import GatewayTestSupport
import Testing

@testable import Gateway

/// Issue 30: a server setting was named in six places. `Setting.all` is the one list; these
/// check that each place reads it.
@Suite("Settings, named once")
struct SettingsTableTests {
    static let docs = StockGateProcess.repository.appendingPathComponent("docs/configuration.md")

    @Test("docs/configuration.md's table is the one Setting.all gives")
    func docsTable() throws {
        let text = try String(contentsOf: Self.docs, encoding: .utf8)
        let table = Setting.markdownTable
        #expect(text.contains(table), "replace the settings table in docs/configuration.md with:\n\(table)")
    }

    @Test("the config file knows exactly the file's settings; every flag and variable reads its setting")
    func everyPlace() throws {
        #expect(Set(ConfigFile.serverKeys) == Set(Setting.all.filter { $0.place == .server }.map(\.key)))
        #expect(ServeSettings.flagKeys.contains("port") && !ServeSettings.flagKeys.contains("pool_size"))
        // Every setting given by its variable is read, and a wrong value names the variable.
        for setting in Setting.all where setting.place != .storageFileOnly {
            let wrong: String =
                switch setting.kind {
                case .integer, .seconds: "not-a-number"
                case .choice: "no-such-choice"
                case .text, .flag: ""
                }
            guard !wrong.isEmpty else { continue }
            let environment = [setting.variable: wrong]
            #expect(throws: CommandError.self, "\(setting.key)") {
                _ = try ServeSettings.read(flags: ServeSettings.Flags([:]), environment: environment)
            }
            do {
                _ = try ServeSettings.read(flags: ServeSettings.Flags([:]), environment: environment)
            } catch {
                #expect(error.description.contains(setting.variable), "\(error.description)")
            }
        }
    }

    @Test("what a reload applies and what waits for a restart is the schema's")
    func effectiveValues() throws {
        let settings = try ServeSettings.read(
            flags: ServeSettings.Flags(["port": "9001"], enableFaults: true),
            environment: ["STOCKGATE_MAX_BATCH_ITEMS": "50", "STOCKGATE_DATABASE": "postgres://u:pw@h/db"])
        #expect(settings.effective["port"] == "9001" && settings.effective["max_batch_items"] == "50")
        #expect(settings.effective["enable_faults"] == "on" && settings.effective["enable_webhooks"] == "off")
        let listing = Setting.listing(settings.effective)
        #expect(listing.contains("setting database = (set)"), "a secret is never printed: \(listing)")
        #expect(!listing.joined().contains("pw"))
        #expect(listing.contains("setting host = 127.0.0.1 (default)"))
        #expect(Setting.named("max_batch_items").reloadable && !Setting.named("port").reloadable)
    }
}
