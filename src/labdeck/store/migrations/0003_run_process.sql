-- labdeck store, schema 3: the process of a live run, so that the server after a crash
-- finds a script the crashed one left behind. Set when the process starts, cleared once
-- it and its process group are gone.
ALTER TABLE runs ADD COLUMN pid INTEGER;            -- the script's process id
ALTER TABLE runs ADD COLUMN pgid INTEGER;           -- its process group (the script leads a session of its own)
ALTER TABLE runs ADD COLUMN process_start TEXT;     -- "<boot id>:<start ticks>": a reused pid never matches
