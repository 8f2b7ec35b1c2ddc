"""Reconcile stage: ``spark-submit jobs/reconcile.py --conf conf/cluster.yaml --as-of …``
(the counts that must add up, per layer and table)."""

from __future__ import annotations

import sys

from c360.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("reconcile"))
