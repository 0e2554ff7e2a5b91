-- labdeck store, schema 3: files as they land, DICOM findings and reference protocols.
-- Every file a watch reported, once: the unique key is what "the same file" means.
CREATE TABLE file_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    watch    TEXT NOT NULL,
    path     TEXT NOT NULL,          -- relative to the watch's root, '/'-separated
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    t        REAL NOT NULL,          -- when labdeck saw it
    UNIQUE (watch, path, size, mtime_ns)
);
CREATE INDEX file_events_recent ON file_events (watch, id);

-- How often each parameter set was seen per project and sequence, counted once per series.
CREATE TABLE dicom_history (
    project  TEXT NOT NULL,
    sequence TEXT NOT NULL,
    key      TEXT NOT NULL,          -- the canonical JSON of params
    params   TEXT NOT NULL,          -- JSON
    count    INTEGER NOT NULL,
    last     REAL NOT NULL,
    PRIMARY KEY (project, sequence, key)
) WITHOUT ROWID;

-- Series already counted into dicom_history, so an import run twice counts nothing twice.
CREATE TABLE dicom_series (
    series_uid TEXT NOT NULL,
    key        TEXT NOT NULL,
    PRIMARY KEY (series_uid, key)
) WITHOUT ROWID;

-- A reference an operator pinned; it wins over the learned one.
CREATE TABLE dicom_refs (
    project  TEXT NOT NULL,
    sequence TEXT NOT NULL,
    params   TEXT NOT NULL,          -- JSON
    pinned_by TEXT,
    t        REAL NOT NULL,
    PRIMARY KEY (project, sequence)
) WITHOUT ROWID;

-- Files a `labdeck dicom import` has read, so that an interrupted import resumes.
CREATE TABLE dicom_imported (
    path     TEXT PRIMARY KEY,
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL
) WITHOUT ROWID;
