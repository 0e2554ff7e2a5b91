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
