-- labdeck store, schema 3: identity - users, API tokens, login sessions.
-- No secret is stored in clear: passwords as argon2id hashes, tokens and session ids as
-- SHA-256 digests (both are 32 random bytes, so a fast hash is enough).
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password   TEXT NOT NULL,         -- argon2 PHC string
    created    REAL NOT NULL,
    last_login REAL
);

CREATE TABLE tokens (
    name      TEXT PRIMARY KEY,
    role      TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    digest    BLOB NOT NULL UNIQUE,   -- SHA-256 of the token
    created   REAL NOT NULL,
    expires   REAL,                   -- NULL: never
    last_used REAL
);

CREATE TABLE sessions (
    handle     INTEGER PRIMARY KEY AUTOINCREMENT,  -- what an admin page names a session by
    digest     BLOB NOT NULL UNIQUE,  -- SHA-256 of the session id
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created    REAL NOT NULL,
    last_seen  REAL NOT NULL,
    peer       TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user);
