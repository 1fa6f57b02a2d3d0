import GRDB

extension Ledger {
    /// The schema, as GRDB migrations: append new migrations, never edit a shipped one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-journal-and-balances") { db in
            // AUTOINCREMENT: ids start at 1, only increase, and are never reused, even after
            // the newest row is deleted.
            try db.execute(
                sql: """
                    CREATE TABLE movement (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        product TEXT NOT NULL,
                        quantity TEXT NOT NULL,
                        from_location TEXT NOT NULL,
                        to_location TEXT NOT NULL,
                        reason TEXT,
                        reference TEXT,
                        description TEXT,
                        acting_user TEXT,
                        source_system TEXT,
                        external_id TEXT,
                        created_at INTEGER NOT NULL,
                        applied_at INTEGER,
                        state TEXT NOT NULL CHECK (state IN ('applied', 'pending', 'reversed')),
                        allow_overage INTEGER NOT NULL DEFAULT 0,
                        extras TEXT,
                        reverses INTEGER REFERENCES movement(id),
                        dialect TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        idempotency_key TEXT
                    );
                    CREATE INDEX movement_by_product ON movement(product, id);
                    CREATE INDEX movement_by_from ON movement(from_location, id);
                    CREATE INDEX movement_by_to ON movement(to_location, id);
                    CREATE INDEX movement_by_created ON movement(created_at);
                    CREATE TABLE balance (
                        product TEXT NOT NULL,
                        location TEXT NOT NULL,
                        quantity TEXT NOT NULL,
                        PRIMARY KEY (product, location)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-idempotency-index") { db in
            try db.execute(
                sql:
                    "CREATE INDEX movement_by_idempotency_key ON movement(idempotency_key) WHERE idempotency_key IS NOT NULL"
            )
        }
        migrator.registerMigration("v3-forwarded-movements") { db in
            // NULL: a movement of the embedded ledger; otherwise the name of the remote backend
            // the gateway forwarded it to (the row is then a journal entry, balances untouched).
            try db.execute(sql: "ALTER TABLE movement ADD COLUMN backend TEXT")
            try db.execute(sql: "CREATE INDEX movement_by_backend ON movement(backend, id)")
        }
        migrator.registerMigration("v4-idempotency-responses") { db in
            // The answer to each write sent with an idempotency key, per dialect, so a repeat
            // gets the same answer and a different request under the same key is refused.
            try db.execute(
                sql: """
                    CREATE TABLE idempotency (
                        dialect TEXT NOT NULL,
                        key TEXT NOT NULL,
                        fingerprint TEXT NOT NULL,
                        status INTEGER NOT NULL,
                        headers TEXT NOT NULL,
                        body BLOB NOT NULL,
                        created_at INTEGER NOT NULL,
                        PRIMARY KEY (dialect, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_by_age ON idempotency(created_at);
                    """)
        }
        migrator.registerMigration("v5-forwarded-states") { db in
            // Forwarded movements are journaled before they are sent ('sent') and settled from
            // the backend's answer ('applied', 'failed', 'reversed'). SQLite cannot change a
            // CHECK constraint in place: the table is rebuilt with the wider one.
            try db.execute(
                sql: """
                    CREATE TABLE movement_v5 (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        product TEXT NOT NULL,
                        quantity TEXT NOT NULL,
                        from_location TEXT NOT NULL,
                        to_location TEXT NOT NULL,
                        reason TEXT,
                        reference TEXT,
                        description TEXT,
                        acting_user TEXT,
                        source_system TEXT,
                        external_id TEXT,
                        created_at INTEGER NOT NULL,
                        applied_at INTEGER,
                        state TEXT NOT NULL CHECK (state IN ('applied', 'pending', 'reversed', 'sent', 'failed')),
                        allow_overage INTEGER NOT NULL DEFAULT 0,
                        extras TEXT,
                        reverses INTEGER REFERENCES movement(id),
                        dialect TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        idempotency_key TEXT,
                        backend TEXT
                    );
                    INSERT INTO movement_v5 SELECT id, product, quantity, from_location, to_location, reason, reference,
                        description, acting_user, source_system, external_id, created_at, applied_at, state, allow_overage,
                        extras, reverses, dialect, request_id, idempotency_key, backend FROM movement;
                    DROP TABLE movement;
                    ALTER TABLE movement_v5 RENAME TO movement;
                    CREATE INDEX movement_by_product ON movement(product, id);
                    CREATE INDEX movement_by_from ON movement(from_location, id);
                    CREATE INDEX movement_by_to ON movement(to_location, id);
                    CREATE INDEX movement_by_created ON movement(created_at);
                    CREATE INDEX movement_by_idempotency_key ON movement(idempotency_key) WHERE idempotency_key IS NOT NULL;
                    CREATE INDEX movement_by_backend ON movement(backend, id);
                    """)
        }
        migrator.registerMigration("v6-balance-updated-at") { db in
            // When each balance last changed (milliseconds since 1970, UTC): the stock lists that
            // clients sync incrementally (Colleqtive's storeproducts/stock) page by it. NULL for
            // balances last changed before this migration.
            try db.execute(sql: "ALTER TABLE balance ADD COLUMN updated_at INTEGER")
        }
        migrator.registerMigration("v7-tracking") { db in
            // Products whose tracking was started or stopped (Zettle's START_TRACKING /
            // STOP_TRACKING, DELETE …/inventory/products/{uuid}, V3 `tracking`); a product with
            // no row is tracked. `changed_at` in milliseconds since 1970, UTC.
            try db.execute(
                sql: """
                    CREATE TABLE tracking (
                        product TEXT PRIMARY KEY NOT NULL,
                        tracked INTEGER NOT NULL,
                        changed_at INTEGER NOT NULL
                    ) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v8-embedded-only-indexes") { db in
            // Every query of the journal names the backend (`backend IS NULL` for the embedded
            // ledger's movements, `backend = ?` or `IS NOT NULL` for forwarded ones), so the
            // product, location and time indexes serve the embedded ledger only. Journaling a
            // forwarded movement then writes three b-trees of the file (the table, sqlite_sequence,
            // the backend index; four with an idempotency key) instead of seven. Queries of
            // forwarded rows read them through `movement_by_backend`, in id order.
            try db.execute(
                sql: """
                    DROP INDEX movement_by_product;
                    DROP INDEX movement_by_from;
                    DROP INDEX movement_by_to;
                    DROP INDEX movement_by_created;
                    CREATE INDEX movement_by_product ON movement(product, id) WHERE backend IS NULL;
                    CREATE INDEX movement_by_from ON movement(from_location, id) WHERE backend IS NULL;
                    CREATE INDEX movement_by_to ON movement(to_location, id) WHERE backend IS NULL;
                    CREATE INDEX movement_by_created ON movement(created_at) WHERE backend IS NULL;
                    """)
        }
        migrator.registerMigration("v9-webhooks") { db in
            // The webhook simulator's state (issue 33): subscriptions with the lease of their
            // deliverer, and the messages queued lately — pending while `outcome` is NULL, kept
            // after that for a message's lifetime so that a change is never queued twice.
            try db.execute(
                sql: """
                    CREATE TABLE webhook_subscription (
                        uuid TEXT PRIMARY KEY,
                        owner TEXT,
                        document TEXT NOT NULL,
                        deliverer TEXT,
                        lease_until INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE webhook_message (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        message_id TEXT NOT NULL UNIQUE,
                        subscription TEXT NOT NULL,
                        body BLOB NOT NULL,
                        signature TEXT NOT NULL,
                        queued_at INTEGER NOT NULL,
                        outcome TEXT
                    );
                    CREATE INDEX webhook_message_pending ON webhook_message(subscription, seq) WHERE outcome IS NULL;
                    CREATE INDEX webhook_message_by_age ON webhook_message(queued_at);
                    """)
        }
        migrator.registerMigration("v10-state-check-without-a-list") { db in
            try rewriteStateCheck(db)
        }
        return migrator
    }

    static let stateCheckAsList = "CHECK (state IN ('applied', 'pending', 'reversed', 'sent', 'failed'))"
    static let stateCheckAsComparisons =
        "CHECK (state = 'applied' OR state = 'pending' OR state = 'reversed' OR state = 'sent' OR state = 'failed')"

    /// The journal's CHECK on `state` was an IN list of constants. SQLite evaluates such a list
    /// through an ephemeral b-tree it builds anew for every row it checks (`OpenEphemeral`): for
    /// each INSERT of a movement and each UPDATE of its state, ~20,000 instructions, most of a
    /// forwarded write's settlement (callgrind; BENCHMARKS.md). The same rule as comparisons
    /// joined by OR costs a few dozen.
    ///
    /// The constraint means the same and every stored row satisfies it, so the table's definition
    /// is edited in place rather than the table rebuilt (a ledger of millions of rows migrates at
    /// once): SQLite's documented procedure for changing a CHECK constraint (sqlite.org,
    /// lang_altertable.html, "Making Other Kinds Of Table Schema Changes": within the
    /// migration's transaction, the schema row rewritten under `writable_schema`, then
    /// `schema_version` incremented). A definition that does not hold the list as v5 wrote it
    /// is left as it is.
    static func rewriteStateCheck(_ db: Database) throws {
        guard
            let definition = try String.fetchOne(
                db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'movement'"),
            definition.contains(stateCheckAsList)
        else { return }
        let version = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        try db.execute(sql: "PRAGMA writable_schema = ON")
        try db.execute(
            sql: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'movement'",
            arguments: [definition.replacingOccurrences(of: stateCheckAsList, with: stateCheckAsComparisons)])
        try db.execute(sql: "PRAGMA schema_version = \(version + 1)")
        try db.execute(sql: "PRAGMA writable_schema = OFF")
    }
}
