/// A product of the catalog, with the identifier each dialect calls it by.
///
/// Immutable and shared, like `Location`: a lookup costs one retain, not a copy.
public final class Product: Sendable, Equatable {
    /// The canonical identity.
    public let key: String
    /// What Open2b and StoreFeeder (IDType `SKU`) call the product.
    public let sku: String?
    public let colleqtiveProductNumber: String?
    public let storefeederID: String?
    /// Lowercase UUID text.
    public let zettleProductUUID: String?
    /// Lowercase UUID text.
    public let zettleVariantUUID: String?
    public let name: String?

    public init(
        key: String, sku: String? = nil, colleqtiveProductNumber: String? = nil, storefeederID: String? = nil,
        zettleProductUUID: String? = nil, zettleVariantUUID: String? = nil, name: String? = nil
    ) {
        self.key = key
        self.sku = sku
        self.colleqtiveProductNumber = colleqtiveProductNumber
        self.storefeederID = storefeederID
        self.zettleProductUUID = zettleProductUUID
        self.zettleVariantUUID = zettleVariantUUID
        self.name = name
    }

    /// The Colleqtive product number: the mapped one, else the sku, else the key.
    public var effectiveColleqtiveNumber: String { colleqtiveProductNumber ?? sku ?? key }

    public static func == (lhs: Product, rhs: Product) -> Bool {
        lhs === rhs
            || (lhs.key == rhs.key && lhs.sku == rhs.sku && lhs.colleqtiveProductNumber == rhs.colleqtiveProductNumber
                && lhs.storefeederID == rhs.storefeederID && lhs.zettleProductUUID == rhs.zettleProductUUID
                && lhs.zettleVariantUUID == rhs.zettleVariantUUID && lhs.name == rhs.name)
    }
}
