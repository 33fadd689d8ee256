"""Named points in ingestion where the crash-safety tests stop the process to kill it with SIGKILL.

Setting ``DEEPRAG_PAUSE_AT=<name>`` makes a run announce ``DEEPRAG_PAUSED <name>`` on stderr and wait there,
so a test can kill a real ingestion at an exact moment instead of guessing with timers.
"""

import os
import sys
import time

PAUSE_ENV = "DEEPRAG_PAUSE_AT"


def checkpoint(name: str) -> None:
    if os.environ.get(PAUSE_ENV) == name:
        sys.stderr.write(f"DEEPRAG_PAUSED {name}\n")
        sys.stderr.flush()
        time.sleep(3600)
