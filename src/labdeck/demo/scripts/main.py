"""Demo ``main``: a simulated real-time fMRI run.

One classifier value per TR (the decoder's evidence for the target category), a
progress bar, a few log lines per second, and the run's accuracy as its result.
"""

from __future__ import annotations

import math
import random
import sys
import time

from labdeck import script

cfg = script.config()
tr = float(cfg.get("tr", 0.5))
trs = int(cfg.get("trs", 60))
subject = cfg.get("subject", "sub-01")
advanced = cfg.get("advanced", {})
noise = float(advanced.get("noise", 0.3))
rng = random.Random(advanced.get("seed", 7))

script.log(f"subject {subject}: {trs} TRs of {tr:g} s, noise {noise:g}")
hits = 0
done = 0  # TRs whose point, progress and line are all out: what a stop reports
start = time.monotonic()
try:
    for i in range(trs):
        block_on = (i // 10) % 2 == 1  # 10 TRs rest, 10 TRs task
        evidence = (0.75 if block_on else 0.25) + noise * rng.gauss(0, 0.3) + 0.05 * math.sin(i / 3)
        hits += (evidence > 0.5) == block_on
        script.plot(i + 1, round(evidence, 4), series="classifier", xlabel="TR")
        script.plot(i + 1, round(0.1 * abs(rng.gauss(0, 1)), 4), series="motion", unit="mm", xlabel="TR")
        script.progress((i + 1) / trs, f"TR {i + 1}/{trs}")
        print(f"TR {i + 1:3d}: {'task' if block_on else 'rest'} evidence {evidence:.3f}", flush=True)
        done = i + 1
        if i % 4 == 3:
            print(f"  volume {i + 1} registered in {rng.uniform(40, 90):.0f} ms", flush=True)
        if evidence < 0:
            print(f"warning: negative evidence at TR {i + 1}", file=sys.stderr, flush=True)
        time.sleep(max(0.0, start + (i + 1) * tr - time.monotonic()))
except KeyboardInterrupt:
    print(f"stopped after {done} TRs", flush=True)
    script.result("completed_trs", done)
    sys.exit(130)
script.result("accuracy", round(hits / trs, 3))
script.result("completed_trs", trs)
script.log("run complete")
