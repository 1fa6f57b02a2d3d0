import Foundation
import StockCore

/// Reads the catalog files from a mappings directory.
public enum CatalogLoader {
    /// Loads and validates `products.csv` and `locations.csv` from `directory`.
    /// - Throws: `CatalogError` as `path:line: what is wrong`.
    public static func load(directory: String) throws(CatalogError) -> Catalog {
        let productsPath = (directory as NSString).appendingPathComponent("products.csv")
        let locationsPath = (directory as NSString).appendingPathComponent("locations.csv")
        let products = try read(productsPath)
        let locations = try read(locationsPath)
        return try Catalog.parse(
            productsCSV: products, locationsCSV: locations, productsFile: productsPath, locationsFile: locationsPath)
    }

    private static func read(_ path: String) throws(CatalogError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CatalogError(file: path, line: 0, message: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CatalogError(file: path, line: 0, message: "the file is not UTF-8")
        }
        return text
    }
}
