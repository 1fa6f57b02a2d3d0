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

    @Test("unknown keys and sections are refused with their line", arguments: [
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
}
