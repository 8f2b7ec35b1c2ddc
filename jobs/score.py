"""Score stage: ``spark-submit jobs/score.py --conf conf/cluster.yaml --as-of 2026-11-03``."""

from __future__ import annotations

import sys

from c360.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("score"))
