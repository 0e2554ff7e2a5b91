-- labdeck store, schema 2: script runs and everything a run leaves behind.
CREATE TABLE runs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: channel messages name runs by id
    script    TEXT NOT NULL,
    command   TEXT NOT NULL,          -- JSON argv as started
    user      TEXT,
    state     TEXT NOT NULL,          -- a RunState value
    config    TEXT NOT NULL DEFAULT '{}',  -- JSON: the exact configuration handed to the script
    started   REAL NOT NULL,
    ended     REAL,
    exit_code INTEGER,
    error     TEXT                    -- the last error line, for failed runs
);
CREATE INDEX runs_state ON runs (state);

-- Every line a run printed, in order; n counts from 1 per run.
CREATE TABLE run_log (
    run    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    n      INTEGER NOT NULL,
    t      REAL NOT NULL,
    stream TEXT NOT NULL,
    text   TEXT NOT NULL,
    PRIMARY KEY (run, n)
) WITHOUT ROWID;

-- Every point a run plotted; the rowid keeps arrival order.
CREATE TABLE run_points (
    run    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    series TEXT NOT NULL,
    x      REAL,
    y      REAL
);
CREATE INDEX run_points_run ON run_points (run, series);

CREATE TABLE run_results (
    run   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,              -- JSON
    PRIMARY KEY (run, key)
) WITHOUT ROWID;

CREATE TABLE presets (
    name    TEXT PRIMARY KEY,
    config  TEXT NOT NULL,            -- JSON
    updated REAL NOT NULL
);
