"""One log format for every process of a server, so interleaved output on one terminal stays readable."""

from __future__ import annotations

import logging
import os

LOG_LEVEL_ENV = "ENGRAM_LOG_LEVEL"


def setup_logging(process: str) -> None:
    logging.basicConfig(
        level=os.environ.get(LOG_LEVEL_ENV, "INFO").upper(),
        format=f"%(asctime)s {process}[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
