import Dialects
import Foundation
import StockCore
import Testing

/// The catalog files with every vendor's columns and checks (each vendor folder's
/// `<Vendor>+Catalog.swift`), as `stockgate serve` loads them.
@Suite("Catalog loading")
struct CatalogTests {
    static let productsHeader =
        "key,sku,colleqtive_product_number,storefeeder_id,zettle_product_uuid,zettle_variant_uuid,name"
    static let locationsHeader =
        "key,kind,colleqtive_store,colleqtive_location_code,colleqtive_stock_pool,storefeeder_id,storefeeder_reference,storefeeder_warehouse,zettle_uuid,open2b_role"
    static let goodProducts = """
        \(productsHeader)
        p1,SKU1,,11,65314d7e-5f0f-11ec-bf63-0242ac130002,78194842-5f0f-11ec-bf63-0242ac130002,"Shirt, blue"
        p2,SKU2,200,12,,,Mug
        """
    static let goodLocations = """
        \(locationsHeader)
        shop,stock,1001,FLOOR,,5431,pb1,Default Warehouse,89ac1e4a-5f0f-11ec-bf63-0242ac130002,stock
        shop-pool,stock,1001,FLOOR,2,5432,,,,
        supplier,supplier,1001,IN,,,,,,in
        sold,sold,,,,,,,,out
        outside,outside,,,,,Unspecified,,,
        """

    static let repoMappings = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("mappings")

    @Test("a valid catalog loads with every lookup")
    func valid() throws {
        let catalog = try Catalog.parse(productsCSV: Self.goodProducts, locationsCSV: Self.goodLocations)
        #expect(catalog.products.count == 2)
        #expect(catalog.product(key: "p1")?.name == "Shirt, blue")
        #expect(catalog.product(sku: "SKU2")?.key == "p2")
        #expect(catalog.product(colleqtiveNumber: "SKU1")?.key == "p1")  // sku stands in
        #expect(catalog.product(colleqtiveNumber: "200")?.key == "p2")
        #expect(catalog.product(storefeederID: "12")?.key == "p2")
        #expect(catalog.product(zettleVariant: "78194842-5F0F-11EC-BF63-0242AC130002")?.key == "p1")
        #expect(catalog.location(colleqtiveStore: "1001", code: "FLOOR", stockPool: nil)?.key == "shop")
        #expect(catalog.location(colleqtiveStore: "1001", code: "FLOOR", stockPool: 2)?.key == "shop-pool")
        #expect(catalog.location(colleqtiveStore: "1001", code: "FLOOR", stockPool: 3) == nil)
        #expect(catalog.locations(storefeederReference: "PB1", warehouse: "default warehouse").map(\.key) == ["shop"])
        #expect(catalog.location(open2bRole: .stock)?.key == "shop")
        #expect(catalog.location(open2bRole: .out)?.key == "sold")
        #expect(catalog.location(zettleUUID: "89AC1E4A-5F0F-11EC-BF63-0242AC130002")?.key == "shop")
        #expect(catalog.colleqtiveStores == ["1001"])
    }

    @Test("columns may come in any order and be left out")
    func columnOrder() throws {
        let catalog = try Catalog.parse(
            productsCSV: "name,key\nMug,m1\n", locationsCSV: "kind,key\nstock,a\r\nsold,b\r\n")
        #expect(catalog.product(key: "m1")?.name == "Mug")
        #expect(catalog.location(key: "b")?.kind == .sold)
    }

