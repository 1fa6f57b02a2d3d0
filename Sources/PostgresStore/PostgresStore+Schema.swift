import Foundation
import PostgresNIO
import StockCore

extension PostgresStore {
    /// The schema as numbered migrations, each a list of statements (the extended protocol
    /// takes one per query): append, never edit a shipped one. Those a database lacks run in
    /// one transaction, each number recorded in `stockgate_migration`.
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            statements(
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
                """)
        ),
        (2, [oneStatementWrite]),
        (3, [groupWrite]),
        (
            4,
            // As the SQLite ledger's v8: every query names the backend, so the product,
            // location and time indexes hold the embedded ledger's rows only, and journaling a
            // forwarded movement writes the table and the backend index.
            statements(
                """
                DROP INDEX movement_by_product;
                DROP INDEX movement_by_from;
                DROP INDEX movement_by_to;
                DROP INDEX movement_by_created;
                CREATE INDEX movement_by_product ON movement(product, id) WHERE backend IS NULL;
                CREATE INDEX movement_by_from ON movement(from_location, id) WHERE backend IS NULL;
                CREATE INDEX movement_by_to ON movement(to_location, id) WHERE backend IS NULL;
                CREATE INDEX movement_by_created ON movement(created_at) WHERE backend IS NULL;
                """)
        ),
        (
            5,
            // As the SQLite ledger's v9: the webhook simulator's state, shared by the instances.
            statements(
                """
                CREATE TABLE webhook_subscription (
                    uuid TEXT PRIMARY KEY,
                    owner TEXT,
                    document TEXT NOT NULL,
                    deliverer TEXT,
                    lease_until BIGINT NOT NULL DEFAULT 0
                );
                CREATE TABLE webhook_message (
                    seq BIGSERIAL PRIMARY KEY,
                    message_id TEXT NOT NULL UNIQUE,
                    subscription TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    signature TEXT NOT NULL,
                    queued_at BIGINT NOT NULL,
                    outcome TEXT
                );
                CREATE INDEX webhook_message_pending ON webhook_message(subscription, seq) WHERE outcome IS NULL;
                CREATE INDEX webhook_message_by_age ON webhook_message(queued_at);
                """)
        ),
        (6, [committedGroupWrite]),
    ]

    /// The group write as a procedure that commits before it answers, so a group is
    /// acknowledged durably in one round trip. Called as a statement, the function's answer
    /// came before its implicit transaction committed (`PostgresStore.inTransaction` says why
    /// that lost a write); between BEGIN and COMMIT it took three round trips. A procedure
    /// `CALL`ed outside a transaction block may COMMIT, and its INOUT result is sent after that:
    /// each write's (index, movement id, outcome) as JSON text.
    static let committedGroupWrite = """
        CREATE PROCEDURE stockgate_write_group_committed(
            p_writes JSONB, p_keys JSONB, p_stamp BIGINT, p_insert_lock BIGINT, p_replay_since BIGINT,
            INOUT p_outcomes TEXT DEFAULT NULL)
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT COALESCE(jsonb_agg(jsonb_build_array(g.write_index, g.movement_id, g.outcome)), '[]'::jsonb)::text
                INTO p_outcomes
                FROM stockgate_write_group(p_writes, p_keys, p_stamp, p_insert_lock, p_replay_since) AS g;
            COMMIT;
        END $$
        """

    /// Splits statements separated by `;` at the end of a line.
    static func statements(_ sql: String) -> [String] {
        sql.components(separatedBy: ";\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    /// A write in one statement, so one round trip and one implicit transaction (the first
    /// form; since migration 3 `stockgate_write_group` is called instead): the balance rows named in `p_balances` locked in
    /// the order given (sorted by the caller), each checked against the window the caller
    /// computed from the rules (`AcceptanceWindow`) and changed by its delta — or the whole
    /// statement refused with SQLSTATE SG001 when one lies outside, changing nothing; then the
    /// journal rows of `p_rows` inserted in order under the insert lock. With `p_replay_since`,
    /// the movements journaled before under `p_key` are answered instead (`replayed`).
    /// Quantities travel as JSON numbers, which PostgreSQL reads as exact `numeric`.
    static let oneStatementWrite = """
        CREATE FUNCTION stockgate_write(
            p_balances JSONB, p_rows JSONB, p_stamp BIGINT, p_insert_lock BIGINT,
            p_dialect TEXT, p_request_id TEXT, p_key TEXT, p_replay_since BIGINT)
        RETURNS TABLE (movement_id BIGINT, replayed BOOLEAN)
        LANGUAGE plpgsql AS $$
        DECLARE
            b RECORD;
            r RECORD;
            held NUMERIC;
        BEGIN
            IF p_replay_since IS NOT NULL AND p_key IS NOT NULL THEN
                RETURN QUERY SELECT m.id, TRUE FROM movement m
                    WHERE m.idempotency_key = p_key AND m.reverses IS NULL AND m.backend IS NULL
                        AND m.created_at >= p_replay_since
                    ORDER BY m.id;
                IF FOUND THEN
                    RETURN;
                END IF;
            END IF;
            FOR b IN SELECT e ->> 'product' AS product, e ->> 'location' AS location,
                    (e ->> 'delta')::numeric AS delta, (e ->> 'low')::numeric AS low, (e ->> 'high')::numeric AS high
                FROM jsonb_array_elements(p_balances) WITH ORDINALITY AS a(e, n) ORDER BY n
            LOOP
                INSERT INTO balance (product, location, quantity) VALUES (b.product, b.location, 0)
                    ON CONFLICT (product, location) DO NOTHING;
                SELECT x.quantity INTO held FROM balance x
                    WHERE x.product = b.product AND x.location = b.location FOR UPDATE;
                IF held < b.low OR held > b.high THEN
                    RAISE EXCEPTION 'a balance lies outside the window of this write' USING ERRCODE = 'SG001';
                END IF;
                UPDATE balance SET quantity = held + b.delta, updated_at = p_stamp
                    WHERE product = b.product AND location = b.location;
            END LOOP;
            PERFORM pg_advisory_xact_lock(p_insert_lock);
            FOR r IN SELECT e FROM jsonb_array_elements(p_rows) WITH ORDINALITY AS a(e, n) ORDER BY n
            LOOP
                INSERT INTO movement (product, quantity, from_location, to_location, reason, reference, description,
                    acting_user, source_system, external_id, created_at, applied_at, state, allow_overage, extras,
                    reverses, dialect, request_id, idempotency_key, backend)
                VALUES (r.e ->> 'product', (r.e ->> 'quantity')::numeric, r.e ->> 'from', r.e ->> 'to',
                    r.e ->> 'reason', r.e ->> 'reference', r.e ->> 'description', r.e ->> 'user', r.e ->> 'source',
                    r.e ->> 'external_id', p_stamp, CASE WHEN (r.e ->> 'applied')::boolean THEN p_stamp END, r.e ->> 'state',
                    (r.e ->> 'allow_overage')::boolean, r.e ->> 'extras', (r.e ->> 'reverses')::bigint, p_dialect,
                    p_request_id, p_key, r.e ->> 'backend')
                RETURNING id INTO movement_id;
                replayed := FALSE;
                RETURN NEXT;
            END LOOP;
        END
        $$
        """

    /// The newest schema version this build knows.
    public static var schemaVersion: Int { migrations.last?.version ?? 0 }

    /// The newest migration the database has (0 when none): read only, nothing is changed.
    public func appliedSchemaVersion() async throws -> Int {
        try await read { connection in
            let table =
                try await connection.query(
                    "SELECT to_regclass('stockgate_migration') IS NOT NULL", logger: self.logger
                ).collect().first?.decode(Bool.self) ?? false
            guard table else { return 0 }
            return try await connection.query(
                "SELECT COALESCE(MAX(version), 0) FROM stockgate_migration", logger: self.logger
            ).collect().first?.decode(Int.self) ?? 0
        }
    }

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
            for (version, statements) in Self.migrations where !applied.contains(version) {
                for statement in statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO stockgate_migration (version) VALUES (\(version))", logger: self.logger)
                done.append(version)
            }
            return (done, true)
        }
    }

    /// Many writes in one statement, for the writes of one instance that arrive together
    /// (`PostgresStore.WriteGroup`): the union of their balance rows locked in the order given
    /// (sorted by the caller), then each write in turn — answered from the journal when its key
    /// was applied before, refused alone (`outside`, nothing of it changed) when a balance lies
    /// outside its window, else its deltas added and its rows journaled under the insert lock.
    /// One statement and one commit for the group (the procedure `committedGroupWrite` calls it
    /// and commits before answering); balance rows it
    /// created only to lock them, for writes then refused, are removed again.
    static let groupWrite = """
        CREATE FUNCTION stockgate_write_group(
            p_writes JSONB, p_keys JSONB, p_stamp BIGINT, p_insert_lock BIGINT, p_replay_since BIGINT)
        RETURNS TABLE (write_index INTEGER, movement_id BIGINT, outcome TEXT)
        LANGUAGE plpgsql AS $$
        DECLARE
            w RECORD;
            b RECORD;
            r RECORD;
            held NUMERIC;
            inside BOOLEAN;
            insert_locked BOOLEAN := FALSE;
        BEGIN
            FOR b IN SELECT e ->> 0 AS product, e ->> 1 AS location
                FROM jsonb_array_elements(p_keys) WITH ORDINALITY AS a(e, n) ORDER BY n
            LOOP
                INSERT INTO balance (product, location, quantity) VALUES (b.product, b.location, 0)
                    ON CONFLICT (product, location) DO NOTHING;
                PERFORM 1 FROM balance x WHERE x.product = b.product AND x.location = b.location FOR UPDATE;
            END LOOP;
            FOR w IN SELECT e, (n - 1)::integer AS i FROM jsonb_array_elements(p_writes) WITH ORDINALITY AS a(e, n)
                ORDER BY n
            LOOP
                IF (w.e ->> 'replay')::boolean THEN
                    RETURN QUERY SELECT w.i, m.id, 'replayed'::text FROM movement m
                        WHERE m.idempotency_key = w.e ->> 'key' AND m.reverses IS NULL AND m.backend IS NULL
                            AND m.created_at >= p_replay_since
                        ORDER BY m.id;
                    IF FOUND THEN
                        CONTINUE;
                    END IF;
                END IF;
                inside := TRUE;
                FOR b IN SELECT e ->> 'product' AS product, e ->> 'location' AS location,
                        (e ->> 'low')::numeric AS low, (e ->> 'high')::numeric AS high
                    FROM jsonb_array_elements(w.e -> 'balances') AS a(e)
                LOOP
                    SELECT x.quantity INTO held FROM balance x WHERE x.product = b.product AND x.location = b.location;
                    IF held < b.low OR held > b.high THEN
                        inside := FALSE;
                        EXIT;
                    END IF;
                END LOOP;
                IF NOT inside THEN
                    write_index := w.i;
                    movement_id := NULL;
                    outcome := 'outside';
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                FOR b IN SELECT e ->> 'product' AS product, e ->> 'location' AS location,
                        (e ->> 'delta')::numeric AS delta
                    FROM jsonb_array_elements(w.e -> 'balances') AS a(e)
                LOOP
                    UPDATE balance SET quantity = quantity + b.delta, updated_at = (w.e ->> 'stamp')::bigint
                        WHERE product = b.product AND location = b.location;
                END LOOP;
                IF NOT insert_locked THEN
                    PERFORM pg_advisory_xact_lock(p_insert_lock);
                    insert_locked := TRUE;
                END IF;
                FOR r IN SELECT e FROM jsonb_array_elements(w.e -> 'rows') WITH ORDINALITY AS a(e, n) ORDER BY n
                LOOP
                    INSERT INTO movement (product, quantity, from_location, to_location, reason, reference,
                        description, acting_user, source_system, external_id, created_at, applied_at, state,
                        allow_overage, extras, reverses, dialect, request_id, idempotency_key, backend)
                    VALUES (r.e ->> 'product', (r.e ->> 'quantity')::numeric, r.e ->> 'from', r.e ->> 'to',
                        r.e ->> 'reason', r.e ->> 'reference', r.e ->> 'description', r.e ->> 'user',
                        r.e ->> 'source', r.e ->> 'external_id', (w.e ->> 'stamp')::bigint,
                        CASE WHEN (r.e ->> 'applied')::boolean THEN (w.e ->> 'stamp')::bigint END, r.e ->> 'state',
                        (r.e ->> 'allow_overage')::boolean, r.e ->> 'extras', (r.e ->> 'reverses')::bigint,
                        w.e ->> 'dialect', w.e ->> 'request_id', w.e ->> 'key', r.e ->> 'backend')
                    RETURNING id INTO movement_id;
                    write_index := w.i;
                    outcome := 'written';
                    RETURN NEXT;
                END LOOP;
            END LOOP;
            -- Rows created above only to be locked, for writes that were then refused, are not
            -- balances: nothing was ever written to them.
            DELETE FROM balance x USING jsonb_array_elements(p_keys) AS k(e)
                WHERE x.product = k.e ->> 0 AND x.location = k.e ->> 1 AND x.quantity = 0 AND x.updated_at IS NULL;
        END
        $$
        """

    static let migrationLock: Int64 = 0x5354_4F43_4B47_0001
    /// Held by a transaction while it inserts movement rows: ids commit in increasing order.
    static let insertLock: Int64 = 0x5354_4F43_4B47_0002
}
