#ifndef CSQLITETUNING_H
#define CSQLITETUNING_H

/// Sets SQLite's process-wide defaults the ledger wants, before any connection is opened
/// (`sqlite3_config` is variadic, so Swift cannot call it): multi-thread mode (connections
/// without their own mutex, as GRDB serializes each connection's use) and no memory-use
/// statistics (a global mutex on every allocation). Returns SQLite's result code:
/// SQLITE_MISUSE (21) when SQLite was already initialized in this process, and nothing changed.
int csqlite_tune_defaults(void);

#endif
