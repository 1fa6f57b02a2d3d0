import Gateway
import Testing

@Suite("Configuration file")
struct ConfigFileTests {
    @Test("server keys apply under explicit settings")
    func serverSection() throws {
        let file = try ConfigFile.parse(
            """
            server:
              host: 0.0.0.0
              port: 9090
              data_dir: /var/lib/stockgate
              max_body_bytes: 1000
            """)
        var configuration = GatewayConfiguration()
        configuration.apply(file, explicitlySet: ["port"])
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 8080)  // the flag wins
        #expect(configuration.dataDirectory == "/var/lib/stockgate")
        #expect(configuration.maxBodyBytes == 1000)
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

    @Test("a wrong type is refused")
    func wrongType() {
        #expect(throws: ConfigFile.Error.self) { try ConfigFile.parse("server:\n  port: eighty\n") }
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
        let file = try ConfigFile.parse(
            "dialects:\n  zettle:\n    organization_uuid: 0b7c8a3e-0000-4000-8000-000000000001\n")
        var configuration = GatewayConfiguration()
        configuration.apply(file, explicitlySet: [])
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
