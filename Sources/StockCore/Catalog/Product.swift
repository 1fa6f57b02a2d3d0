/// A product of the catalog, with the identifier each dialect calls it by.
public struct Product: Sendable, Equatable {
    /// The canonical identity.
    public var key: String
    /// What Open2b and StoreFeeder (IDType `SKU`) call the product.
    public var sku: String?
    public var colleqtiveProductNumber: String?
    public var storefeederID: String?
    /// Lowercase UUID text.
    public var zettleProductUUID: String?
    /// Lowercase UUID text.
    public var zettleVariantUUID: String?
    public var name: String?

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
}
