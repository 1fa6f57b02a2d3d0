import TestSupport
import Testing

@testable import StockCore

/// The catalog core knows no vendor: a dialect brings its columns, their reading, lookups
/// that ignore case, uniqueness and row checks.
@Suite("Catalog rules")
struct CatalogRulesTests {
    static let shelfRules = CatalogRules(
        columns: [
            .init("shelf_code", .locations, unique: true, caseInsensitive: true) { text in
                text.count > 4 ? .problem("shelf_code '\(text)' is longer than 4") : .value(text)
            },
            .uuid("shelf_uuid", .products),
        ],
        locationChecks: [{ $0["shelf_code"] != nil && $0.kind != .stock ? "a shelf is a stock location" : nil }])

    @Test("locations by two columns: the two lookups intersected, in catalog order, case folded where the column says")
    func twoColumnLookup() {
        var random = SeededGenerator(seed: 0x2026_1206_19)
        let locations = (0..<60).map { row -> Location in
            var identifiers = ["store": "s\(random.next() % 4)", "code": ["A", "B", "c", "C"][Int(random.next() % 4)]]
            if random.next() % 5 == 0 { identifiers["store"] = nil }
            return Location(key: "l\(row)", kind: .stock, identifiers: identifiers)
        }
        for folded in [Set<String>(), ["code"]] {
            let catalog = Catalog(products: [], locations: locations, caseInsensitiveColumns: folded)
            for store in ["s0", "s1", "s2", "s3", "s9"] {
                for code in ["A", "B", "c", "C", "D"] {
                    let expected = catalog.locations("store", store).filter {
                        catalog.hasLocation("code", code) && catalog.locations("code", code).contains($0)
                    }
                    #expect(catalog.locations("store", store, "code", code) == expected, "\(store) \(code) \(folded)")
                }
            }
        }
    }

    @Test("a dialect's columns are read, indexed and looked up, case-insensitively where it says so")
    func columns() throws {
        let catalog = try Catalog.parse(
            productsCSV: "key,shelf_uuid\nmug,78194842-5F0F-11EC-BF63-0242AC130002\n",
            locationsCSV: "key,kind,shelf_code\na,stock,A1\nb,sold,\n", rules: [Self.shelfRules])
        #expect(catalog.product(key: "mug")?["shelf_uuid"] == "78194842-5f0f-11ec-bf63-0242ac130002")
        #expect(catalog.location("shelf_code", "a1")?.key == "a")
        #expect(catalog.locations("shelf_code", "A1").map(\.key) == ["a"])
        #expect(catalog.filtered(products: { _ in false }).location("shelf_code", "a1")?.key == "a")
    }

    @Test(
        "without the dialect, its column is unknown; with it, its problems name file and line",
        arguments: [
            (
                "key,kind,shelf_code\na,stock,A1\n", [CatalogRules](),
                "locations.csv:1: unknown column 'shelf_code' (expected some of: key, kind)"
            ),
            (
                "key,kind,shelf_code\na,stock,A12345\n", [shelfRules],
                "locations.csv:2: shelf_code 'A12345' is longer than 4"
            ),
            ("key,kind,shelf_code\na,sold,A1\n", [shelfRules], "locations.csv:2: a shelf is a stock location"),
            (
                "key,kind,shelf_code\na,stock,A1\nb,stock,a1\n", [shelfRules],
                "locations.csv:3: duplicate shelf_code 'a1' (first on line 2)"
            ),
        ] as [(String, [CatalogRules], String)])
    func problems(_ locations: String, _ rules: [CatalogRules], _ message: String) {
        #expect {
            try Catalog.parse(productsCSV: "key\n", locationsCSV: locations, rules: rules)
        } throws: { error in
            #expect((error as? CatalogError)?.description == message)
            return error is CatalogError
        }
    }
}
