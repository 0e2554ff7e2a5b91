-- labdeck store, schema 1: bookkeeping every later migration relies on.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
