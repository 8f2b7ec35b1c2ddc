"""The session builder, the lake layout and ops.job_runs, on real Spark and Delta."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from c360.config import Config
from c360.errors import ConfigError, LakeNotWritableError
from c360.lake import Lake, ensure_writable, split_table_name
from c360.logs import TerminalProgress, configure_logging
from c360.logs import step as log_step
from c360.runner import STAGES, StageContext, StageResult, latest_runs, run_stages
from c360.session import (
    QUIET_LOGGERS,
    class_archive_options,
    class_archive_path,
    with_java_options,
)
from c360.summary import run_status


def stage_copy(ctx: StageContext) -> StageResult:
    """A real stage for the runner tests: writes a small Delta table."""
    df = ctx.spark.range(3).withColumn("as_of", F.lit(ctx.as_of))
    df.write.format("delta").mode("overwrite").save(ctx.lake.path("bronze.t_copy"))
    return StageResult(rows_read={}, rows_written={"bronze.t_copy": 3})


def stage_counted(ctx: StageContext) -> StageResult:
    """A stage whose step counts its frame for the log line only."""
    with log_step(logging.getLogger("c360.test_counted"), "t.counted") as p:
        p.rows_out = p.count(ctx.spark.range(5))
    return StageResult()


def stage_boom(ctx: StageContext) -> StageResult:
    raise ValueError("table bronze.t_boom: column x is broken")


def test_session_settings(spark: SparkSession, base_conf: Config) -> None:
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "1"
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert spark.sparkContext.master == "local[2]"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert "/_checkpoints/" in spark.sparkContext.getCheckpointDir()
    # Spark's warnings about what the pipeline does on purpose stay off the user's screen
    log4j = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
    config = log4j.getContext(False).getConfiguration()
    assert "org.apache.spark.sql.execution.window.WindowExec" in QUIET_LOGGERS
    for name in QUIET_LOGGERS:  # its own setting, not the root's level inherited
        logger = config.getLoggerConfig(name)
        assert (logger.getName(), logger.getLevel().toString()) == (name, "ERROR")
    # the shipped file is the driver's configuration, and a logger with one noisy line
    # keeps its other warnings (a filter drops that line only)
    source = config.getConfigurationSource().getLocation()
    assert source.endswith("c360/log4j2.properties"), source
    tasks = config.getLoggerConfig("org.apache.spark.scheduler.TaskSetManager")
    assert tasks.getName() == "org.apache.spark.scheduler.TaskSetManager"
    assert "very large size" in tasks.getFilter().toString()
    assert spark.conf.get("spark.ui.showConsoleProgress") == "false"


def test_py4j_resolves_a_class_and_a_static_method_once(spark: SparkSession) -> None:
    """Building columns sends only calls to the JVM, not a class and a method lookup with
    each (c360.py4j_cache): a typer makes thousands of them."""
    client = spark.sparkContext._gateway._gateway_client
    sent: list[str] = []
    send = client.send_command

    def counting(command: str, *args, **kwargs):
        sent.append(command[:2])
        return send(command, *args, **kwargs)

    F.upper(F.trim(F.col("a")))  # resolved once
    client.send_command = counting
    try:
        cols = [F.upper(F.trim(F.col(f"c{i}"))) for i in range(20)]
    finally:
        del client.send_command
    assert len(cols) == 20
    assert len(sent) >= 20 and "r\n" not in sent  # calls, and no reflection command
    # and the resolved members still call the JVM: a real frame evaluates them
    row = spark.createDataFrame([(" ab ", None)], "a string, b string").select(
        F.upper(F.trim(F.col("a"))).alias("a"), F.upper(F.trim(F.col("b"))).alias("b")
    )
    assert row.first().asDict() == {"a": "AB", "b": None}


def test_column_operations_send_no_call_site_to_the_jvm(spark: SparkSession) -> None:
    """PySpark's DataFrame error context is off (c360.session): a Column operation is one
    call to the JVM, not five (the session, a conf, then setting and clearing the Python
    call site around it)."""
    client = spark.sparkContext._gateway._gateway_client
    sent: list[str] = []
    send = client.send_command

    def recording(command: str, *args, **kwargs):
        sent.append(command)
        return send(command, *args, **kwargs)

    a, b = F.col("a"), F.col("b")
    client.send_command = recording
    try:
        ops = [a + b, a == b, a.isNull(), b.cast("int"), a.alias("x")]
    finally:
        del client.send_command
    assert len(ops) == 5
    assert not [c for c in sent if "PySparkCurrentOrigin" in c]
    assert len(sent) <= 6, [c.split("\n")[:3] for c in sent]


def test_delta_roundtrip_and_merge(spark: SparkSession, conf: Config) -> None:
    lake = Lake.from_config(conf)
    path = lake.path("silver.t_merge")
    spark.createDataFrame([(1, "a"), (2, None)], "k INT, v STRING").write.format("delta").save(path)
    updates = spark.createDataFrame([(2, "b"), (3, "  c ")], "k INT, v STRING")
    (
        lake.delta(spark, "silver.t_merge")
        .alias("t")
        .merge(updates.alias("s"), "t.k = s.k")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    expected = spark.createDataFrame([(1, "a"), (2, "b"), (3, "  c ")], "k INT, v STRING")
    assert_df_equality(lake.read(spark, "silver.t_merge"), expected, ignore_row_order=True)
    assert lake.tables(spark) == ["silver.t_merge"]


def test_ensure_table_adds_new_nullable_columns(spark: SparkSession, conf: Config) -> None:
    from pyspark.sql.types import ArrayType, IntegerType, StringType, StructField, StructType

    from c360.errors import SchemaError
    from c360.io import merge_changed

    lake = Lake.from_config(conf)
    old = StructType([StructField("k", IntegerType(), False), StructField("v", StringType())])
    lake.ensure_table(spark, "gold.t_evolve", old)
    merge_changed(
        spark,
        lake,
        "gold.t_evolve",
        spark.createDataFrame([(1, "a"), (2, None)], old),
        old,
        ["k"],
        delete=False,
    )
    new = StructType([*old.fields, StructField("m", ArrayType(StringType()))])
    rows = spark.createDataFrame([(2, "b", ["x"])], new)
    assert merge_changed(spark, lake, "gold.t_evolve", rows, new, ["k"], delete=False) == 1
    expected = spark.createDataFrame([(1, "a", None), (2, "b", ["x"])], new)
    assert_df_equality(lake.read(spark, "gold.t_evolve"), expected, ignore_row_order=True)
    # a property this release creates the table with reaches an existing table, once
    dv = {"delta.enableDeletionVectors": "true"}
    versions = lake.delta(spark, "gold.t_evolve").history().count()
    lake.ensure_table(spark, "gold.t_evolve", new, properties=dv)
    lake.ensure_table(spark, "gold.t_evolve", new, properties=dv)
    assert lake.delta(spark, "gold.t_evolve").history().count() == versions + 1
    props = lake.delta(spark, "gold.t_evolve").detail().first().properties
    assert props["delta.enableDeletionVectors"] == "true"
    required = StructType([*new.fields, StructField("n", IntegerType(), False)])
    with pytest.raises(SchemaError, match=r"gold\.t_evolve.*\(columns: n\)"):
        lake.ensure_table(spark, "gold.t_evolve", required)


def test_columns_carry_their_comments_from_the_contract(spark: SparkSession, conf: Config) -> None:
    """A new table gets every column's comment from the contract in its first commit; a
    table an older release made without them (and without its newest column) gets them
    once, then never again; reads carry no comments (they would follow the data into
    other tables' writes)."""
    from delta.tables import DeltaTable
    from deltalake import DeltaTable as RsTable
    from pyspark.sql.types import StructType

    from c360.lake import with_comments, with_table_comments
    from c360.schemas.ops import DQ_RESULTS
    from c360.schemas.registry import comments_of
    from c360.schemas.silver import MARKET_RESEARCH

    def comments(name: str) -> dict[str, str]:
        return {
            f.name: f.metadata.get("comment", "") for f in RsTable(lake.path(name)).schema().fields
        }

    lake = Lake.from_config(conf)
    lake.ensure_table(spark, "ops.dq_results", DQ_RESULTS)
    assert comments("ops.dq_results") == comments_of("ops.dq_results")
    assert lake.delta(spark, "ops.dq_results").history().count() == 1
    assert "registered check function" in comments_of("ops.dq_results")["check"]
    described = spark.sql(f"DESCRIBE TABLE delta.`{lake.path('ops.dq_results')}`").collect()
    assert {r.col_name: r.comment for r in described}["rows_failed"] == "rows that broke the rule"
    assert all(not f.metadata for f in lake.read(spark, "ops.dq_results").schema.fields)
    # a write that replaces the schema (a pseudo twin rewritten whole) keeps them
    rewrite = spark.createDataFrame([], DQ_RESULTS).transform(with_table_comments, "ops.dq_results")
    rewrite.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        lake.path("ops.dq_results")
    )
    assert comments("ops.dq_results") == comments_of("ops.dq_results")

    # an older release: no `affluence_index` yet, and two comments the contract changed
    name = "silver.market_research"
    said = {**comments_of(name), "segment": "", "_change_ts": "an old comment"}
    old = with_comments(MARKET_RESEARCH, said)
    old = StructType([f for f in old.fields if f.name != "affluence_index"])
    DeltaTable.createIfNotExists(spark).location(lake.path(name)).addColumns(old).execute()
    lake.ensure_table(spark, name, MARKET_RESEARCH)
    assert comments(name) == comments_of(name)
    # quoted in the ADD COLUMNS and in the ALTER COLUMN
    assert "area's" in comments(name)["affluence_index"] and "'" in comments(name)["segment"]
    versions = lake.delta(spark, name).history().count()
    assert versions == 1 + 1 + 2  # create, add the column, one commit per changed comment
    lake.ensure_table(spark, name, MARKET_RESEARCH)
    assert lake.delta(spark, name).history().count() == versions


