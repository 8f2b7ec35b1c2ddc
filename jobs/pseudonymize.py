"""Pseudonymize stage: ``spark-submit jobs/pseudonymize.py --conf conf/cluster.yaml --as-of …``
(needs the key in $C360_PSEUDONYM_KEY or privacy.key_file)."""

from __future__ import annotations

import sys

from c360.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main("pseudonymize"))
