-- labdeck store, schema 6: what the admin page shows - request statistics, the audit log,
-- the errors the daily mail reports, and what the periodic jobs remember.

-- Requests per UTC day, rolled up from memory by the statistics job. Bounded: days older
-- than [admin] stats_days are folded into request_totals' history and deleted.
CREATE TABLE request_days (
    day          TEXT NOT NULL,            -- YYYY-MM-DD, UTC
    method       TEXT NOT NULL,            -- GET, POST, ... or OTHER
    status_class TEXT NOT NULL,            -- 1xx .. 5xx
    route_group  TEXT NOT NULL,            -- dashboard, static, api/runs, websocket, unmatched, ...
    requests     INTEGER NOT NULL DEFAULT 0,
    bytes_out    INTEGER NOT NULL DEFAULT 0,
    files        INTEGER NOT NULL DEFAULT 0,  -- responses that were a file (static, downloads)
    invalid      INTEGER NOT NULL DEFAULT 0,  -- malformed or refused as such (400, 405, 413, 414, 421, ...)
    not_found    INTEGER NOT NULL DEFAULT 0,  -- 404
    seconds      REAL NOT NULL DEFAULT 0,     -- time spent answering
    PRIMARY KEY (day, method, status_class, route_group)
) WITHOUT ROWID;

-- The same counts since the first start, never pruned: one row per kind of request.
CREATE TABLE request_totals (
    method       TEXT NOT NULL,
    status_class TEXT NOT NULL,
    route_group  TEXT NOT NULL,
    requests     INTEGER NOT NULL DEFAULT 0,
    bytes_out    INTEGER NOT NULL DEFAULT 0,
    files        INTEGER NOT NULL DEFAULT 0,
    invalid      INTEGER NOT NULL DEFAULT 0,
    not_found    INTEGER NOT NULL DEFAULT 0,
    seconds      REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (method, status_class, route_group)
) WITHOUT ROWID;

-- Small facts kept across restarts: first_start, the last error mailed, ...
CREATE TABLE admin_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every change an admin makes (switches, maintenance, ended sessions, revoked tokens, jobs run by hand).
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    t      REAL NOT NULL,
    user   TEXT,                   -- NULL: the local user of open mode
    via    TEXT NOT NULL,          -- session, token, open
    peer   TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,          -- e.g. switch.log_level, session.end, token.revoke
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON
);
CREATE INDEX audit_log_t ON audit_log (t);

-- Errors the server logged, for the daily mail; bounded like the audit log.
CREATE TABLE error_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    t        REAL NOT NULL,
    logger   TEXT NOT NULL,
    message  TEXT NOT NULL,
    error_id TEXT                  -- the id an error page showed, when there was one
);
