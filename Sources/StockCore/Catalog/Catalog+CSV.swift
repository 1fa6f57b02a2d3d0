/// A reason the catalog files cannot be used, as `file:line: what is wrong`.
public struct CatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file):\(line): \(message)" }
}

extension Catalog {
    public static let productColumns = [
        "key", "sku", "colleqtive_product_number", "storefeeder_id", "zettle_product_uuid", "zettle_variant_uuid",
        "name",
    ]
    public static let locationColumns = [
        "key", "kind", "colleqtive_store", "colleqtive_location_code", "colleqtive_stock_pool", "storefeeder_id",
        "storefeeder_reference", "storefeeder_warehouse", "zettle_uuid", "open2b_role",
    ]

    /// Parses and validates the two catalog files.
    ///
    /// Header row required, columns in any order, unknown columns refused, an empty cell
    /// means "not mapped". Every problem is reported with its file and line.
    /// - Parameters:
    ///   - productsCSV: the text of `products.csv`.
    ///   - locationsCSV: the text of `locations.csv`.
    ///   - productsFile: the name used in error messages for the products file.
    ///   - locationsFile: the name used in error messages for the locations file.
    public static func parse(
        productsCSV: String, locationsCSV: String, productsFile: String = "products.csv",
        locationsFile: String = "locations.csv"
    ) throws(CatalogError) -> Catalog {
        var catalog = Catalog()
        let productTable = try Table(text: productsCSV, file: productsFile, known: productColumns, required: ["key"])
        var seen = Uniqueness(file: productsFile)
        for row in productTable.rows {
            let product = try productTable.product(row)
            try seen.claim("key", product.key, line: row.line)
            if let sku = product.sku { try seen.claim("sku", sku, line: row.line) }
            try seen.claim("Colleqtive product number", product.effectiveColleqtiveNumber, line: row.line)
            if let id = product.storefeederID { try seen.claim("storefeeder_id", id, line: row.line) }
            if let variant = product.zettleVariantUUID {
                try seen.claim("zettle_variant_uuid", variant, line: row.line)
            }
            catalog.add(product)
        }

        let locationTable = try Table(
            text: locationsCSV, file: locationsFile, known: locationColumns, required: ["key", "kind"])
        seen = Uniqueness(file: locationsFile)
        for row in locationTable.rows {
            let location = try locationTable.location(row)
            try seen.claim("key", location.key, line: row.line)
            if let store = location.colleqtiveStore, let code = location.colleqtiveLocationCode {
                let pool = location.colleqtiveStockPool.map(String.init) ?? "-"
                try seen.claim("Colleqtive store/location/stock pool", "\(store)/\(code)/\(pool)", line: row.line)
            }
            if let id = location.storefeederID { try seen.claim("storefeeder_id", id, line: row.line) }
            if let reference = location.storefeederReference {
                let warehouse = location.storefeederWarehouse?.lowercased() ?? "-"
                try seen.claim(
                    "storefeeder_reference in its warehouse", "\(reference.lowercased())/\(warehouse)", line: row.line)
            }
            if let uuid = location.zettleUUID { try seen.claim("zettle_uuid", uuid, line: row.line) }
            if let role = location.open2bRole { try seen.claim("open2b_role", role.rawValue, line: row.line) }
            catalog.add(location)
        }
        return catalog
    }
}

/// One CSV file with its header resolved.
private struct Table {
    let file: String
    let columns: [String: Int]
    let rows: [CSV.Row]

    init(text: String, file: String, known: [String], required: [String]) throws(CatalogError) {
        self.file = file
        let parsed: [CSV.Row]
        do {
            parsed = try CSV.parse(text)
        } catch {
            throw CatalogError(file: file, line: error.line, message: error.message)
        }
        guard let header = parsed.first else {
            throw CatalogError(file: file, line: 1, message: "empty file: a header row is required")
        }
        var columns: [String: Int] = [:]
        for (index, rawName) in header.cells.enumerated() {
            let name = rawName.trimmingSpaces().lowercased()
            guard known.contains(name) else {
                throw CatalogError(
                    file: file, line: header.line,
                    message: "unknown column '\(rawName)' (expected some of: \(known.joined(separator: ", ")))")
            }
            guard columns[name] == nil else {
                throw CatalogError(file: file, line: header.line, message: "column '\(name)' appears twice")
            }
            columns[name] = index
        }
        for name in required where columns[name] == nil {
            throw CatalogError(file: file, line: header.line, message: "missing required column '\(name)'")
        }
        for row in parsed.dropFirst() where row.cells.count != header.cells.count {
            throw CatalogError(
                file: file, line: row.line,
                message: "\(row.cells.count) cells where the header has \(header.cells.count)")
        }
        self.columns = columns
        self.rows = Array(parsed.dropFirst())
    }

    /// The trimmed cell of a column, nil when the column is absent or the cell empty.
    func cell(_ row: CSV.Row, _ column: String) -> String? {
        guard let index = columns[column] else { return nil }
        let value = row.cells[index].trimmingSpaces()
        return value.isEmpty ? nil : value
    }

