/// The products and locations StockGate knows, and every dialect's name for each.
///
/// Built once at start from `mappings/products.csv` and `mappings/locations.csv`
/// (see `Catalog+CSV.swift`) and read-only afterwards, so it is shared freely.
public struct Catalog: Sendable {
    public private(set) var products: [Product] = []
    public private(set) var locations: [Location] = []

    private var productsByKey: [String: Int] = [:]
    private var productsBySKU: [String: Int] = [:]
    private var productsByColleqtive: [String: Int] = [:]
    private var productsByStorefeederID: [String: Int] = [:]
    private var productsByZettleVariant: [String: Int] = [:]
    private var locationsByKey: [String: Int] = [:]
    private var locationsByStorefeederID: [String: Int] = [:]
    /// Case-folded StoreFeeder reference → the locations with it (one per warehouse).
    private var locationsByStorefeederReference: [String: [Int]] = [:]
    private var locationsByZettle: [String: Int] = [:]

    /// An empty catalog.
    public init() {}

    /// Builds a catalog from validated values. Use `Catalog.parse` for files; this one is for
    /// code and tests and trusts that keys are unique.
    public init(products: [Product], locations: [Location]) {
        for product in products { add(product) }
        for location in locations { add(location) }
    }

    mutating func add(_ product: Product) {
        let index = products.count
        products.append(product)
        productsByKey[product.key] = index
        if let sku = product.sku { productsBySKU[sku] = index }
        productsByColleqtive[product.effectiveColleqtiveNumber] = index
        if let id = product.storefeederID { productsByStorefeederID[id] = index }
        if let variant = product.zettleVariantUUID { productsByZettleVariant[variant] = index }
    }

    mutating func add(_ location: Location) {
        let index = locations.count
        locations.append(location)
        locationsByKey[location.key] = index
        if let id = location.storefeederID { locationsByStorefeederID[id] = index }
        if let reference = location.storefeederReference {
            locationsByStorefeederReference[reference.caseFolded, default: []].append(index)
        }
        if let uuid = location.zettleUUID { locationsByZettle[uuid] = index }
    }

    // MARK: Products

    public func product(key: String) -> Product? { productsByKey[key].map { products[$0] } }
    public func product(sku: String) -> Product? { productsBySKU[sku].map { products[$0] } }
    public func product(colleqtiveNumber: String) -> Product? {
        productsByColleqtive[colleqtiveNumber].map { products[$0] }
    }
    public func product(storefeederID: String) -> Product? {
        productsByStorefeederID[storefeederID].map { products[$0] }
    }
    /// The product with this Zettle variant (case-insensitive UUID).
    public func product(zettleVariant: String) -> Product? {
        productsByZettleVariant[zettleVariant.caseFolded].map { products[$0] }
    }

    // MARK: Locations

    public func location(key: String) -> Location? { locationsByKey[key].map { locations[$0] } }
    public func location(storefeederID: String) -> Location? {
        locationsByStorefeederID[storefeederID].map { locations[$0] }
    }
    /// The location with this Zettle UUID (case-insensitive).
    public func location(zettleUUID: String) -> Location? {
        locationsByZettle[zettleUUID.caseFolded].map { locations[$0] }
    }

    /// The Colleqtive store numbers the catalog knows, in catalog order.
    public var colleqtiveStores: [String] {
        var seen = Set<String>()
        return locations.compactMap(\.colleqtiveStore).filter { seen.insert($0).inserted }
    }

    /// Locations of a Colleqtive store, in catalog order.
    public func locations(colleqtiveStore store: String) -> [Location] {
        locations.filter { $0.colleqtiveStore == store }
    }

    /// The location for a Colleqtive store, code and optional stock pool. Without a pool, the
    /// location with that code and no pool wins, else the only one with that code.
    public func location(colleqtiveStore store: String, code: String, stockPool: Int?) -> Location? {
        let candidates = locations.filter { $0.colleqtiveStore == store && $0.colleqtiveLocationCode == code }
        if let stockPool { return candidates.first { $0.colleqtiveStockPool == stockPool } }
        if let unpooled = candidates.first(where: { $0.colleqtiveStockPool == nil }) { return unpooled }
        return candidates.count == 1 ? candidates[0] : nil
    }

    /// Locations with this StoreFeeder reference (case-insensitive), optionally within a warehouse.
    public func locations(storefeederReference reference: String, warehouse: String? = nil) -> [Location] {
        guard let indices = locationsByStorefeederReference[reference.caseFolded] else { return [] }
        return indices.compactMap { index in
            let location = locations[index]
            guard let warehouse else { return location }
            return location.storefeederWarehouse?.caseInsensitiveEquals(warehouse) == true ? location : nil
        }
    }

    /// The location playing `role` in Open2b's view.
    public func location(open2bRole role: Open2bRole) -> Location? {
        locations.first { $0.open2bRole == role }
    }

    /// The first location of a kind (Zettle's STORE is the first stock location with a UUID).
    public func firstLocation(kind: LocationKind, where predicate: (Location) -> Bool = { _ in true }) -> Location? {
        locations.first { $0.kind == kind && predicate($0) }
    }
}

extension String {
    /// The string lowercased, for case-insensitive keys and UUIDs: itself, without a copy, when it is
    /// ASCII with no uppercase letter (UUIDs, most references).
    public var caseFolded: String {
        utf8.contains(where: { $0 >= 0x80 || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) }) ? lowercased() : self
    }

    func caseInsensitiveEquals(_ other: String) -> Bool {
        caseFolded == other.caseFolded
    }
}
