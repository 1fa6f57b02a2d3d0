import ContractTesting
import Foundation
import GatewayTestSupport
import StockCore
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `stockgate contract-test` as CI runs it (issue 15): exit codes, output formats, skipping
/// what a target cannot do, every difference of a case.
@Suite(
    "contract-test in CI", .serialized, .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct ContractTestCommandTests {
    static let cases = StockGateProcess.repository.appendingPathComponent("contract-tests").path
    static let mappings = StockGateProcess.repository.appendingPathComponent("mappings").path

    /// Runs the command; its standard output and exit status.
    static func contractTest(_ arguments: [String]) async throws -> (output: String, status: Int32) {
        let process = try ChildProcess(
            StockGateProcess.binary, ["contract-test"] + arguments + ["--mappings", mappings],
            output: .standardOutput)
        let output = await process.readOutputToEnd()
        return (output, await process.exit())
    }

    /// Issue 32: the JUnit report was refused by the Jenkins xunit schema (no `errors` on the
    /// suite), drift notes were in neither JUnit nor GitHub output, annotations had no `file=`.
    @Test(
        "the JUnit report validates against the Jenkins xunit JUnit schema, drift notes in system-out; GitHub annotations name the case's file"
    )
    func junitValid() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let schema = StockGateProcess.repository.appendingPathComponent("Tests/Schemas/junit-jenkins-xunit.xsd").path
        func valid(_ file: String) async throws -> (Bool, String) {
            let process = try ChildProcess(
                "/usr/bin/xmllint", ["--noout", "--schema", schema, file], output: .both)
            let text = await process.readOutputToEnd()
            return (await process.exit() == 0, text)
        }
        // The binary's own report, over real cases.
        let (_, status) = try await Self.contractTest([
            Self.cases, "--filter", "zettle/00", "--junit", directory + "/cases.xml",
        ])
        #expect(status == 0)
        let (casesValid, casesText) = try await valid(directory + "/cases.xml")
        #expect(casesValid, "\(casesText)")
        // Every kind of outcome: passed, failed, skipped, with drift notes.
        var drifted = ContractResult(name: "zettle/900-drift.json", failures: [], seconds: 0.01)
        drifted.notes = ["$.newMember: not expected"]
        let results = [
            ContractResult(name: "zettle/901-ok.json", failures: [], seconds: 0.02),
            ContractResult(name: "zettle/902-bad.json", failures: ["status 500, expected 200 <&>"], seconds: 0.03),
            ContractResult(name: "zettle/903-skip.json", failures: [], skipped: "needs faults", seconds: 0),
            drifted,
        ]
        let xml = results.junit()
        try xml.write(toFile: directory + "/kinds.xml", atomically: true, encoding: .utf8)
        let (kindsValid, kindsText) = try await valid(directory + "/kinds.xml")
        #expect(kindsValid, "\(kindsText)\n\(xml)")
        #expect(xml.contains("<system-out>drift:\n$.newMember: not expected</system-out>"), "\(xml)")
        let github = results.github(directory: "contract-tests")
        #expect(
            github.contains("::error file=contract-tests/zettle/902-bad.json,title=zettle/902-bad.json::"), "\(github)")
        #expect(github.contains("::warning file=contract-tests/zettle/900-drift.json"), "\(github)")
        #expect(github.contains("::notice file=contract-tests/zettle/903-skip.json"), "\(github)")
    }

    /// Issue 32: `--intents` ignored `--format`, `--junit` and `--filter` (no file, exit 0), and
    /// `--losses` ignored `--format json`.
    @Test(
        "--intents and --losses refuse options they would not honour, exit 64 (usage), writing no file",
        arguments: [
            ["--intents", "--format", "json"], ["--intents", "--junit", "/tmp/stockgate-intents-junit.xml"],
            ["--intents", "--filter", "restock"], ["--losses", "--format", "json"],
            ["--losses", "--junit", "/tmp/x.xml"],
        ])
    func modesRefuseWhatTheyIgnore(arguments: [String]) async throws {
        try? FileManager.default.removeItem(atPath: "/tmp/stockgate-intents-junit.xml")
        let (output, status) = try await Self.contractTest([Self.cases] + arguments)
        #expect(status == 64, "\(arguments): \(output)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/stockgate-intents-junit.xml"))
    }

    @Test("against a target without the reset API, exactly the cases that need it are skipped, with reasons; exit 0")
    func skipsWhatTheTargetLacks() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (server, port) = try await StockGateProcess.start(dataDirectory: directory)  // no --enable-test-reset
        defer { server.terminate() }
        let (output, status) = try await Self.contractTest([
            Self.cases, "--target", "http://127.0.0.1:\(port)", "--format", "json",
        ])
        #expect(status == 0, "\(output.suffix(2000))")
        let report = try JSONParser.parse(Array(output.utf8))
        let needing = Set(try ContractCase.load(directory: Self.cases).filter { !$0.needs.isEmpty }.map(\.name))
        let entries = try #require(report["cases"]?.arrayValue)
        var skipped: Set<String> = []
        for entry in entries {
            let name = try #require(entry["name"]?.stringValue)
            if entry["status"] == "skipped" {
                skipped.insert(name)
                #expect(entry["reason"]?.stringValue?.contains("--enable-test-reset") == true, "\(entry)")
            } else {
                #expect(entry["status"] == "passed", "\(entry)")
            }
        }
        #expect(skipped == needing)
        #expect(report["failed"] == 0)
        #expect(report["skipped"]?.numberText == String(needing.count))
        #expect(entries.count - skipped.count >= 30, "too few cases ran against the bare dialect")
    }

    @Test("a selection that matches no case exits 2 (the run cannot start); an unknown dialect or format 64 (usage)")
    func emptySelectionIsAnError() async throws {
        for (arguments, expected) in [
            (["--filter", "no-such-case"], Int32(2)), (["--dialect", "nope"], 64), (["--format", "xml"], 64),
        ] {
            let (_, status) = try await Self.contractTest([Self.cases] + arguments)
            #expect(status == expected, "\(arguments)")
        }
    }

    @Test("a failed case reports every difference, exits 1; JSON has the documented shape, JUnit parses")
    func everyDifferenceAndFormats() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/stockgate", withIntermediateDirectories: true)
        // Two wrong members in one answer, and one right case.
        let wrong = #"""
            {"request": {"method": "GET", "path": "/stockgate/v1/locations"},
             "response": {"status": 200, "bodyMatch": "subset",
                          "body": {"locations": {"$each": {"key": {"$pattern": "shop-.*"}, "kind": {"$type": "number"}}}}}}
            """#
        let right = #"""
            {"request": {"method": "GET", "path": "/stockgate/v1/locations"},
             "response": {"status": 200, "bodyMatch": "subset",
                          "body": {"locations": {"$contains": [{"key": "shop-floor", "kind": "stock"}]}}}}
            """#
        try wrong.write(toFile: directory + "/stockgate/001-wrong.json", atomically: true, encoding: .utf8)
        try right.write(toFile: directory + "/stockgate/002-right.json", atomically: true, encoding: .utf8)

        let (json, status) = try await Self.contractTest([directory, "--format", "json"])
        #expect(status == 1, "\(json)")
        let report = try JSONParser.parse(Array(json.utf8))
        // The schema: counts, and per case name, status, seconds, failures (strings), reason only when skipped.
        for key in ["passed", "failed", "skipped"] { #expect(report[key]?.numberText != nil, "\(key)") }
        #expect(report["passed"] == 1 && report["failed"] == 1 && report["skipped"] == 0)
        let entries = try #require(report["cases"]?.arrayValue)
        #expect(entries.count == 2)
        for entry in entries {
            let keys = Set(entry.objectValue?.keys ?? [])
            #expect(keys.isSubset(of: ["name", "status", "seconds", "failures", "reason", "notes"]), "\(keys)")
            #expect(entry["name"]?.stringValue != nil && entry["seconds"]?.numberText != nil)
            #expect(["passed", "failed", "skipped"].contains(entry["status"]?.stringValue ?? ""))
            #expect(entry["failures"]?.arrayValue?.allSatisfy { $0.stringValue != nil } == true)
            #expect((entry["reason"] != nil) == (entry["status"] == "skipped"))
        }
        let failures = entries[0]["failures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // Every location but the shop floor breaks the pattern, and every kind is a string: many
        // differences, all reported, not only the first.
        #expect(failures.contains { $0.contains("$.locations[0].kind: string, expected number") }, "\(failures)")
        #expect(failures.contains { $0.contains("$.locations[1].key: 'back-room' does not match") }, "\(failures)")
        #expect(failures.filter { $0.contains(".kind: string, expected number") }.count >= 5, "\(failures)")

        let (xml, junitStatus) = try await Self.contractTest([directory, "--format", "junit"])
        #expect(junitStatus == 1)
        let parsed = JUnitShape(xml)
        #expect(parsed.valid, "\(xml)")
        #expect(parsed.suiteAttributes["tests"] == "2" && parsed.suiteAttributes["failures"] == "1")
        #expect(parsed.testcases == 2 && parsed.failures == 1)

        let (github, _) = try await Self.contractTest([directory, "--format", "github"])
        #expect(
            github.hasPrefix("::error file=\(directory)/stockgate/001-wrong.json,title=stockgate/001-wrong.json::"),
            "\(github)")
        #expect(github.hasSuffix("1 passed, 1 failed\n"), "\(github)")
    }
}

extension ContractTestCommandTests {
    @Test(
        "--backend: against a configured vendor with its credentials, only side-effect-free and self-compensating cases run; new vendor fields are drift, not failures"
    )
    func againstARealBackend() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The "vendor": a StockGate that only lets a client with its key in (Open2b's X-Key).
        let key = "vendor-key-\(UInt64.random(in: 1...UInt64.max))"
        try key.write(toFile: directory + "/key", atomically: true, encoding: .utf8)
        try """
        clients:
          - name: tester
            dialects: [all]
            secret_file: \(directory)/key
        """.write(toFile: directory + "/vendor.yaml", atomically: true, encoding: .utf8)
        let (vendor, port) = try await StockGateProcess.start(
            dataDirectory: directory + "/vendor-data", arguments: ["--config", directory + "/vendor.yaml"])
        defer { vendor.terminate() }
        try """
        backends:
          - name: shop
            dialect: open2b-v6
            base_url: http://127.0.0.1:\(port)
            auth:
              type: header
              name: X-Key
              value_file: \(directory)/key
        """.write(toFile: directory + "/gateway.yaml", atomically: true, encoding: .utf8)

        let (output, status) = try await Self.contractTest([
            Self.cases, "--backend", "shop", "--config", directory + "/gateway.yaml", "--format", "json",
        ])
        #expect(status == 0, "\(output.suffix(3000))")
        let report = try JSONParser.parse(Array(output.utf8))
        let known = Dictionary(
            uniqueKeysWithValues: try ContractCase.load(directory: Self.cases, dialect: "open2b-v6").map {
                ($0.name, $0)
            })
        let entries = try #require(report["cases"]?.arrayValue)
        #expect(entries.count == known.count, "only the backend's dialect")
        var ran = 0
        for entry in entries {
            let name = try #require(entry["name"]?.stringValue)
            let contract = try #require(known[name])
            if entry["status"] == "skipped" {
                #expect(contract.sideEffects == .unknown || !contract.needs.isEmpty, "\(name) could have run")
            } else {
                ran += 1
                #expect(contract.sideEffects != .unknown && contract.needs.isEmpty, "\(name) ran: \(entry)")
                #expect(entry["status"] == "passed", "\(entry)")
            }
        }
        #expect(ran >= 10, "\(ran) cases ran against the backend")
        #expect(
            entries.contains {
                $0["name"] == "open2b-v6/040-steps-create-get-update-delete.json" && $0["status"] == "passed"
            })

        // A case written before the vendor added `count`: drift, reported, not a failure.
        try FileManager.default.createDirectory(
            atPath: directory + "/cases/open2b-v6", withIntermediateDirectories: true)
        try
            #"{"sideEffects": "none", "request": {"method": "POST", "path": "/api/v6/commerce.movements.count", "body": {}}, "response": {"status": 200, "body": {"status": "ok"}}}"#
            .write(toFile: directory + "/cases/open2b-v6/001-count.json", atomically: true, encoding: .utf8)
        let (drift, driftStatus) = try await Self.contractTest([
            directory + "/cases", "--backend", "shop", "--config", directory + "/gateway.yaml",
        ])
        #expect(driftStatus == 0, "\(drift)")
        #expect(drift.contains("PASS open2b-v6/001-count.json\n    drift: $.count: not expected"), "\(drift)")

        // Without the vendor's key the same cases fail: the credentials really were sent.
        try "wrong".write(toFile: directory + "/key-wrong", atomically: true, encoding: .utf8)
        try String(contentsOfFile: directory + "/gateway.yaml", encoding: .utf8)
            .replacingOccurrences(of: directory + "/key", with: directory + "/key-wrong")
            .write(toFile: directory + "/gateway.yaml", atomically: true, encoding: .utf8)
        let (_, refused) = try await Self.contractTest([
            directory + "/cases", "--backend", "shop", "--config", directory + "/gateway.yaml",
        ])
        #expect(refused == 1)
    }
}

extension ContractTestCommandTests {
    @Test("--update rewrites a failed case to what was answered, keeping matchers that still match; it passes after")
    func update() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/open2b-v6", withIntermediateDirectories: true)
        let path = directory + "/open2b-v6/001-count.json"
        try
            #"{"request": {"method": "POST", "path": "/api/v6/commerce.movements.count", "body": {}}, "response": {"status": 201, "body": {"status": {"$type": "string"}, "count": 5}}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let (before, failed) = try await Self.contractTest([directory])
        #expect(failed == 1, "\(before)")
        let (output, status) = try await Self.contractTest([directory, "--update"])
        #expect(status == 0, "\(output)")
        let rewritten = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(rewritten["response"]?["status"] == 200)
        #expect(
            rewritten["response"]?["body"] == (try JSONParser.parse(#"{"status": {"$type": "string"}, "count": 0}"#)))
        #expect(
            rewritten["request"]
                == (try JSONParser.parse(#"{"method": "POST", "path": "/api/v6/commerce.movements.count", "body": {}}"#))
        )
        let (after, passes) = try await Self.contractTest([directory])
        #expect(passes == 0, "\(after)")
    }
}

extension ContractTestCommandTests {
    @Test("--diff OLD NEW: exit 0 without a breaking change, 1 with one, 64 without two paths")
    func diff() async throws {
        let same = try await Self.contractTest(["--diff", Self.cases, Self.cases])
        #expect(same.status == 0 && same.output.contains("0 breaking"), "\(same.output.suffix(300))")
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old: JSONValue = [
            "openapi": "3.1.0",
            "paths": ["/a": ["get": ["responses": ["200": ["description": "x"]]]]],
        ]
        try JSONWriter.pretty(old).write(toFile: directory + "/old.json", atomically: true, encoding: .utf8)
        try JSONWriter.pretty(["openapi": "3.1.0", "paths": [:]]).write(
            toFile: directory + "/new.json", atomically: true, encoding: .utf8)
        let gone = try await Self.contractTest(["--diff", directory + "/old.json", directory + "/new.json"])
        #expect(gone.status == 1 && gone.output.contains("BREAKING GET /a: the operation is gone"), "\(gone.output)")
        #expect(try await Self.contractTest(["--diff", Self.cases]).status == 64)
    }

    @Test("--jobs: cases run at once give the same results, reported in case order")
    func jobs() async throws {
        let names = try ContractCase.load(directory: Self.cases, dialect: "open2b-v6").map(\.name)
        let (output, status) = try await Self.contractTest([
            Self.cases, "--dialect", "open2b-v6", "--jobs", "4", "--format", "json",
        ])
        #expect(status == 0, "\(output.suffix(2000))")
        let report = try JSONParser.parse(Array(output.utf8))
        #expect(report["failed"] == 0 && report["passed"]?.numberText == String(names.count))
        #expect(report["cases"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == names)
    }
}

/// Issue 32: with `--jobs N` against one served target, the runner reset the target before
/// every case — also the cases running beside others — so a case's stock vanished between its
/// steps (`colleqtive/034` failed about every second run; at 4 jobs, three cases every run).
/// Now only a case that needs an empty target resets it, and those run one at a time first.
@Suite(
    "contract-test --jobs against one target", .serialized,
    .enabled(if: StockGateProcess.isBuilt, StockGateProcess.notBuilt))
struct ParallelTargetTests {
    @Test("twenty consecutive full runs with --jobs 4 against one served target: all green")
    func twentyRuns() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (server, port) = try await StockGateProcess.start(
            dataDirectory: directory, arguments: ["--enable-test-reset"])
        defer { server.terminate() }
        for run in 1...20 {
            let (output, status) = try await ContractTestCommandTests.contractTest([
                ContractTestCommandTests.cases, "--target", "http://127.0.0.1:\(port)", "--jobs", "4",
            ])
            let failed = output.split(separator: "\n").filter { $0.hasPrefix("FAIL") || $0.hasPrefix("    ") }
            #expect(status == 0, "run \(run): \(failed.prefix(12).joined(separator: "\n"))")
            #expect(output.contains(" 0 failed"), "run \(run): \(output.suffix(300))")
            if status != 0 { break }
        }
    }
}

/// A JUnit report read with a real XML parser.
final class JUnitShape: NSObject, XMLParserDelegate {
    var valid = false
    var suiteAttributes: [String: String] = [:]
    var testcases = 0
    var failures = 0

    init(_ text: String) {
        super.init()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = self
        valid = parser.parse()
    }

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        switch element {
        case "testsuite": suiteAttributes = attributes
        case "testcase": testcases += 1
        case "failure": failures += 1
        default: break
        }
    }
}