    @Test("the shipped demo catalog is valid")
    func demoCatalog() throws {
        let products = try String(contentsOf: Self.repoMappings.appendingPathComponent("products.csv"), encoding: .utf8)
        let locations = try String(
            contentsOf: Self.repoMappings.appendingPathComponent("locations.csv"), encoding: .utf8)
        let catalog = try Catalog.parse(productsCSV: products, locationsCSV: locations)
        #expect(catalog.location(open2bRole: .stock) != nil)
        #expect(catalog.location(open2bRole: .in) != nil)
        #expect(catalog.location(open2bRole: .out) != nil)
        for kind in LocationKind.allCases {
            #expect(catalog.locations.contains { $0.kind == kind }, "demo catalog lacks a \(kind) location")
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var products: String = CatalogTests.goodProducts
        var locations: String = CatalogTests.goodLocations
        var file: String
        var line: Int
        var message: String
        var testDescription: String { name }
    }

    static let invalidCases: [Case] = [
        Case(
            name: "empty products file", products: "", file: "products.csv", line: 1,
            message: "empty file: a header row is required"),
        Case(
            name: "missing key column", products: "sku,name\nA,B\n", file: "products.csv", line: 1,
            message: "missing required column 'key'"),
        Case(
            name: "missing kind column", locations: "key\nshop\n", file: "locations.csv", line: 1,
            message: "missing required column 'kind'"),
        Case(
            name: "unknown column", products: "key,colour\nA,red\n", file: "products.csv", line: 1,
            message: "unknown column 'colour' (expected some of: \(Catalog.productColumns.joined(separator: ", ")))"),
        Case(
            name: "column twice", products: "key,sku,sku\nA,B,C\n", file: "products.csv", line: 1,
            message: "column 'sku' appears twice"),
        Case(
            name: "ragged row", products: "key,sku\nA,B\nC\n", file: "products.csv", line: 3,
            message: "1 cells where the header has 2"),
        Case(
            name: "duplicate product key", products: "key,sku\nA,S1\nB,S2\nA,S3\n", file: "products.csv", line: 4,
            message: "duplicate key 'A' (first on line 2)"),
        Case(
            name: "duplicate sku", products: "key,sku\nA,S1\nB,S1\n", file: "products.csv", line: 3,
            message: "duplicate sku 'S1' (first on line 2)"),
        Case(name: "empty key", products: "key,sku\n,S1\n", file: "products.csv", line: 2, message: "empty key"),
        Case(
            name: "malformed product UUID",
            products:
                "key,zettle_product_uuid,zettle_variant_uuid\nA,not-a-uuid,78194842-5f0f-11ec-bf63-0242ac130002\n",
            file: "products.csv", line: 2, message: "malformed UUID 'not-a-uuid' in zettle_product_uuid"),
        Case(
            name: "variant without product",
            products: "key,zettle_variant_uuid\nA,78194842-5f0f-11ec-bf63-0242ac130002\n",
            file: "products.csv", line: 2, message: "zettle_product_uuid and zettle_variant_uuid must be given together"
        ),
        Case(
            name: "unterminated quote", products: "key,name\nA,\"open\n", file: "products.csv", line: 2,
            message: "unterminated quoted field"),
        Case(
            name: "duplicate location key", locations: "key,kind\na,stock\na,sold\n", file: "locations.csv", line: 3,
            message: "duplicate key 'a' (first on line 2)"),
        Case(
            name: "unknown kind", locations: "key,kind\na,shelf\n", file: "locations.csv", line: 2,
            message: "unknown kind 'shelf' (expected one of: stock, supplier, sold, bin, outside)"),
        Case(
            name: "malformed location UUID",
            locations: "key,kind,zettle_uuid\na,stock,89ac1e4a-5f0f-11ec-bf63-0242ac13000\n",
            file: "locations.csv", line: 2,
            message: "malformed UUID '89ac1e4a-5f0f-11ec-bf63-0242ac13000' in zettle_uuid"),
        Case(
            name: "two stock roles", locations: "key,kind,open2b_role\na,stock,stock\nb,stock,stock\n",
            file: "locations.csv", line: 3,
            message: "duplicate open2b_role 'stock' (first on line 2)"),
        Case(
            name: "stock role on a sink", locations: "key,kind,open2b_role\na,sold,stock\n", file: "locations.csv",
            line: 2,
            message: "open2b_role stock must be on a stock location, not sold"),
        Case(
            name: "unknown role", locations: "key,kind,open2b_role\na,stock,main\n", file: "locations.csv", line: 2,
            message: "unknown open2b_role 'main' (expected stock, in or out)"),
        Case(
            name: "Unspecified on a stock location", locations: "key,kind,storefeeder_reference\na,stock,Unspecified\n",
            file: "locations.csv", line: 2,
            message: "the StoreFeeder reference 'Unspecified' belongs to an outside location, not stock"),
        Case(
            name: "stock pool not an integer",
            locations: "key,kind,colleqtive_store,colleqtive_location_code,colleqtive_stock_pool\na,stock,1,X,two\n",
            file: "locations.csv", line: 2, message: "colleqtive_stock_pool 'two' is not a 32-bit integer"),
        Case(
            name: "duplicate Colleqtive location",
            locations: "key,kind,colleqtive_store,colleqtive_location_code\na,stock,1,X\nb,stock,1,X\n",
            file: "locations.csv", line: 3,
            message: "duplicate Colleqtive store/location/stock pool '1/X/-' (first on line 2)"),
        Case(
            name: "Colleqtive code without store", locations: "key,kind,colleqtive_location_code\na,stock,X\n",
            file: "locations.csv", line: 2, message: "a Colleqtive location code or stock pool needs colleqtive_store"),
        Case(
            name: "duplicate StoreFeeder id", locations: "key,kind,storefeeder_id\na,stock,1\nb,stock,1\n",
            file: "locations.csv", line: 3, message: "duplicate storefeeder_id '1' (first on line 2)"),
        Case(
            name: "duplicate Zettle UUID",
            locations:
                "key,kind,zettle_uuid\na,stock,89ac1e4a-5f0f-11ec-bf63-0242ac130002\nb,sold,89AC1E4A-5F0F-11EC-BF63-0242AC130002\n",
            file: "locations.csv", line: 3,
            message: "duplicate zettle_uuid '89ac1e4a-5f0f-11ec-bf63-0242ac130002' (first on line 2)"),
    ]

    @Test("every kind of invalid file gives its file:line error", arguments: invalidCases)
    func invalid(_ testCase: Case) {
        #expect {
            try Catalog.parse(productsCSV: testCase.products, locationsCSV: testCase.locations)
        } throws: { error in
            guard let error = error as? CatalogError else { return false }
            #expect(error.description == "\(testCase.file):\(testCase.line): \(testCase.message)")
            return true
        }
    }
}
