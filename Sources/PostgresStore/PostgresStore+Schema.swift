import Foundation
import PostgresNIO
import StockCore

extension PostgresStore {
    /// The schema as numbered migrations: append, never edit a shipped one. Those a database
    /// lacks run in one transaction, each number recorded in `stockgate_migration`.
    static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE TABLE movement (
                id BIGSERIAL PRIMARY KEY,
                product TEXT NOT NULL,
                quantity NUMERIC NOT NULL,
                from_location TEXT NOT NULL,
                to_location TEXT NOT NULL,
                reason TEXT,
                reference TEXT,
                description TEXT,
                acting_user TEXT,
                source_system TEXT,
                external_id TEXT,
                created_at BIGINT NOT NULL,
                applied_at BIGINT,
                state TEXT NOT NULL CHECK (state IN ('applied', 'pending', 'reversed', 'sent', 'failed')),
                allow_overage BOOLEAN NOT NULL DEFAULT FALSE,
                extras TEXT,
                reverses BIGINT REFERENCES movement(id),
                dialect TEXT NOT NULL,
                request_id TEXT NOT NULL,
                idempotency_key TEXT,
                backend TEXT
            );
            CREATE INDEX movement_by_product ON movement(product, id);
            CREATE INDEX movement_by_from ON movement(from_location, id);
            CREATE INDEX movement_by_to ON movement(to_location, id);
            CREATE INDEX movement_by_created ON movement(created_at);
            CREATE INDEX movement_by_idempotency_key ON movement(idempotency_key) WHERE idempotency_key IS NOT NULL;
            CREATE INDEX movement_by_backend ON movement(backend, id);
            CREATE TABLE balance (
                product TEXT NOT NULL,
                location TEXT NOT NULL,
                quantity NUMERIC NOT NULL,
                updated_at BIGINT,
                PRIMARY KEY (product, location)
            );
            CREATE TABLE idempotency (
                dialect TEXT NOT NULL,
                key TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                status INTEGER NOT NULL,
                headers TEXT NOT NULL,
                body BYTEA NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (dialect, key)
            );
            CREATE INDEX idempotency_by_age ON idempotency(created_at);
            CREATE TABLE idempotency_claim (
                dialect TEXT NOT NULL,
                key TEXT NOT NULL,
                claimed_at BIGINT NOT NULL,
                PRIMARY KEY (dialect, key)
            );
            CREATE TABLE tracking (
                product TEXT PRIMARY KEY,
                tracked BOOLEAN NOT NULL,
                changed_at BIGINT NOT NULL
            );
            """
        )
    ]

    /// The newest schema version this build knows.
    public static var schemaVersion: Int { migrations.last?.version ?? 0 }

    /// Applies the migrations the database lacks, one transaction each, under an advisory
    /// lock so that instances starting together apply each once. Returns the versions applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await transaction { connection in
            // Serializes migrators for the length of this transaction.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: self.logger)
            try await connection.query(
                """
                CREATE TABLE IF NOT EXISTS stockgate_migration (
                    version INTEGER PRIMARY KEY,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: self.logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query(
                "SELECT version FROM stockgate_migration", logger: self.logger
            ).decode(Int.self) {
                applied.insert(version)
            }
            if let newest = applied.max(), newest > Self.schemaVersion {
                throw GatewayError.internalError(
                    "the database has schema version \(newest), newer than this StockGate knows (\(Self.schemaVersion))"
                )
            }
            var done: [Int] = []
            for (version, sql) in Self.migrations where !applied.contains(version) {
                // One statement per query: the extended protocol takes no more.
                for statement in sql.components(separatedBy: ";\n")
                where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO stockgate_migration (version) VALUES (\(version))", logger: self.logger)
                done.append(version)
            }
            return (done, true)
        }
    }

    static let migrationLock: Int64 = 0x5354_4F43_4B47_0001
    /// Held by a transaction while it inserts movement rows: ids commit in increasing order.
    static let insertLock: Int64 = 0x5354_4F43_4B47_0002
}
