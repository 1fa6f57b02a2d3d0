import Foundation
import Gateway
import GatewayTestSupport
import Testing

@Suite("Configuration file")
struct ConfigFileTests {
    /// A config file on disk, for the settings that name it.
    static func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stockgate-\(UUID().uuidString).yaml")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("settings layer: a flag over STOCKGATE_* over the file's server section over the default")
    func layers() throws {
        let path = try Self.write(
            """
            server:
              host: 127.0.0.2
              port: 9090
              data_dir: /var/lib/stockgate
              max_body_bytes: 1000
              idle_timeout_seconds: 5
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = try ServeSettings.read(
            flags: .init(["port": "7070", "config": path]),
            environment: [
                "STOCKGATE_PORT": "6060", "STOCKGATE_DATA_DIR": "/srv/stockgate", "STOCKGATE_MAX_JSON_DEPTH": "8",
                "STOCKGATE_HOST": "", "UNRELATED": "x",
            ])
        let configuration = settings.configuration
        #expect(configuration.port == 7070)  // the flag over the variable and the file
        #expect(configuration.dataDirectory == "/srv/stockgate")  // the variable over the file
        #expect(configuration.host == "127.0.0.2")  // an empty variable is unset: the file's
        #expect(configuration.maxBodyBytes == 1000 && configuration.idleTimeout == .seconds(5))  // the file's
        #expect(configuration.maxJSONDepth == 8)  // a file-only key set by its variable
        #expect(configuration.mappingsDirectory == GatewayConfiguration().mappingsDirectory)  // the default
        #expect(settings.logLevel == .info && !settings.testReset)
    }

    @Test("a wrong value is refused naming the key, every place it can come from, and the file's line")
    func wrongValue() throws {
        let path = try Self.write("server:\n  host: 127.0.0.1\n  port: eighty\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(
            throws: CommandError(
                "port must be an integer 0 to 65535, got 'eighty' (from --port, STOCKGATE_PORT or server.port, \(path):3)"
            )
        ) {
            try ServeSettings.read(flags: .init(["config": path]), environment: [:])
        }
        #expect(
            throws: CommandError(
                "max_batch_items must be an integer 1 to 1000000, got '0' (from STOCKGATE_MAX_BATCH_ITEMS or server.max_batch_items)"
            )
        ) {
            try ServeSettings.read(flags: .init([:]), environment: ["STOCKGATE_MAX_BATCH_ITEMS": "0"])
        }
        #expect { _ = try ConfigFile.parse("server:\n  port: [1, 2]\n") } throws: { error in
            "\(error)" == "config:2: 'server.port' must be a single value"
        }
    }

    @Test("no client credentials on a public address is refused unless anonymous callers are allowed")
    func anonymousRefused() throws {
        #expect(throws: CommandError.self) {
            try ServeSettings.read(flags: .init(["host": "0.0.0.0"]), environment: [:])
        }
        #expect(
            try ServeSettings.read(flags: .init(["host": "0.0.0.0"]), environment: ["STOCKGATE_ALLOW_ANONYMOUS": "1"])
                .configuration.host == "0.0.0.0")
    }

    @Test("an empty file is an empty configuration")
    func empty() throws {
        #expect(try ConfigFile.parse("") == ConfigFile())
    }

    @Test(
        "unknown keys and sections are refused with their line",
        arguments: [
            ("server:\n  hots: x\n", "config:2: unknown key 'server.hots'"),
            ("servers:\n  host: x\n", "config:1: unknown section 'servers'"),
        ])
    func unknownKeys(_ yaml: String, _ message: String) {
        #expect {
            try ConfigFile.parse(yaml)
        } throws: { error in
            (error as? ConfigFile.Error)?.description == message
        }
    }

    @Test("a route may be strict, in the long form; a wrong strict value or key is refused with its line")
    func strictRoutes() throws {
        let yaml = """
            backends:
              - name: shop
                dialect: open2b-v6
                base_url: http://127.0.0.1:9
            routes:
              colleqtive: {backend: shop, strict: true}
              zettle: shop
              default:
                backend: shop
                strict: true
            """
        let config = try ConfigFile.parse(yaml)
        #expect(config.routes == ["colleqtive": "shop", "zettle": "shop", "default": "shop"])
        #expect(config.strictRoutes == ["colleqtive", "default"])
        #expect(config.isStrict("colleqtive"))
        #expect(!config.isStrict("zettle"))  // its own route, not strict
        #expect(config.isStrict("storefeeder"))  // by `default`
        #expect {
            try ConfigFile.parse(yaml.replacingOccurrences(of: "strict: true}", with: "strict: maybe}"))
        } throws: { error in
            (error as? ConfigFile.Error)?.description == "config:6: routes.colleqtive.strict must be true or false"
        }
        #expect {
            try ConfigFile.parse(yaml.replacingOccurrences(of: "strict: true}", with: "strcit: true}"))
        } throws: { error in
            (error as? ConfigFile.Error)?.description == "config:6: unknown key 'routes.colleqtive.strcit'"
        }
    }

    @Test("a file that is not a mapping is refused")
    func wrongType() {
        #expect(throws: ConfigFile.Error.self) { try ConfigFile.parse("- a\n- b\n") }
    }

    @Test(
        "dialect settings are the keys each dialect declares; a wrong one is refused with its line or reason",
        arguments: [
            (
                "dialects:\n  zettle:\n    organizaton_uuid: x\n",
                "config:3: unknown key 'dialects.zettle.organizaton_uuid'"
            ),
            ("dialects:\n  storefeeder:\n    x: y\n", "config:2: unknown key 'dialects.storefeeder'"),
            (
                "dialects:\n  zettle:\n    organization_uuid: not-a-uuid\n",
                "config: dialects.zettle.organization_uuid is not a UUID: 'not-a-uuid'"
            ),
        ])
    func dialectSettings(_ yaml: String, _ message: String) {
        #expect {
            try ConfigFile.parse(yaml)
        } throws: { error in
            (error as? ConfigFile.Error)?.description == message
        }
    }

    @Test("a valid dialect setting reaches the configuration; a backend key belongs to its dialect only")
    func dialectSettingApplied() throws {
        let path = try Self.write("dialects:\n  zettle:\n    organization_uuid: 0b7c8a3e-0000-4000-8000-000000000001\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try ServeSettings.read(flags: .init(["config": path]), environment: [:]).configuration
        #expect(configuration.dialectSettings["zettle"]?["organization_uuid"] == "0b7c8a3e-0000-4000-8000-000000000001")
        let backend = try ConfigFile.parse(
            "backends:\n  - name: pos\n    dialect: zettle\n    base_url: http://127.0.0.1:1\n    zettle_organization: abc\n"
        )
        #expect(backend.backends.first?.parameters == ["zettle_organization": "abc"])
        #expect(throws: ConfigFile.Error.self) {
            try ConfigFile.parse(
                "backends:\n  - name: shop\n    dialect: open2b-v6\n    base_url: http://127.0.0.1:1\n    zettle_organization: abc\n"
            )
        }
    }
}