def test_a_frame_of_a_new_run_date_replaces_its_table_in_one_overwrite(
    spark: SparkSession, conf: Config
) -> None:
    """Gold rows carry their run date, so on a new date the MERGE would rewrite every row:
    the frame is written whole instead, with the MERGE's result; within a date, MERGE."""
    from c360.io import merge_changed

    lake = Lake.from_config(conf)
    schema = "k INT, v STRING, as_of DATE, run_id STRING"
    d1, d2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    name = "gold.t_dated"

    def write(rows: list[tuple], run_date: dt.date) -> int:
        df = spark.createDataFrame(rows, schema)
        return merge_changed(
            spark, lake, name, df, df.schema, ["k"], delete=True, run_date=run_date
        )

    def last_op() -> str:
        return lake.delta(spark, name).history(1).first().operation

    day1 = [(1, "a", d1, "r1"), (2, None, d1, "r1"), (3, "  c ", d1, "r1")]
    day2 = [(1, "a", d2, "r2"), (2, "b", d2, "r2"), (4, None, d2, "r2")]
    write(day1, d1)
    assert write(day2, d2) == 3
    assert last_op() == "WRITE"
    # what the MERGE gives: every row changed (as_of), 3 deleted, 4 inserted
    expected = spark.createDataFrame(day2, schema)
    assert_df_equality(lake.read(spark, name), expected, ignore_row_order=True)
    versions = lake.delta(spark, name).history().count()
    assert write(day2, d2) == 0  # a rerun of the date commits nothing
    assert lake.delta(spark, name).history().count() == versions
    assert write([*day2[:2], (4, "d", d2, "r3")], d2) == 1
    assert last_op() == "MERGE"


