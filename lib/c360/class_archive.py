"""The JVM class archive (HotSpot's dynamic AppCDS) that every local Spark start maps.

A Spark driver loads and verifies some 15,000 classes before its first job: about 4.5 of
the 14 CPU-seconds a ``c360`` command spends to start, write one Delta table and read it
back. A JVM started with ``-XX:SharedArchiveFile`` maps the classes an earlier JVM dumped
instead (measured: 14.4 -> 9.5 CPU-s, 11.3 -> 7.0 s). ``c360 class-archive`` dumps it once,
from a JVM that ran a small workload touching what the stages touch (Delta writes, MERGE,
UPDATE, DELETE, joins, windows, CSV and JSON); the classes it missed (MLlib, say) still
load as usual. The dump costs about 40 s once, on the machine that uses it: an archive
holds one JDK build's view of one class path, so it cannot ship with the code. Setup does
not run it: on a one-shot fresh clone (CI) the dump costs what the JVM starts save.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from c360.config import Config
from c360.session import build_spark, class_archive_path, with_java_options

log = logging.getLogger(__name__)


def build_class_archive(conf: Config) -> str:
    """Dump the archive for ``conf``'s jars cache, unless it is there. Run in a process
    that has not started Spark yet: the options of a running JVM cannot change."""
    path = class_archive_path(conf.spark.jars_cache)
    if os.path.isfile(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    work = tempfile.mkdtemp(prefix="c360-class-archive-")
    try:
        settings = dict(conf.spark.conf)
        # The JIT does not change what is archived: the quick one warms up in half the time.
        dump = f"-XX:ArchiveClassesAtExit={tmp} -XX:TieredStopAtLevel=1"
        with_java_options(settings, "spark.driver.extraJavaOptions", dump)
        warm = conf.with_overrides(["spark.class_archive=false", f"lake.root={work}/lake"])
        spark = build_spark(warm, extra_conf=settings)
        warm_up(spark, os.path.join(work, "t"))
        _exit_jvm(spark)
        if not os.path.isfile(tmp):
            raise OSError(f"the JVM wrote no class archive at {tmp}")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _exit_jvm(spark: SparkSession) -> None:
    """Stop Spark and wait for its JVM to exit: the archive is written on the way out."""
    gateway = spark.sparkContext._gateway
    proc = getattr(gateway, "proc", None)
    spark.stop()
    gateway.shutdown()
    if proc is not None:
        proc.stdin.close()  # the gateway server exits when its parent's pipe closes
        proc.wait(timeout=300)


def warm_up(spark: SparkSession, root: str) -> None:
    """A few rows through the operations the stages use."""
    rows = [(i, f"n{i % 3}", f"{i}@x.es", i * 1.5, None if i % 4 else "x") for i in range(12)]
    schema = "id long, name string, email string, amount double, note string"
    df = spark.createDataFrame(rows, schema)
    table = os.path.join(root, "t")
    df.write.format("delta").partitionBy("name").save(table)
    delta = DeltaTable.forPath(spark, table)
    changes = df.withColumn("amount", F.col("amount") + 1).filter(F.col("id") < 8)
    (
        delta.alias("t")
        .merge(changes.alias("s"), "t.id = s.id")
        .whenMatchedUpdateAll("t.amount <> s.amount")
        .whenNotMatchedInsertAll()
        .whenNotMatchedBySourceDelete()
        .execute()
    )
    delta.update(F.col("id") == 1, {"note": F.lit("y")})
    delta.delete(F.col("id") == 2)
    read = spark.read.format("delta").load(table)
    w = Window.partitionBy("name").orderBy(F.col("amount").desc())
    ranked = read.withColumn("rank", F.row_number().over(w)).withColumn(
        "h", F.sha2(F.to_json(F.struct("id", "email")), 256)
    )
    agg = ranked.groupBy("name").agg(
        F.count("*").alias("n"), F.collect_set("email").alias("emails"), F.max("amount")
    )
    joined = ranked.join(F.broadcast(agg), "name").join(read.select("id"), "id", "left_anti")
    joined.localCheckpoint().count()
    delta.history().collect()
    csv = os.path.join(root, "csv")
    read.select("id", "name", "email").write.option("header", True).csv(csv)
    spark.read.option("header", True).csv(csv).collect()
    js = os.path.join(root, "json")
    read.select("id", "email").write.json(js)
    spark.read.json(js).collect()
