"""Demo ``init``: prepare a session folder for the subject of the configuration."""

from __future__ import annotations

import json
import time
from pathlib import Path

from labdeck import script

cfg = script.config()
subject = cfg.get("subject", "sub-01")
session = Path("sessions") / f"{subject}_{time.strftime('%Y%m%d-%H%M%S')}"
session.mkdir(parents=True, exist_ok=True)
(session / "config.json").write_text(json.dumps(cfg, indent=2))
Path("sessions/latest").write_text(str(session))
script.log(f"session folder ready: {session}")
script.result("session", str(session))
