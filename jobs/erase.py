"""Right to erasure: ``spark-submit jobs/erase.py --conf conf/cluster.yaml --customer-id C…``."""

from __future__ import annotations

import sys

from c360.cli import main

if __name__ == "__main__":
    sys.exit(main(["erase", *sys.argv[1:]]))
