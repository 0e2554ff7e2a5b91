"""Demo ``finalize``: summarise the session that ``init`` prepared."""

from __future__ import annotations

from pathlib import Path

from labdeck import script

latest = Path("sessions/latest")
if not latest.exists():
    script.log("no session to finalize: run init first")
    raise SystemExit(1)
session = Path(latest.read_text())
files = sorted(p.name for p in session.iterdir())
script.log(f"session {session}: {len(files)} file(s): {', '.join(files)}")
(session / "summary.txt").write_text(f"finalized; files: {files}\n")
script.result("session", str(session))
script.result("files", len(files) + 1)
