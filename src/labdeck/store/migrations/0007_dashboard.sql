-- labdeck store, schema 7: what the dashboard remembers per user, and how a run's series are drawn.

-- One row per preference of one owner: "user:NAME" for a logged-in user or an API token's
-- user, "browser:ID" for a browser in open mode (ID from its labdeck-browser cookie).
CREATE TABLE prefs (
    owner   TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,            -- JSON
    updated REAL NOT NULL,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;

-- How a script asked a series to be drawn: labdeck.script.plot(..., unit=, xlabel=, chart=).
CREATE TABLE run_series (
    run    INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    series TEXT NOT NULL,
    unit   TEXT NOT NULL DEFAULT '',
    xlabel TEXT NOT NULL DEFAULT '',
    chart  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, series)
) WITHOUT ROWID;