    func fail(_ row: CSV.Row, _ message: String) -> CatalogError {
        CatalogError(file: file, line: row.line, message: message)
    }

    func uuid(_ row: CSV.Row, _ column: String) throws(CatalogError) -> String? {
        guard let value = cell(row, column) else { return nil }
        guard UUIDText.isValid(value) else { throw fail(row, "malformed UUID '\(value)' in \(column)") }
        return value.lowercased()
    }

    func key(_ row: CSV.Row) throws(CatalogError) -> String {
        guard let key = cell(row, "key") else { throw fail(row, "empty key") }
        guard key.utf8.count <= 128, !key.contains(where: { $0.isNewline || $0 == "\t" }) else {
            throw fail(row, "key '\(key)' is longer than 128 bytes or contains a line break")
        }
        return key
    }

    func product(_ row: CSV.Row) throws(CatalogError) -> Product {
        let product = Product(
            key: try key(row), sku: cell(row, "sku"), colleqtiveProductNumber: cell(row, "colleqtive_product_number"),
            storefeederID: cell(row, "storefeeder_id"), zettleProductUUID: try uuid(row, "zettle_product_uuid"),
            zettleVariantUUID: try uuid(row, "zettle_variant_uuid"), name: cell(row, "name"))
        if (product.zettleProductUUID == nil) != (product.zettleVariantUUID == nil) {
            throw fail(row, "zettle_product_uuid and zettle_variant_uuid must be given together")
        }
        if let sku = product.sku, sku.count > 32 {
            throw fail(row, "sku '\(sku)' is longer than 32 characters (Open2b's limit)")
        }
        return product
    }

    func location(_ row: CSV.Row) throws(CatalogError) -> Location {
        let key = try key(row)
        let kindText = cell(row, "kind") ?? ""
        guard let kind = LocationKind(rawValue: kindText.lowercased()) else {
            throw fail(
                row,
                "unknown kind '\(kindText)' (expected one of: \(LocationKind.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        var pool: Int?
        if let poolText = cell(row, "colleqtive_stock_pool") {
            guard let value = Int32(poolText) else {
                throw fail(row, "colleqtive_stock_pool '\(poolText)' is not a 32-bit integer")
            }
            pool = Int(value)
        }
        var role: Open2bRole?
        if let roleText = cell(row, "open2b_role") {
            guard let value = Open2bRole(rawValue: roleText.lowercased()) else {
                throw fail(row, "unknown open2b_role '\(roleText)' (expected stock, in or out)")
            }
            role = value
        }
        let location = Location(
            key: key, kind: kind, colleqtiveStore: cell(row, "colleqtive_store"),
            colleqtiveLocationCode: cell(row, "colleqtive_location_code"), colleqtiveStockPool: pool,
            storefeederID: cell(row, "storefeeder_id"), storefeederReference: cell(row, "storefeeder_reference"),
            storefeederWarehouse: cell(row, "storefeeder_warehouse"), zettleUUID: try uuid(row, "zettle_uuid"),
            open2bRole: role)
        if (location.colleqtiveLocationCode != nil || location.colleqtiveStockPool != nil)
            && location.colleqtiveStore == nil
        {
            throw fail(row, "a Colleqtive location code or stock pool needs colleqtive_store")
        }
        if location.colleqtiveStore != nil && location.colleqtiveLocationCode == nil {
            throw fail(row, "colleqtive_store needs colleqtive_location_code")
        }
        if let reference = location.storefeederReference, reference.lowercased() == "unspecified", kind != .outside {
            throw fail(row, "the StoreFeeder reference 'Unspecified' belongs to an outside location, not \(kind.rawValue)")
        }
        if location.storefeederWarehouse != nil && location.storefeederReference == nil {
            throw fail(row, "storefeeder_warehouse needs storefeeder_reference")
        }
        if role == .stock && kind != .stock {
            throw fail(row, "open2b_role stock must be on a stock location, not \(kind.rawValue)")
        }
        if (role == .in || role == .out) && kind == .stock {
            throw fail(row, "open2b_role \(role!.rawValue) must be on a supplier, sold, bin or outside location")
        }
        if location.zettleUUID != nil && kind == .outside {
            throw fail(row, "zettle_uuid on an outside location: Zettle has STORE, SUPPLIER, SOLD and BIN only")
        }
        return location
    }
}

/// Remembers values that must be unique within one file and where they were first seen.
private struct Uniqueness {
    let file: String
    var seen: [String: Int] = [:]

    init(file: String) { self.file = file }

    mutating func claim(_ what: String, _ value: String, line: Int) throws(CatalogError) {
        let slot = what + "\u{0}" + value
        if let first = seen[slot] {
            throw CatalogError(file: file, line: line, message: "duplicate \(what) '\(value)' (first on line \(first))")
        }
        seen[slot] = line
    }
}

/// UUID text in the 8-4-4-4-12 hex form.
public enum UUIDText {
    public static func isValid(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if index == 8 || index == 13 || index == 18 || index == 23 {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)) {
                return false
            }
        }
        return true
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
