"""``python -m labdeck``: the same as the ``labdeck`` command."""

from __future__ import annotations

import sys

from labdeck.cli import main

if __name__ == "__main__":
    sys.exit(main())
