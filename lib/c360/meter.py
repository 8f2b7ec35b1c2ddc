"""What a stage cost the engine: Spark jobs started and Delta commits written.

Fixed cost per job and per commit is most of a stage's time on small batches, so the
run loop logs both for every stage and the benchmark reports them. Both are read from
state that already exists: the scheduler's job counter and the ``_delta_log`` folders
(one glob, through Hadoop, so it works on any store the lake lives on). Neither
starts a Spark job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from py4j.protocol import Py4JError
from pyspark import SparkContext
from pyspark.sql import SparkSession

_COMMIT = re.compile(r"^\d{20}\.json$")


def jobs_started(spark: SparkSession) -> int:
    """Spark jobs this application has started so far (the scheduler's next job id)."""
    return _next_job_id(spark.sparkContext)


def _next_job_id(sc: SparkContext) -> int:
    scheduler = sc._jsc.sc().dagScheduler()  # type: ignore[attr-defined]
    next_id = scheduler.nextJobId()  # an AtomicInteger, which py4j hands over as int
    return int(next_id if isinstance(next_id, int) else next_id.get())


def jobs_so_far() -> int | None:
    """``jobs_started`` of the running application, for a step's log line; None when no
    Spark context runs (a step outside Spark)."""
    sc = SparkContext._active_spark_context
    if sc is None:
        return None
    try:
        return _next_job_id(sc)
    except Py4JError:
        return None


def delta_commits(spark: SparkSession, root: str) -> int:
    """Commit files under ``<root>/<layer>/<table>/_delta_log``: every table of the lake."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    pattern = jvm.org.apache.hadoop.fs.Path(f"{root.rstrip('/')}/*/*/_delta_log/*.json")
    fs = pattern.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    found = fs.globStatus(pattern)
    if found is None:
        return 0
    return sum(1 for st in found if _COMMIT.match(st.getPath().getName()))


@dataclass
class Meter:
    """Jobs and commits between :meth:`start` and :meth:`stop`."""

    spark: SparkSession
    root: str
    jobs: int = 0
    commits: int = 0

    def start(self) -> Meter:
        self._jobs0 = jobs_started(self.spark)
        self._commits0 = delta_commits(self.spark, self.root)
        return self

    def stop(self) -> Meter:
        self.jobs = jobs_started(self.spark) - self._jobs0
        self.commits = delta_commits(self.spark, self.root) - self._commits0
        return self
