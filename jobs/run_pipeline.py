"""Run every configured stage in order (``spark-submit jobs/run_pipeline.py --as-of ...``)."""

from __future__ import annotations

import sys

from c360.cli import job_main

if __name__ == "__main__":
    sys.exit(job_main(None))