def test_table_names() -> None:
    lake = Lake(root="/data/lake")
    assert lake.path("gold.customer_360") == "/data/lake/gold/customer_360"
    assert lake.catalog_name("ops.job_runs") == "c360_ops.job_runs"
    for bad in ["customer_360", "platinum.x", "gold.", "gold.a.b"]:
        with pytest.raises(ConfigError, match="bad table name"):
            split_table_name(bad)


def test_catalog_registration(spark: SparkSession, conf: Config) -> None:
    from c360.schemas.ops import JOB_RUNS

    lake = Lake(root=conf.lake.root, register_catalog=True)
    lake.ensure_table(spark, "ops.t_registered", JOB_RUNS)
    assert spark.catalog.tableExists("c360_ops.t_registered")
    assert spark.table("c360_ops.t_registered").columns == JOB_RUNS.names
    spark.sql("DROP TABLE c360_ops.t_registered")  # catalog only; the Delta files stay


def test_unwritable_lake_root(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(LakeNotWritableError, match="cannot be written"):
        ensure_writable(str(blocker / "lake"))
    ensure_writable(str(tmp_path / "ok" / "lake"))  # creates it


def test_a_step_counts_rows_for_its_log_line_only_when_configured(
    spark: SparkSession,
    conf: Config,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(STAGES, "t_counted", "test_platform:stage_counted")
    as_of = dt.date(2026, 11, 24)
    with caplog.at_level(logging.INFO, logger="c360.test_counted"):
        run_stages(spark, conf, as_of, ["t_counted"])  # the default: no count job
        run_stages(spark, conf.with_overrides(["logging.count_rows=true"]), as_of, ["t_counted"])
    ends = [m for m in caplog.messages if m.startswith("step=t.counted rows_in")]
    # the step line also gives the Spark jobs the step started: the count is one
    assert [m.split(" seconds=")[0] for m in ends] == [
        "step=t.counted rows_in=- rows_out=- jobs=0",
        "step=t.counted rows_in=- rows_out=5 jobs=1",
    ]


def test_job_runs_records_success_and_failure(
    spark: SparkSession, conf: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(STAGES, "t_copy", "test_platform:stage_copy")
    monkeypatch.setitem(STAGES, "t_boom", "test_platform:stage_boom")
    as_of = dt.date(2026, 11, 24)
    run_stages(spark, conf, as_of, ["t_copy"], pipeline_run_id="p1")
    with pytest.raises(ValueError, match="column x"):
        run_stages(spark, conf, as_of, ["t_boom"], pipeline_run_id="p2")

    log = Lake.from_config(conf).read(spark, "ops.job_runs")
    # append-only: each run's `running` row, then its outcome
    assert sorted((r.run_id, r.status) for r in log.collect()) == [
        ("p1-t_copy", "running"),
        ("p1-t_copy", "succeeded"),
        ("p2-t_boom", "failed"),
        ("p2-t_boom", "running"),
    ]
    runs = latest_runs(log)
    got = runs.select(
        "run_id", "stage", "as_of", "status", F.col("rows_written")["bronze.t_copy"].alias("w")
    )
    expected = spark.createDataFrame(
        [
            ("p1-t_copy", "t_copy", as_of, "succeeded", 3),
            ("p2-t_boom", "t_boom", as_of, "failed", None),
        ],
        "run_id STRING, stage STRING, as_of DATE, status STRING, w BIGINT",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    failed = runs.filter("status = 'failed'").first()
    assert failed.error.startswith("ValueError: table bronze.t_boom")
    assert failed.ended_at >= failed.started_at
    ok = runs.filter("status = 'succeeded'").first()
    assert ok.seconds is not None and ok.seconds >= 0
    # the stage's fixed cost: one table written is one commit; the failure wrote nothing
    assert ok.delta_commits == 1 and ok.spark_jobs >= 1
    assert (failed.delta_commits, failed.spark_jobs) == (0, 0)
    # c360 status: newest pipeline run first, a line per stage with its error
    lake = Lake.from_config(conf)
    status = run_status(spark, lake)
    assert len(status) == 4, status
    assert status[0].startswith("pipeline run p2 as_of=2026-11-24 started ")
    assert status[0].endswith(": 1 stage(s), failed in t_boom")
    assert status[1].startswith("  t_boom       failed    rows_in=0 rows_out=0 ")
    assert status[1].endswith("error: ValueError: table bronze.t_boom: column x is broken")
    assert status[2].endswith(": 1 stage(s), succeeded")
    assert status[3].startswith("  t_copy       succeeded rows_in=0 rows_out=3 ")
    assert status[3].endswith(f"jobs={ok.spark_jobs} commits=1")
    assert run_status(spark, lake, pipelines=1) == status[:2]
    empty = Lake(str(conf.lake.root) + "-none")
    assert run_status(spark, empty) == [
        f"no runs yet (ops.job_runs does not exist under {empty.root})"
    ]


def test_class_archive_options_name_the_archive_only_once_it_is_built(tmp_path: Path) -> None:
    assert class_archive_options(str(tmp_path)) == ""
    path = Path(class_archive_path(str(tmp_path)))
    assert path.parent == tmp_path / "cds" and path.name.startswith("spark-")
    path.parent.mkdir()
    path.write_bytes(b"")
    options = class_archive_options(str(tmp_path))
    assert f"-XX:SharedArchiveFile={path}" in options and "-Xlog:cds=off" in options
    settings = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}
    with_java_options(settings, "spark.driver.extraJavaOptions", options)
    assert settings["spark.driver.extraJavaOptions"] == f"-XX:TieredStopAtLevel=1 {options}"


@pytest.mark.slow
def test_class_archive_is_built_once_and_a_jvm_maps_it(
    repo: Path, base_conf: Config, tmp_path: Path
) -> None:
    """``c360 class-archive`` dumps the archive; a Spark started with ``-Xshare:on`` (which
    refuses to start if it cannot map it) then runs a Delta job from it."""
    cache = tmp_path / "ivy"
    cache.mkdir()
    (cache / "jars").symlink_to(Path(base_conf.spark.jars_cache) / "jars")
    sets = ["--set", f"spark.jars_cache={cache}", "--set", f"lake.root={tmp_path / 'lake'}"]
    args = [sys.executable, "-m", "c360.cli", "class-archive", "--conf", "conf/test.yaml", *sets]
    built = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    path = Path(class_archive_path(str(cache)))
    assert f"built: {path}" in built.stdout and path.stat().st_size > 50e6
    again = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=600)
    assert f"ready: {path}" in again.stdout
    code = (
        "import sys; from c360.config import load_config; from c360.session import build_spark\n"
        f"conf = load_config('conf/test.yaml', ['spark.jars_cache={cache}',"
        f" 'lake.root={tmp_path / 'lake'}'])\n"
        "spark = build_spark(conf, extra_conf={'spark.driver.extraJavaOptions':"
        " '-Xshare:on'})\n"
        f"spark.range(3).write.format('delta').save('{tmp_path / 't'}')\n"
        f"print('rows', spark.read.format('delta').load('{tmp_path / 't'}').count())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0 and "rows 3" in run.stdout, run.stderr[-3000:]


def test_a_terminal_shows_one_progress_line_per_stage() -> None:
    """On a terminal a stage's INFO lines become one line rewritten in place (stage k of
    n, step, rows, seconds); warnings and the stage's end line print whole."""
    out = io.StringIO()
    handler = TerminalProgress(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("c360.test_progress")
    log.propagate, log.level = False, logging.INFO
    log.addHandler(handler)
    try:
        start = {"stage": "silver", "stage_index": 2, "stage_count": 9}
        log.info("stage=silver run_id=r as_of=2026-11-03 started", extra=start)
        log.info("step=silver.sales files=1 rows_checked=1234 inserted=1 seconds=0.1")
        log.warning("step=silver.sales 3 rows quarantined")  # a None row, say
        log.info("step=silver.shared seconds=1.0")
        log.info("stage=silver status=succeeded rows_out=7", extra={"stage_done": True})
        log.info("step=gold.inputs started")  # between stages: no stage in the line
        handler.end()  # a command prints its result: the line leaves the screen first
    finally:
        log.removeHandler(handler)
        handler.close()
    text = out.getvalue()
    lines = text.split("\n")
    assert lines[:2] == [
        "\r\x1b[K[2/9] silver  0s"
        "\r\x1b[K[2/9] silver  silver.sales  rows 1,234  0s"
        "\r\x1b[KWARNING step=silver.sales 3 rows quarantined",
        "\r\x1b[K[2/9] silver  silver.sales  rows 1,234  0s"
        "\r\x1b[K[2/9] silver  silver.shared  0s"
        "\r\x1b[KINFO stage=silver status=succeeded rows_out=7",
    ]
    assert lines[2:] == ["\r\x1b[Kc360  gold.inputs  0s\r\x1b[K"]
    assert "files=1" not in text  # the plain INFO lines never print on a terminal


def test_logs_are_plain_lines_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", terminal=False)
    logging.getLogger("c360.test_plain").info("step=x rows_out=1 seconds=0.1")
    assert capsys.readouterr().err.endswith("INFO c360.test_plain: step=x rows_out=1 seconds=0.1\n")
    configure_logging("INFO", terminal=True)
    assert isinstance(logging.getLogger().handlers[0], TerminalProgress)
    configure_logging("WARNING", terminal=True)  # nothing to show progress with
    assert not isinstance(logging.getLogger().handlers[0], TerminalProgress)
    logging.getLogger("splink.internals.estimate_u").info("Estimating u for: vin")
    logging.getLogger("splink.internals.expectation_maximisation").warning("m values not...")
    assert capsys.readouterr().err == ""


SPARK_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|ERROR) (\S+): (.*)$", re.M)


def test_a_run_prints_no_spark_warning_and_no_progress_bar(world: Path) -> None:
    """The small world's ``c360 run`` (Spark at WARN, as in the demo): Spark's own lines
    follow lib/c360/log4j2.properties, so nothing the pipeline does on purpose shows."""
    text = (world / "run.log").read_text(encoding="utf-8")
    assert "stage=reconcile status=succeeded" in text
    assert SPARK_LINE.findall(text) == []
    assert "[Stage " not in text and "Using Spark's default log4j profile" not in text
    assert " splink." not in text and "Estimating u for" not in text  # Splink's narration


# ----------------------------------------------------------------------- structure


LAYERS = ("bronze", "silver", "identity", "gold", "ml", "activation", "privacy", "serve")
# Commands over the whole lake: they may use any layer, and no layer uses them.
TOP = ("cli", "reconcile", "html_report", "summary", "checksum", "generate")


def layer_rank(module: str) -> int:
    """0 for the core (config, lake, io, schemas, runner, ...), then the layers in order,
    then the commands."""
    part = module.split(".")[1] if "." in module else ""
    if part in LAYERS:
        return 1 + LAYERS.index(part)
    return len(LAYERS) + 1 if part in TOP else 0


def c360_imports(path: Path) -> list[str]:
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("c360"):
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("c360")]
    return out


def test_imports_only_go_down_the_layers(repo: Path) -> None:
    """core and io, then bronze, silver, identity, gold, ml, activation, privacy, serve: a module
    imports its own layer or lower ones, never a higher one (imported in the function
    bodies too)."""
    package = repo / "lib" / "c360"
    upward = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        module = ".".join(p for p in parts if p != "__init__")
        upward += [
            f"{module} -> {target}"
            for target in c360_imports(path)
            if layer_rank(target) > layer_rank(module)
        ]
    assert upward == []
    # the check itself sees an upward import
    assert layer_rank("c360.privacy.erase") > layer_rank("c360.identity.stage") > 0
    assert layer_rank("c360.io") == layer_rank("c360.lake") == 0


def test_every_table_of_a_run_is_in_the_registry(spark: SparkSession, world: Path) -> None:
    """The registry (schemas/registry.py) names every table the pipeline writes, but the
    per-source bronze tables, with the schema the table has."""
    from c360.schemas.registry import SCHEMAS

    lake = Lake(str(world / "lake"))
    tables = lake.tables(spark)
    sources = {t for t in tables if t.startswith("bronze.") and t != "bronze.quarantine"}
    assert sorted(set(tables) - sources - set(SCHEMAS)) == []
    for name in ["silver.customers", "gold.customer_360", "ops.job_runs"]:
        have = {f.name: f.dataType for f in lake.read(spark, name).schema.fields}
        assert have == {f.name: f.dataType for f in SCHEMAS[name].fields}, name


def test_the_suite_finds_files_left_in_the_checkout(repo: Path) -> None:
    """conftest's end-of-run check (pytest_sessionfinish) sees a file a test leaves."""
    from conftest import repo_leftovers

    before = repo_leftovers(repo)
    probe = repo / f"leftover-probe-{os.getpid()}.csv"
    probe.write_text("a,b\n", encoding="utf-8")
    try:
        assert repo_leftovers(repo) - before == {probe.name}
    finally:
        probe.unlink()
    assert repo_leftovers(repo) == before


def test_setup_refuses_a_java_older_than_17(repo: Path, tmp_path: Path) -> None:
    """Before anything is installed: one line naming the version found and what to do."""
    fake = tmp_path / "bin"
    fake.mkdir()
    java = fake / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = f"{fake}:{env['PATH']}"
    proc = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert 'Java 17 or newer is required; found: openjdk version "11.0.2"' in proc.stderr
    assert "apt-get install openjdk-17-jre-headless" in proc.stderr


def test_the_lock_satisfies_pyproject_and_is_what_is_installed(repo: Path) -> None:
    """requirements.lock pins a version inside every range of pyproject.toml, and the
    environment the tests run in has exactly those versions."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    locked = {}
    for line in (repo / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(";")[0].strip().split("==")
            locked[name.lower().replace("_", "-")] = version
    for req in wanted:
        name = req.name.lower().replace("_", "-")
        assert name in locked, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(locked[name]), f"{req.name}: {locked[name]} not {req}"
        assert metadata.version(req.name) == locked[name], f"{req.name} installed != locked"


def column_gaps(docs: dict[str, list[str]], schemas: dict) -> list[str]:
    gaps = []
    for name, schema in sorted(schemas.items()):
        if name not in docs:
            gaps.append(f"{name}: no section in the contract")
            continue
        have, doc = set(schema.fieldNames()), set(docs[name])
        gaps += [f"{name}.{c}: not in the contract" for c in sorted(have - doc)]
        gaps += [f"{name}.{c}: documented, not in the table" for c in sorted(doc - have)]
    return gaps


def test_the_contract_documents_exactly_the_columns_of_every_table(
    repo: Path, tmp_path: Path
) -> None:
    """bronze_silver_gold.md and the registry's schemas name the same columns, both ways."""
    from pyspark.sql.types import StructType

    from c360.schemas.contract import documented_columns
    from c360.schemas.registry import SCHEMAS

    assert column_gaps(documented_columns(repo / "bronze_silver_gold.md"), SCHEMAS) == []
    # the reader on a small contract: a table, a list with a group and a note, an alias
    contract = tmp_path / "contract.md"
    contract.write_text(
        "### Record metadata\n\n| column | type | meaning |\n|---|---|---|\n"
        "| `_is_deleted` | boolean | |\n\n"
        "### Party fields\n\n`email`, `phone`.\n\n"
        "### `silver.a`\n\n| column | type | meaning |\n|---|---|---|\n"
        "| `id`, `n` | string | |\n\n"
        "### `silver.b`\n\n- **Columns:** `id` string, `kind` (`x` / `y`), the party fields,\n"
        "  the record metadata.\n\n"
        "### `silver.c`\n\n- Columns: as `silver.a`, with `m` (int) instead of `n`.\n\n## End\n",
        encoding="utf-8",
    )
    docs = documented_columns(contract)
    assert docs["silver.a"] == ["id", "n"]
    assert sorted(docs["silver.b"]) == ["_is_deleted", "email", "id", "kind", "phone"]
    assert docs["silver.c"] == ["id", "m"]
    table = StructType.fromJson(
        {
            "type": "struct",
            "fields": [
                {"name": c, "type": "string", "nullable": True, "metadata": {}} for c in ("id", "z")
            ],
        }
    )
    assert column_gaps(docs, {"silver.a": table, "silver.x": table}) == [
        "silver.a.z: not in the contract",
        "silver.a.n: documented, not in the table",
        "silver.x: no section in the contract",
    ]


def test_every_table_carries_its_description_from_the_contract(repo: Path, world: Path) -> None:
    """schemas/descriptions.json is what scripts/contract_json.py writes from the contract
    now, every registered table has a description and every column a comment, and every
    table of a run carries them (delta-rs)."""
    import importlib.util

    from deltalake import DeltaTable

    from c360.schemas.registry import SCHEMAS, comments_of, description_of

    spec = importlib.util.spec_from_file_location(
        "contract_json", repo / "scripts/contract_json.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    written = (repo / "lib/c360/schemas/descriptions.json").read_text(encoding="utf-8")
    assert written == script.render(), "run scripts/contract_json.py"
    assert [t for t in SCHEMAS if not description_of(t)] == []
    assert description_of("bronze.sales") == description_of("bronze.<source>")
    for name in ["silver.customers", "gold.customer_360", "ops.job_runs"]:
        layer, table = name.split(".")
        meta = DeltaTable(str(world / "lake" / layer / table)).metadata()
        assert meta.description == description_of(name), name
    assert "Grain: one row per current customer_id" in (description_of("gold.customer_360") or "")
    uncommented = [
        f"{t}.{c}" for t, sc in SCHEMAS.items() for c in sc.names if not comments_of(t).get(c)
    ]
    assert uncommented == []
    assert comments_of("silver.customers")["customer_id"].startswith("the persistent customer id")
    assert comments_of("bronze.sales")["_file_sha256"] == "SHA-256 of the file's bytes"
    wrong = []
    for folder in sorted(p.parent for p in (world / "lake").glob("*/*/_delta_log")):
        name = f"{folder.parent.name}.{folder.name}"
        said = comments_of(name)
        have = {f.name: f.metadata.get("comment") for f in DeltaTable(str(folder)).schema().fields}
        wrong += [f"{name}.{c}" for c in said if have.get(c) != said[c]]
    assert wrong == []


@pytest.mark.slow
def test_registered_tables_are_listed_by_a_new_session(repo: Path, tmp_path: Path) -> None:
    """lake.metastore: derby keeps the catalog on disk: a table one process registers,
    another lists (SHOW TABLES IN c360_gold) and reads by name. Two JVMs: slow tier."""
    sets = [
        f"lake.root={tmp_path / 'lake'}",
        "lake.register_catalog=true",
        "lake.metastore=derby",
    ]
    script = (
        "import sys\n"
        "from c360.config import load_config\n"
        "from c360.lake import Lake\n"
        "from c360.schemas.ops import JOB_RUNS\n"
        "from c360.session import build_spark\n"
        "conf = load_config('conf/test.yaml', sys.argv[2:])\n"
        "spark = build_spark(conf)\n"
        "if sys.argv[1] == 'create':\n"
        "    Lake.from_config(conf).ensure_table(spark, 'gold.t_catalog', JOB_RUNS)\n"
        "else:\n"
        "    print([r[1] for r in spark.sql('SHOW TABLES IN c360_gold').collect()])\n"
        "    print(spark.table('c360_gold.t_catalog').columns[0])\n"
    )
    for step in ("create", "show"):
        proc = subprocess.run(
            [sys.executable, "-c", script, step, *sets],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-2:] == ["['t_catalog']", "run_id"]
    assert (tmp_path / "lake" / "_metastore" / "metastore_db").is_dir()


def test_metastore_settings(conf: Config, tmp_path: Path) -> None:
    from c360.session import metastore_settings

    assert metastore_settings(conf) == {}  # no catalog: Spark's in-memory one
    derby = conf.with_overrides(["lake.register_catalog=true", "lake.metastore=derby"])
    got = metastore_settings(derby)
    assert got["spark.sql.catalogImplementation"] == "hive"
    assert (
        f"{conf.lake.root}/_metastore/metastore_db"
        in got["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    thrift = derby.with_overrides(["lake.metastore=thrift://meta:9083"])
    assert metastore_settings(thrift)["spark.hadoop.hive.metastore.uris"] == "thrift://meta:9083"
    s3 = derby.with_overrides(["lake.root=s3a://bucket/c360"])
    with pytest.raises(ConfigError, match=r"lake\.metastore_dir: set a local folder"):
        metastore_settings(s3)
    with pytest.raises(ConfigError, match=r"lake\.metastore: 'mysql'"):
        metastore_settings(derby.with_overrides(["lake.metastore=mysql"]))
    named = Lake(root="/data/lake", catalog="main")
    assert named.catalog_name("gold.customer_360") == "main.c360_gold.customer_360"


def test_checkpoints_are_reliable_on_a_cluster_and_local_on_a_local_master(
    spark: SparkSession,
) -> None:
    """A reliable checkpoint writes the rows under the checkpoint folder (they survive a
    lost executor); a local one keeps them in the block store. Same rows either way."""
    from c360 import hfs
    from c360.io import CHECKPOINT_CONF, checkpointed, reliable_checkpoints

    df = spark.createDataFrame([(1, "a"), (2, None), (3, " Ünï ")], "id int, v string")
    folder = spark.sparkContext.getCheckpointDir()
    assert folder and spark.conf.get(CHECKPOINT_CONF) == "auto"
    assert not reliable_checkpoints(spark)  # local[2]

    def files() -> int:
        return len(hfs.files_under(spark, folder))

    before = files()
    assert_df_equality(checkpointed(df), df, ignore_row_order=True)
    assert files() == before
    spark.conf.set(CHECKPOINT_CONF, "reliable")
    try:
        assert_df_equality(df.transform(checkpointed), df, ignore_row_order=True)
        assert files() > before
    finally:
        spark.conf.set(CHECKPOINT_CONF, "auto")
