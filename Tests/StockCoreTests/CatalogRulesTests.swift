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

/// The lookups that scan column names instead of hashing them, and the folding check that reads
/// eight bytes at a time, against the plain definitions.
@Suite("Catalog lookups")
struct CatalogLookupTests {
    @Test("a column's value is found by its exact name, whatever the names' lengths and order")
    func columnsByName() {
        // Names of equal length that differ late, a prefix of another, an empty one, non-ASCII.
        let identifiers = [
            "zettle_variant_uuid": "v", "zettle_product_uuid": "p", "sku": "s", "sk": "t", "": "e", "größe": "g",
        ]
        let product = Product(key: "k", identifiers: identifiers)
        let location = Location(key: "k", kind: .stock, identifiers: identifiers)
        // The dictionary is derived from the list kept for lookups, and equality follows it.
        #expect(product.identifiers == identifiers && location.identifiers == identifiers)
        #expect(product == Product(key: "k", identifiers: identifiers))
        #expect(product != Product(key: "k", identifiers: identifiers.merging(["sku": "other"]) { $1 }))
        #expect(location != Location(key: "k", kind: .stock, identifiers: identifiers.filter { $0.key != "" }))
        for name in Array(identifiers.keys) + ["zettle_variant_uuiD", "skus", "s", "grösse", "x"] {
            #expect(product[name] == identifiers[name], "\(name)")
            #expect(location[name] == identifiers[name], "\(name)")
        }
        let catalog = Catalog(
            products: [product, Product(key: "k2", identifiers: ["sku": "S2"])], locations: [location],
            caseInsensitiveColumns: ["sku"])
        #expect(catalog.product("sku", "s2")?.key == "k2")
        #expect(catalog.product("sk", "t")?.key == "k")
        #expect(catalog.product("zettle_product_uuid", "v") == nil)
        #expect(catalog.location("größe", "g")?.key == "k")
        #expect(catalog.location("grösse", "g") == nil)
    }

    @Test("a string is its own case fold exactly when it is ASCII without an uppercase letter, at every position")
    func plainLowercase() {
        // Every byte value at every position of strings that span one word, two, and a tail.
        for length in [1, 7, 8, 9, 16, 17] {
            for position in 0..<length {
                for byte in UInt8(0x01)...UInt8(0xFF) {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = byte
                    let expected = !(byte >= 0x80 || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")))
                    let found = bytes.withUnsafeBytes { String.isPlainLowercase($0) }
                    #expect(found == expected, "byte \(byte) at \(position) of \(length)")
                }
            }
        }
        #expect("65314d7e-5f0f-11ec-bf63-0242ac130002".caseFolded == "65314d7e-5f0f-11ec-bf63-0242ac130002")
        #expect("65314D7E-5F0F-11EC-BF63-0242AC130002".caseFolded == "65314d7e-5f0f-11ec-bf63-0242ac130002")
        #expect("Straße".caseFolded == "straße")
        #expect("".caseFolded == "")
    }
}
