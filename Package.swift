// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "StockGate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stockgate", targets: ["stockgate"]),
        .library(name: "StockCore", targets: ["StockCore"]),
        .library(name: "Dialects", targets: ["Dialects"]),
        .library(name: "Ledger", targets: ["Ledger"]),
        .library(name: "Gateway", targets: ["Gateway"]),
    ],
    traits: [
        // Off by default: the exporter and its protobuf code cost ~7 minutes of a first build.
        .trait(
            name: "OpenTelemetry",
            description: "Export spans over OTLP/HTTP with swift-otel, configured by the OTEL_* variables")
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Spans: the API always (a no-op until a tracer is bootstrapped), the exporter behind the trait.
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // HTTPTypes request and response parts on NIO channels (NIOHTTPTypes).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // A real HTTP client for the contract-test runner and the tests.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The shared store for many gateway instances.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already in the graph through postgres-nio (same address): HMAC for StoreFeeder tokens.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Layered settings: flags, then STOCKGATE_* variables, then the config file.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
    ],
    targets: [
        // Canonical model: no I/O, no networking.
        .target(name: "StockCore"),
        // A task resumed by one of StockGate's own threads may go on on that thread.
        .target(name: "ThreadHandoff"),
        // Pure codecs between HTTP messages and the canonical model, one folder per dialect.
        .target(
            name: "Dialects",
            dependencies: [
                "StockCore",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // HMAC: Zettle's webhook signatures.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libcurl, through typed shims for its variadic calls.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // An async HTTP client on one curl multi handle driven by its own thread.
        .target(
            name: "CurlHTTP",
            dependencies: [
                "CCurl",
                "ThreadHandoff",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // sqlite3_config (variadic, out of Swift's reach): SQLite's process-wide defaults for the ledger.
        .target(name: "CSQLiteTuning", linkerSettings: [.linkedLibrary("sqlite3")]),
        // The embedded backend: a SQLite ledger through GRDB.
        .target(
            name: "Ledger",
            dependencies: [
                "StockCore",
                "ThreadHandoff",
                "CSQLiteTuning",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the journal row's values bound without GRDB's boxing.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The same storage boundary over a shared PostgreSQL: many gateway instances, one truth.
        .target(
            name: "PostgresStore",
            dependencies: [
                "StockCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The connection layer: HTTP/1 framing (a parser of our own) and connection policy on
        // SwiftNIO, handing whole requests to a responder; it knows no endpoint.
        .target(
            name: "HTTPServer",
            dependencies: [
                "StockCore",
                "Dialects",
                "ThreadHandoff",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The simulator: faults played on demand, and Zettle's webhooks (subscriptions and
        // messages in the store, delivered over libcurl, one deliverer per subscriber).
        .target(
            name: "Simulator",
            dependencies: [
                "StockCore",
                "Dialects",
                "CurlHTTP",
                "HTTPServer",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // What an operator reads: the Prometheus metrics and the console's page.
        .target(
            name: "Operations",
            dependencies: [
                "StockCore",
                "Dialects",
                "CurlHTTP",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            plugins: ["BuildStamp"]
        ),
        // The gateway: routes, middleware, the pipeline, backends; it serves the simulator's and
        // the operations' routes.
        .target(
            name: "Gateway",
            dependencies: [
                "StockCore",
                "Dialects",
                "Ledger",
                "CurlHTTP",
                "HTTPServer",
                "Simulator",
                "Operations",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Writes the commit and its date into Operations before each build (`stockgate --version`).
        .plugin(name: "BuildStamp", capability: .buildTool()),
        // The contract-test runner: cases from contract-tests/ against any URL or an in-process gateway.
        .target(
            name: "ContractTesting",
            dependencies: [
                "StockCore",
                "Dialects",
                "Gateway",
                "Ledger",
                "CurlHTTP",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "stockgate",
            dependencies: [
                "Gateway",
                "Dialects",
                "Simulator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "PostgresStore",
                "ContractTesting",
                "CurlHTTP",
                "Ledger",
                "StockCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OpenTelemetry"])),
            ],
            // The Swift driver links executables with -export-dynamic: every public symbol of
            // every module (45,000) went into the dynamic symbol table, which nothing loads
            // symbols from, and its 2.4 MB of tables were resident in every process.
            // lld (the toolchain's, instead of gold) packs the 131,000 PIE relative relocations
            // (DT_RELR, glibc >= 2.36): .rela.dyn 3.1 MB, all read at start, becomes 46 KB.
            // mimalloc (Debian's libmimalloc) takes malloc over for the whole process (the Swift
            // runtime, libcurl, SQLite): a forwarded read calls malloc ~90 times and a write ~220,
            // many of the blocks freed on another thread than made them, and glibc's malloc spent
            // ~8% of a request's instructions on them (BENCHMARKS.md, "The allocator").
            linkerSettings: [
                .unsafeFlags([
                    "-Xlinker", "--no-export-dynamic", "-use-ld=lld", "-Xlinker", "-z", "-Xlinker",
                    "pack-relative-relocs",
                ]),
                .linkedLibrary("mimalloc", .when(platforms: [.linux])),
            ]
        ),
        // libFuzzer targets (scripts/fuzz): the inbound decoders, backend answers, raw HTTP through
        // a whole in-process server; a corpus replayer otherwise.
        .executableTarget(
            name: "stockgate-fuzz",
            dependencies: [
                "Dialects", "StockCore", "Gateway", "Ledger", "CurlHTTP",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Micro-benchmarks for scripts/bench (codec throughput, ledger commits, the hop's floor).
        .executableTarget(
            name: "stockgate-bench",
            dependencies: ["CCurl", "Dialects", "StockCore", "Ledger", .product(name: "Logging", package: "swift-log")]),
        // Helpers shared by the test targets (deterministic randomness, loopback fake upstreams).
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Support"
        ),
        .testTarget(name: "StockCoreTests", dependencies: ["StockCore", "TestSupport"]),
        .testTarget(name: "DialectsTests", dependencies: ["Dialects", "StockCore", "TestSupport"]),
        // The stores the storage-boundary suites run on: SQLite, and PostgreSQL when the run has one.
        .target(
            name: "StoreTestSupport",
            dependencies: [
                "Ledger", "PostgresStore", "StockCore", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/StoreSupport"
        ),
        .testTarget(
            name: "LedgerTests",
            dependencies: [
                "Ledger", "PostgresStore", "StockCore", "TestSupport", "StoreTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "CurlHTTPTests",
            dependencies: [
                "CurlHTTP",
                "ThreadHandoff",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // What the gateway test targets share: a live gateway on loopback, the demo catalog, a
        // manual clock, the built executable as a process.
        .target(
            name: "GatewayTestSupport",
            dependencies: [
                "Gateway", "Dialects", "Ledger", "StockCore", "TestSupport", "CurlHTTP", "Simulator", "Operations",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/GatewaySupport"
        ),
        // End to end: the real executable as a process (kill -9, a second process on one data
        // directory, the fuzz corpora), load, and vendors' own client libraries. Each suite
        // states what it needs when that is missing; CI provides all of it.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Gateway", "Ledger", "StockCore", "Dialects", "CurlHTTP", "TestSupport", "GatewayTestSupport",
                "PostgresStore", "StoreTestSupport", "ContractTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "Ledger", "StockCore", "Dialects", "ContractTesting", "CurlHTTP", "TestSupport",
                "GatewayTestSupport", "StoreTestSupport", "PostgresStore", "HTTPServer", "Simulator", "Operations",
                "ThreadHandoff",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ]
)

// A nonisolated async function runs on its caller's executor (SE-0461): without it each such
// function hopped to the generic executor on entry, and with a task executor preference (the
// connection's event loop) every hop asked for the task's preferred executor under its status
// lock: ~46 switches per forwarded write (BENCHMARKS.md, "Instructions per request").
for target in package.targets where target.type != .system && target.type != .plugin && target.name != "CSQLiteTuning" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
}
