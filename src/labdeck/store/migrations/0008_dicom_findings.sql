-- labdeck store, schema 8: every DICOM file checked (the compliance report), alerts acknowledged.
CREATE TABLE dicom_findings (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    t        REAL NOT NULL,
    watch    TEXT NOT NULL,
    station  TEXT NOT NULL,
    project  TEXT NOT NULL,
    session  TEXT NOT NULL,          -- a digest of the StudyInstanceUID, never the UID
    sequence TEXT NOT NULL,
    series   INTEGER NOT NULL,
    path     TEXT NOT NULL,          -- relative to the watch's root
    conforms INTEGER,                -- 1 conforms, 0 does not, NULL no reference
    errors   TEXT NOT NULL           -- JSON {param: {"expect", "have"}}
);
CREATE INDEX dicom_findings_report ON dicom_findings (project, session, sequence);

-- An operator acknowledged a station's alert: who, when, and what the alert was.
CREATE TABLE dicom_acks (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    t        REAL NOT NULL,
    station  TEXT NOT NULL,
    by       TEXT,
    alert    TEXT NOT NULL           -- JSON: series, sequence, path, messages, t
);

-- Remote agents, on the server: each agent's queue is sent once; last_seq is the newest
-- entry taken, for the queue named outbox (an agent whose queue was wiped starts afresh).
CREATE TABLE agents (
    name       TEXT PRIMARY KEY,
    outbox     TEXT NOT NULL,
    last_seq   INTEGER NOT NULL,
    watches    TEXT NOT NULL,        -- JSON {label: kind}
    first_seen REAL NOT NULL,
    last_seen  REAL NOT NULL
) WITHOUT ROWID;

-- On an agent's machine: what happened, queued until the server has taken it.
CREATE TABLE agent_outbox (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    watch TEXT NOT NULL,
    body  TEXT NOT NULL,             -- JSON: the file event, and a DICOM header or problem
    t     REAL NOT NULL
);
-- Every file version an agent queued, so that a restart's rescan queues nothing twice.
CREATE TABLE agent_seen (
    watch    TEXT NOT NULL,
    path     TEXT NOT NULL,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (watch, path, size, mtime_ns)
) WITHOUT ROWID;
CREATE TABLE agent_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
