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

/// The catalog columns one vendor's dialects read, and the checks of the rows they are in.
/// Each vendor's folder in `Dialects` declares its own; `Catalog.parse` applies them all.
public struct CatalogRules: Sendable {
    public enum Table: Sendable, Equatable { case products, locations }

    /// What a cell reads as: the value to store, or what is wrong with it.
    public enum Reading: Sendable, Equatable {
        case value(String)
        case problem(String)
    }

    public struct Column: Sendable {
        public let name: String
        public let table: Table
        /// The stored value of a non-empty cell, or what is wrong with it.
        public let read: @Sendable (String) -> Reading
        /// Looked up regardless of case.
        public let caseInsensitive: Bool
        /// Each value at most once in its file.
        public let unique: Bool

        public init(
            _ name: String, _ table: Table, unique: Bool = false, caseInsensitive: Bool = false,
            read: @escaping @Sendable (String) -> Reading = { .value($0) }
        ) {
            self.name = name
            self.table = table
            self.read = read
            self.caseInsensitive = caseInsensitive
            self.unique = unique
        }

        /// A UUID column, stored lowercase.
        public static func uuid(_ name: String, _ table: Table, unique: Bool = false) -> Column {
            Column(name, table, unique: unique) { value in
                UUIDText.isValid(value) ? .value(value.lowercased()) : .problem("malformed UUID '\(value)' in \(name)")
            }
        }
    }

    public var columns: [Column]
    /// Checks of a whole row once its columns are read: nil, or what is wrong.
    public var productChecks: [@Sendable (Product) -> String?]
    public var locationChecks: [@Sendable (Location) -> String?]
    /// Values unique within a file that derive from several columns: (what, value), or nil.
    public var productKeys: [@Sendable (Product) -> (what: String, value: String)?]
    public var locationKeys: [@Sendable (Location) -> (what: String, value: String)?]

    public init(
        columns: [Column], productChecks: [@Sendable (Product) -> String?] = [],
        locationChecks: [@Sendable (Location) -> String?] = [],
        productKeys: [@Sendable (Product) -> (what: String, value: String)?] = [],
        locationKeys: [@Sendable (Location) -> (what: String, value: String)?] = []
    ) {
        self.columns = columns
        self.productChecks = productChecks
        self.locationChecks = locationChecks
        self.productKeys = productKeys
        self.locationKeys = locationKeys
    }
}

extension Catalog {
    /// The columns every catalog has, whatever the dialects.
    public static let coreProductColumns = ["key", "name"]
    public static let coreLocationColumns = ["key", "kind"]

    /// Parses and validates the two catalog files against the vendors' rules.
    ///
    /// Header row required, columns in any order, unknown columns refused, an empty cell
    /// means "not mapped". Every problem is reported with its file and line.
    /// - Parameters:
    ///   - productsCSV: the text of `products.csv`.
    ///   - locationsCSV: the text of `locations.csv`.
    ///   - rules: the columns and checks of every vendor (`DialectRegistry.catalogRules`).
    ///   - productsFile: the name used in error messages for the products file.
    ///   - locationsFile: the name used in error messages for the locations file.
    public static func parse(
        productsCSV: String, locationsCSV: String, rules: [CatalogRules], productsFile: String = "products.csv",
        locationsFile: String = "locations.csv"
    ) throws(CatalogError) -> Catalog {
        var columns: [CatalogRules.Column] = []
        for rule in rules {
            for column in rule.columns
            where !columns.contains(where: { $0.name == column.name && $0.table == column.table }) {
                columns.append(column)
            }
        }
        let productColumns = columns.filter { $0.table == .products }
        let locationColumns = columns.filter { $0.table == .locations }
        var catalog = Catalog(
            products: [], locations: [], caseInsensitiveColumns: Set(columns.filter(\.caseInsensitive).map(\.name)))

        let productTable = try Table(
            text: productsCSV, file: productsFile, known: coreProductColumns + productColumns.map(\.name),
            required: ["key"])
        var seen = Uniqueness(file: productsFile)
        for row in productTable.rows {
            let product = Product(
                key: try productTable.key(row), name: productTable.cell(row, "name"),
                identifiers: try productTable.identifiers(row, productColumns))
            for check in rules.flatMap(\.productChecks) {
                if let problem = check(product) { throw productTable.fail(row, problem) }
            }
            try seen.claim("key", product.key, line: row.line)
            for column in productColumns where column.unique {
                if let value = product[column.name] {
                    try seen.claim(column.name, column.caseInsensitive ? value.caseFolded : value, line: row.line)
                }
            }
            for derived in rules.flatMap(\.productKeys) {
                if let (what, value) = derived(product) { try seen.claim(what, value, line: row.line) }
            }
            catalog.add(product)
        }

        let locationTable = try Table(
            text: locationsCSV, file: locationsFile, known: coreLocationColumns + locationColumns.map(\.name),
            required: ["key", "kind"])
        seen = Uniqueness(file: locationsFile)
        for row in locationTable.rows {
            let key = try locationTable.key(row)
            let kindText = locationTable.cell(row, "kind") ?? ""
            guard let kind = LocationKind(rawValue: kindText.lowercased()) else {
                throw locationTable.fail(
                    row,
                    "unknown kind '\(kindText)' (expected one of: \(LocationKind.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            let location = Location(
                key: key, kind: kind, identifiers: try locationTable.identifiers(row, locationColumns))
            for check in rules.flatMap(\.locationChecks) {
                if let problem = check(location) { throw locationTable.fail(row, problem) }
            }
            try seen.claim("key", location.key, line: row.line)
            for column in locationColumns where column.unique {
                if let value = location[column.name] {
                    try seen.claim(column.name, column.caseInsensitive ? value.caseFolded : value, line: row.line)
                }
            }
            for derived in rules.flatMap(\.locationKeys) {
                if let (what, value) = derived(location) { try seen.claim(what, value, line: row.line) }
            }
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

    /// The vendor columns of a row, each read by its rules.
    func identifiers(_ row: CSV.Row, _ declared: [CatalogRules.Column]) throws(CatalogError) -> [String: String] {
        var values: [String: String] = [:]
        for column in declared {
            guard let text = cell(row, column.name) else { continue }
            switch column.read(text) {
            case .value(let value): values[column.name] = value
            case .problem(let problem): throw fail(row, problem)
            }
        }
        return values
    }

    func key(_ row: CSV.Row) throws(CatalogError) -> String {
        guard let key = cell(row, "key") else { throw fail(row, "empty key") }
        guard key.utf8.count <= 128, !key.contains(where: { $0.isNewline || $0 == "\t" }) else {
            throw fail(row, "key '\(key)' is longer than 128 bytes or contains a line break")
        }
        return key
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
