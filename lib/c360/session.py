"""The one Delta-enabled SparkSession builder used by every job and by the tests.

Delta jars: setup resolves ``io.delta:delta-spark_<spark>_2.13:<delta>`` once with
Spark's own Ivy resolution into ``spark.jars_cache`` (default ``.cache/ivy``). Local
runs then put the cached jars on ``spark.jars`` directly, so no run after setup needs
the network. Under spark-submit the JVM already exists and the jars come from
``--jars``/``--packages``; the builder only checks that Delta is on the classpath.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata

from pyspark.sql import SparkSession

from c360 import hfs, py4j_cache
from c360.config import Config, is_uri
from c360.errors import ConfigError, DeltaJarsMissingError
from c360.io import CHECKPOINT_CONF
from c360.lake import local_path

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def delta_maven_coordinate() -> str:
    """The Maven coordinate of the Delta jar matching the installed pyspark and delta-spark."""
    import pyspark

    spark_mm = ".".join(pyspark.__version__.split(".")[:2])
    delta_version = metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_mm}_2.13:{delta_version}"


def cached_delta_jars(jars_cache: str) -> list[str]:
    """Jars resolved by :func:`fetch_delta_jars`, or an empty list if setup never ran."""
    jars = sorted(glob.glob(os.path.join(jars_cache, "jars", "*.jar")))
    delta = [j for j in jars if os.path.basename(j).startswith("io.delta_delta-spark_")]
    return jars if delta else []


_RESOLVE = """
import sys
from pyspark.sql import SparkSession
spark = (
    SparkSession.builder.master("local[1]")
    .appName("c360-fetch-jars")
    .config("spark.jars.packages", sys.argv[1])
    .config("spark.jars.ivy", sys.argv[2])
    .config("spark.ui.enabled", "false")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.driver.host", "127.0.0.1")
    .getOrCreate()
)
spark.stop()
"""


def _resolve(coordinate: str, ivy: str) -> None:
    """Let Spark's Ivy resolve ``coordinate`` with its dependencies into ``ivy``/jars. In
    a process of its own: Spark resolves packages only when it starts a JVM, once per
    process."""
    import subprocess

    log.info("resolving %s into %s", coordinate, ivy)
    subprocess.run([sys.executable, "-c", _RESOLVE, coordinate, ivy], check=False)


def fetch_delta_jars(jars_cache: str) -> list[str]:
    """Resolve the Delta jars from Maven Central into the Ivy cache (network needed once)."""
    existing = cached_delta_jars(jars_cache)
    if existing:
        return existing
    coordinate = delta_maven_coordinate()
    _resolve(coordinate, jars_cache)
    jars = cached_delta_jars(jars_cache)
    if not jars:
        raise DeltaJarsMissingError(
            f"could not resolve {coordinate} into {jars_cache}: check access to Maven Central"
        )
    return jars


# hadoop-aws and the AWS SDK bundle it needs (about 700 MB) live in their own Ivy folder:
# on the class path only of sessions whose lake is on s3a (1.5 s more per JVM start).
S3A_FOLDER = "s3a"


def hadoop_version() -> str:
    """The Hadoop inside pyspark (hadoop-aws must match it exactly)."""
    import pyspark

    jars = glob.glob(
        os.path.join(os.path.dirname(pyspark.__file__), "jars", "hadoop-client-api-*.jar")
    )
    if not jars:
        raise DeltaJarsMissingError(
            "no hadoop-client-api jar inside pyspark: cannot pick hadoop-aws"
        )
    return os.path.basename(jars[0])[len("hadoop-client-api-") : -len(".jar")]


def s3a_maven_coordinate() -> str:
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version()}"


def cached_s3a_jars(jars_cache: str) -> list[str]:
    """hadoop-aws and its AWS SDK bundle from the cache, or [] if they were never fetched."""
    jars = sorted(glob.glob(os.path.join(jars_cache, S3A_FOLDER, "jars", "*.jar")))
    aws = [j for j in jars if os.path.basename(j).startswith("org.apache.hadoop_hadoop-aws-")]
    return jars if aws else []


def fetch_s3a_jars(jars_cache: str) -> list[str]:
    """Resolve hadoop-aws (the pyspark Hadoop's version) and the AWS SDK bundle once."""
    existing = cached_s3a_jars(jars_cache)
    if existing:
        return existing
    coordinate = s3a_maven_coordinate()
    _resolve(coordinate, os.path.join(jars_cache, S3A_FOLDER))
    jars = cached_s3a_jars(jars_cache)
    if not jars:
        raise DeltaJarsMissingError(
            f"could not resolve {coordinate} into {jars_cache}/{S3A_FOLDER}: check access to "
            "Maven Central"
        )
    return jars


def uses_s3a(conf: Config) -> bool:
    """Whether this config's session needs the s3a file system on its class path."""
    roots = (conf.lake.root, conf.landing.root, conf.activation.export_root, conf.ml.model_root)
    return conf.spark.s3a_jars or any(r.startswith("s3a://") for r in roots)


def optional_jars() -> list[str]:
    """Jars of optional Python packages that bring JVM code: Splink's similarity UDFs."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return []
    return [similarity_jar_location()]


def java_binary() -> str | None:
    """The java PySpark starts: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    return os.path.join(home, "bin", "java") if home else shutil.which("java")


def class_archive_path(jars_cache: str) -> str:
    """Where the JVM class archive of this pyspark and this java lives (``c360
    class-archive`` builds it). A new pyspark or JDK gets a new file rather than a stale
    one; a JVM also refuses an archive another build wrote, and then just loads classes."""
    import pyspark

    java = java_binary() or "java"
    try:
        stamp = f"{os.path.realpath(java)}|{os.stat(java).st_mtime_ns}"
    except OSError:
        stamp = java
    tag = hashlib.sha256(f"{stamp}|{pyspark.__version__}".encode()).hexdigest()[:12]
    name = f"spark-{pyspark.__version__}-{tag}.jsa"
    return os.path.join(os.path.abspath(jars_cache), "cds", name)


# Quiet: a JVM that cannot use the archive (another JDK build, another class path) says so
# on stdout; it then loads its classes as usual, which is all the archive saves.
ARCHIVE_QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def class_archive_options(jars_cache: str) -> str:
    """JVM options that map Spark's classes from the class archive, or "" if none is built."""
    path = class_archive_path(jars_cache)
    return f"-XX:SharedArchiveFile={path} {ARCHIVE_QUIET}" if os.path.isfile(path) else ""


def with_java_options(settings: dict[str, str], key: str, options: str) -> None:
    """Append JVM options to a ``spark.*.extraJavaOptions`` setting."""
    if options:
        settings[key] = f"{settings.get(key, '')} {options}".strip()


def metastore_settings(conf: Config) -> dict[str, str]:
    """Spark settings for a persistent catalog (``lake.metastore``), so tables registered
    by one run are listed by the next session: Hive support over an embedded Derby
    database in ``lake.metastore_dir`` or a shared metastore at a thrift URI."""
    lake = conf.lake
    if not (lake.register_catalog and lake.metastore):
        return {}
    out = {"spark.sql.catalogImplementation": "hive"}
    if lake.metastore.startswith("thrift://"):
        out["spark.hadoop.hive.metastore.uris"] = lake.metastore
        return out
    if lake.metastore != "derby":
        raise ConfigError(
            f'lake.metastore: \'{lake.metastore}\' is not "", "derby" or a thrift:// URI'
        )
    folder = lake.metastore_dir or (
        ""
        if is_uri(lake.root) and not lake.root.startswith("file:")
        else os.path.join(local_path(lake.root), "_metastore")
    )
    if not folder:
        raise ConfigError(
            "lake.metastore_dir: set a local folder for the Derby metastore of a lake on "
            f"object storage ({lake.root})"
        )
    os.makedirs(folder, exist_ok=True)
    out["spark.hadoop.javax.jdo.option.ConnectionURL"] = (
        f"jdbc:derby:;databaseName={folder}/metastore_db;create=true"
    )
    # Derby's own log there too, not derby.log in the working folder
    out["spark.driver.extraJavaOptions"] = f"-Dderby.system.home={folder}"
    return out


def running_under_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands PySpark its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def missing_jars_message(jars_cache: str) -> str:
    return (
        f"Delta Lake jars not found in {jars_cache}/jars: run scripts/setup.sh "
        f"(or `c360 fetch-jars`) once with network access to Maven Central"
    )


def build_spark(conf: Config, *, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Build (or return) the Delta-enabled session for this config."""
    sconf = conf.spark
    builder = SparkSession.builder.appName(sconf.app_name)
    submitted = running_under_spark_submit()
    if not submitted:
        jars = cached_delta_jars(sconf.jars_cache)
        if not jars:
            raise DeltaJarsMissingError(missing_jars_message(sconf.jars_cache))
        if uses_s3a(conf):
            s3a = cached_s3a_jars(sconf.jars_cache)
            if not s3a:
                raise DeltaJarsMissingError(
                    f"hadoop-aws jars not found in {sconf.jars_cache}/{S3A_FOLDER}/jars (a "
                    "root is on s3a, or spark.s3a_jars is set): run scripts/setup.sh (or `c360 fetch-jars`) once with "
                    "network access to Maven Central"
                )
            jars = [*jars, *s3a]
        builder = (
            builder.master(sconf.master)
            .config("spark.jars", ",".join([*jars, *optional_jars()]))
            .config("spark.driver.memory", sconf.driver_memory)
        )
        # Python workers (pandas UDFs) must see the driver's packages; PySpark reads the
        # worker interpreter from this variable when it creates the SparkContext.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if sconf.bind_localhost:
            builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config(
                "spark.driver.host", "127.0.0.1"
            )
    settings = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(sconf.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": f"{conf.lake.root}/_warehouse",
        # Small lakes: fewer tasks to rebuild a Delta snapshot; matters on 2 cores.
        "spark.databricks.delta.snapshotPartitions": str(max(1, sconf.shuffle_partitions)),
        "spark.sql.ansi.enabled": "false",
        # Spark 4.2 fails on unions of identity's link frames in
        # UnionBase.rewriteConstraints ("key not found"). Constraint propagation only infers
        # filters, so every stage runs without it: set once here, not by one stage for all
        # that follow it in the session.
        "spark.sql.constraintPropagation.enabled": "false",
        # PySpark's DataFrame error context: every Column call would first ask the JVM for
        # the session and a conf, then set and clear a thread-local with the Python call
        # site, five round trips per F.* call. Building the 14 silver typers on the driver:
        # 8.4 -> 6.4 s. Our errors name the table and columns themselves (c360.errors).
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        # Spark's [Stage N:===>] bars: the CLI shows a stage's progress itself (c360.logs)
        "spark.ui.showConsoleProgress": "false",
        # c360.io.checkpointed: local or reliable checkpoints
        CHECKPOINT_CONF: sconf.checkpoint,
        # A reliable checkpoint's files (copies of rows) go when their frame is collected,
        # not with the lake: the erasure removes only other applications' folders.
        "spark.cleaner.referenceTracking.cleanCheckpoints": "true",
    }
    settings.update(metastore_settings(conf))
    settings.update(sconf.conf)
    settings.update(extra_conf or {})
    if not submitted:
        # Spark's own lines from the first one the JVM logs (scripts/submit.sh passes the
        # same file to spark-submit's driver and executors)
        with_java_options(settings, "spark.driver.extraJavaOptions", log4j2_option())
    if not submitted and sconf.class_archive:
        archive = class_archive_options(sconf.jars_cache)
        with_java_options(settings, "spark.driver.extraJavaOptions", archive)
    for key, value in settings.items():
        builder = builder.config(key, value)
    py4j_cache.install()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(sconf.log_level)
    quiet_spark_loggers(spark)
    if submitted:
        _check_delta_on_classpath(spark)
    spark.sparkContext.setCheckpointDir(f"{conf.lake.root}/_checkpoints")
    return spark


# Spark's log4j2 configuration for c360's JVMs: warnings on stderr, less the ones about
# what the pipeline does on purpose (every ``localCheckpoint`` of a persisted frame logs
# that its lineage was truncated, every rank over a whole frame that it has no partition).
LOG4J2_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")


def log4j2_option(path: str = LOG4J2_CONFIG) -> str:
    """The JVM option that makes log4j2 read ``path``."""
    option = f"-Dlog4j2.configurationFile=file:{path}"
    return f'"{option}"' if " " in option else option


def error_only_loggers() -> tuple[str, ...]:
    """The loggers the log4j2 file sets to ERROR (``logger.<id>.name`` and
    ``logger.<id>.level = error``). Read as package data: under spark-submit the package
    is imported from the ``--py-files`` zip, where the file has no path of its own."""
    from importlib import resources

    text = resources.files("c360").joinpath("log4j2.properties").read_text(encoding="utf-8")
    props: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            props[key.strip()] = value.strip()
    ids = [
        k[len("logger.") : -len(".level")]
        for k, v in props.items()
        if k.startswith("logger.") and k.endswith(".level") and v.lower() == "error"
    ]
    return tuple(props[f"logger.{i}.name"] for i in ids)


QUIET_LOGGERS = error_only_loggers()


def quiet_spark_loggers(spark: SparkSession) -> None:
    """Raise the loggers in ``QUIET_LOGGERS`` to ERROR in the driver's log4j2: the same
    as the file does, for a driver started without it (a user's own spark-submit)."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    level = jvm.org.apache.logging.log4j.Level.ERROR
    for name in QUIET_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, level)


def remove_old_checkpoints(spark: SparkSession, root: str) -> int:
    """Delete the checkpoint folders other Spark applications left under
    ``<root>/_checkpoints`` (they hold copies of rows, so an erasure must not leave them),
    through the lake's own file system. Call it while holding the lake lock. Returns the
    folders removed."""
    mine = (spark.sparkContext.getCheckpointDir() or "").rstrip("/")
    removed = 0
    for entry in hfs.list_dir(spark, f"{root.rstrip('/')}/_checkpoints"):
        if entry.is_dir and not mine.endswith(f"/{entry.name}"):
            hfs.delete(spark, entry.path)
            removed += 1
    return removed


def _check_delta_on_classpath(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(DELTA_EXTENSION, False, loader)
    except Exception:
        raise DeltaJarsMissingError(
            "Delta Lake is not on the cluster classpath: pass "
            f"--packages {delta_maven_coordinate()} or --jars with the cached jars"
        ) from None


@contextlib.contextmanager
def spark_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Runtime SQL settings for the block, each restored (or unset) afterwards: the
    session is shared, and what one step needs must not leak into the next."""
    before = {k: spark.conf.get(k, None) for k in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
