"""Maintain stage: ``spark-submit jobs/maintain.py --conf conf/cluster.yaml --as-of …``
(weekly: OPTIMIZE and VACUUM of every table; see README, "Maintenance")."""

from __future__ import annotations

import sys

from c360.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("maintain"))
