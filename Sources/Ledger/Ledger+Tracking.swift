import GRDB
import StockCore

extension Ledger {
    /// Starts or stops tracking products (catalog keys), durably. Unknown keys are refused.
    public func setTracking(products: [String], tracked: Bool) async throws {
        for product in products where catalog.product(key: product) == nil {
            throw GatewayError.notFound("unknown product '\(product)'", field: "product")
        }
        let now = Int64((clock().timeIntervalSince1970 * 1000).rounded())
        try await write { db in
            for product in products {
                try db.execute(
                    sql: """
                        INSERT INTO tracking (product, tracked, changed_at) VALUES (?, ?, ?)
                        ON CONFLICT(product) DO UPDATE SET tracked = excluded.tracked, changed_at = excluded.changed_at
                        """,
                    arguments: [product, tracked ? 1 : 0, now])
            }
        }
    }

    /// The products whose tracking is stopped.
    public func untrackedProducts() async throws -> Set<String> {
        try await writer.read { db in
            Set(try String.fetchAll(db, sql: "SELECT product FROM tracking WHERE tracked = 0"))
        }
    }
}
