"""The ``c360`` command and the shared entry point of the thin ``jobs/*.py`` scripts.

Everything that can be checked before Spark starts (config, stage names, --as-of, lake
root) is checked first, so a bad call fails in one line and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from c360.config import Config, load_config
from c360.errors import C360Error
from c360.logs import configure_logging, end_progress
from c360.stages import STAGES

if TYPE_CHECKING:  # the runner imports pyspark: not for `c360 --version` or a bad call
    from pyspark.sql import SparkSession

    from c360.runner import StageResult

log = logging.getLogger("c360")

DEFAULT_CONF = "conf/local.yaml"


def _common(parser: argparse.ArgumentParser, *, as_of: bool) -> None:
    parser.add_argument(
        "--conf",
        default=os.environ.get("C360_CONF", DEFAULT_CONF),
        help="environment YAML (default: $C360_CONF or conf/local.yaml)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set lake.root=s3a://bucket/c360 (repeatable)",
    )
    if as_of:
        parser.add_argument(
            "--as-of",
            required=True,
            help="business date of the run, YYYY-MM-DD; transformations never read the clock",
        )


def _load(args: argparse.Namespace) -> Config:
    conf = load_config(args.conf, args.overrides)
    configure_logging(conf.logging.level)
    return conf


# ------------------------------------------------------------------------ commands


def cmd_run(args: argparse.Namespace) -> int:
    from c360.lake import ensure_writable
    from c360.runner import parse_as_of, resolve_stages

    conf = _load(args)
    as_of = parse_as_of(args.as_of)
    stages = resolve_stages(args.stage, conf)
    if not stages:
        log.warning("no stages to run: pipeline.stages is empty and no --stage was given")
        return 0
    ensure_writable(conf.lake.root)

    from c360.runner import run_stages

    with _locked_session(conf, f"c360 run {' '.join(stages)} --as-of {as_of}") as spark:
        results = run_stages(spark, conf, as_of, stages)
    return rejected_exit(results)


@contextlib.contextmanager
def _locked_session(conf: Config, command: str) -> Iterator[SparkSession]:
    """A session with the lake held. A local lake is taken before Spark starts, so a
    second run fails in a second; a lake on remote storage once the session exists, since
    its lock is an object there, reached through Spark's Hadoop client."""
    from c360.lock import lake_lock, needs_session
    from c360.session import build_spark

    if needs_session(conf):
        spark = build_spark(conf)
        with lake_lock(conf, command, spark=spark):
            yield spark
        return
    with lake_lock(conf, command):
        yield build_spark(conf)


EXIT_REJECTED = 3  # the run completed, but some input was turned away


def rejected_exit(results: dict[str, StageResult]) -> int:
    """0, or 3 with one line per rejected input (a file rejected whole, a quarantine above
    ``pipeline.max_quarantine_share``) and a one-line summary on stderr."""
    rejected = [line for r in results.values() for line in r.rejected]
    if not rejected:
        return 0
    for line in rejected:
        log.warning("rejected input: %s", line)
    more = f" (and {len(rejected) - 1} more)" if len(rejected) > 1 else ""
    print(
        f"c360: completed, but input was rejected: {rejected[0]}{more}; "
        "see ops.bronze_files, bronze.quarantine and silver.quarantine",
        file=sys.stderr,
    )
    return EXIT_REJECTED


def cmd_maintain(args: argparse.Namespace) -> int:
    """``c360 run --stage maintain``; the date it records defaults to today (UTC): no
    table's content depends on it."""
    args.stage = ["maintain"]
    if args.as_of is None:
        args.as_of = dt.datetime.now(dt.UTC).date().isoformat()
    return cmd_run(args)


def cmd_fetch_jars(args: argparse.Namespace) -> int:
    from c360.session import S3A_FOLDER, fetch_delta_jars, fetch_s3a_jars

    conf = _load(args)
    cache = conf.spark.jars_cache
    jars = fetch_delta_jars(cache)
    s3a = fetch_s3a_jars(cache)
    print(
        f"jars ready: Delta {len(jars)} jar(s) in {cache}/jars, hadoop-aws {len(s3a)} jar(s) "
        f"in {cache}/{S3A_FOLDER}/jars"
    )
    return 0


def cmd_class_archive(args: argparse.Namespace) -> int:
    from c360.class_archive import build_class_archive
    from c360.session import cached_delta_jars, class_archive_path

    conf = _load(args)
    if not cached_delta_jars(conf.spark.jars_cache):
        from c360.errors import DeltaJarsMissingError
        from c360.session import missing_jars_message

        raise DeltaJarsMissingError(missing_jars_message(conf.spark.jars_cache))
    had = os.path.isfile(class_archive_path(conf.spark.jars_cache))
    path = build_class_archive(conf)
    size = os.path.getsize(path) / 1e6
    print(f"JVM class archive {'ready' if had else 'built'}: {path} ({size:,.0f} MB)")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from c360.lake import LAYERS, Lake
    from c360.session import build_spark
    from c360.summary import lake_summary

    conf = _load(args)
    lake = Lake.from_config(conf)
    spark = build_spark(conf)
    summary = lake_summary(spark, lake, conf.activation.export_root)
    end_progress()
    print(f"lake root: {lake.root}")
    for layer in LAYERS:
        tables = [t for t in summary.tables if t.name.startswith(f"{layer}.")]
        print(f"{layer}:")
        if not tables:
            print(
                "  (no tables yet)"
                if layer != "gold"
                else "  (no gold tables yet: built by later stages)"
            )
        for t in tables:
            print(f"  {t.name:<28} {t.rows:>10,} rows  {t.path}")
    for line in summary.notes:
        print(line)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from c360.lake import Lake
    from c360.session import build_spark
    from c360.summary import run_status

    conf = _load(args)
    lake = Lake.from_config(conf)
    lines = run_status(build_spark(conf), lake, args.last)
    end_progress()
    for line in lines:
        print(line)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from c360.html_report import write_report
    from c360.lake import Lake
    from c360.runner import parse_as_of
    from c360.session import build_spark

    conf = _load(args)
    as_of = parse_as_of(args.as_of) if args.as_of else None
    out = args.out or os.path.join(conf.lake.root, "report.html")
    path = write_report(build_spark(conf), Lake.from_config(conf), out, as_of)
    end_progress()
    print(f"report: {path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from c360.generate.export import generate
    from c360.session import build_spark

    conf = _load(args)
    spark = build_spark(conf)
    rows = generate(spark, conf, sources=args.source)
    end_progress()
    print(f"landed {sum(rows.values()):,} source records in {conf.landing.root}")
    for name, n in rows.items():  # read by tests/conftest.py (the world's generated.json)
        print(f"  {name:<18} {n:>10,}")
    print(f"ground truth in {conf.generator.truth_root} (never read by the pipeline)")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    import json

    from c360.identity.standalone import load_mapping, read_input, resolve_table, summary
    from c360.runner import parse_as_of
    from c360.session import build_spark

    conf = _load(args)
    as_of = parse_as_of(args.as_of)
    mapping = load_mapping(args.mapping)
    spark = build_spark(conf)
    spark.sparkContext.setCheckpointDir(f"{args.output}/_checkpoints")
    df = read_input(spark, args.input, args.format, mapping)
    res = resolve_table(
        spark,
        df,
        mapping,
        conf.identity,
        args.output,
        as_of=as_of,
        truth=args.truth,
        table=args.input,
    )
    counts = summary(res)
    end_progress()
    print(f"crosswalk: {args.output}/crosswalk   links: {args.output}/links")
    for name, n in counts.items():
        print(f"  {name:<18} {n:>10,}")
    if res.accuracy is not None:
        a = res.accuracy
        print(f"against --truth {args.truth} ({a.records:,} labelled records):")
        print(
            f"  pairwise  precision {a.pairwise_precision:.4f}  recall {a.pairwise_recall:.4f}"
            f"  F1 {a.pairwise_f1:.4f}"
        )
        print(f"  B-cubed   precision {a.bcubed_precision:.4f}  recall {a.bcubed_recall:.4f}")
        print(f"  clusters {a.predicted_clusters:,} vs true entities {a.true_entities:,}")
        if args.metrics_json:
            with open(args.metrics_json, "w", encoding="utf-8") as f:
                json.dump({**counts, **a.as_dict()}, f, indent=2)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    from c360.privacy.erase import Request, plan_erasure, run_erase
    from c360.session import build_spark

    conf = _load(args)
    req = Request(customer_id=args.customer_id, email=args.email, phone=args.phone)
    if args.dry_run:
        plan = plan_erasure(build_spark(conf), conf, req)
        end_progress()
        print(
            f"would erase {', '.join(plan.customer_ids)}: {sum(plan.rows.values()):,} rows in "
            f"{len(plan.rows)} tables, {sum(plan.exports.values()):,} export rows "
            f"({plan.shared} contact point(s) kept: another customer has them); nothing written"
        )
        for table, n in plan.rows.items():
            print(f"  {table:<32} {n:>8,}")
        for file, n in sorted(plan.exports.items()):
            print(f"  exports/{file:<24} {n:>8,}")
        return 0
    # Erasure deletes and vacuums: no pipeline run may read or write the lake meanwhile.
    with _locked_session(conf, "c360 erase") as spark:
        results = run_erase(spark, conf, req)
    end_progress()
    for r in results:
        print(
            f"erased {', '.join(r.customer_ids)} (request {r.request_id}"
            f"{', resumed' if r.resumed else ''}): {sum(r.rows_deleted.values()):,} rows in "
            f"{len(r.rows_deleted)} tables, {sum(r.exports.values()):,} export rows; "
            f"{len(r.purged)} tables vacuumed"
        )
        for table, n in sorted(r.rows_deleted.items()):
            print(f"  {table:<32} {n:>8,}")
    if not results:
        print("nothing to erase: that customer is already erased")
    return 0


def cmd_checksum(args: argparse.Namespace) -> int:
    import json

    from c360.checksum import lake_checksums
    from c360.lake import Lake
    from c360.session import build_spark

    conf = _load(args)
    lake = Lake.from_config(conf)
    spark = build_spark(conf)
    sums = lake_checksums(spark, lake, tuple(args.layer or ("bronze", "silver", "gold")))
    out = {name: {"rows": c.rows, "digest": c.digest} for name, c in sorted(sums.items())}
    print(json.dumps(out, indent=2))
    return 0


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("c360")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def cmd_serve(args: argparse.Namespace) -> int:
    from c360.serve.server import serve

    conf = _load(args)
    serve(conf, args.host, args.port, args.tokens_file)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="c360", description="Customer 360 lakehouse")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run pipeline stages (all configured stages by default)")
    _common(p, as_of=True)
    p.add_argument(
        "--stage",
        action="append",
        default=None,
        metavar="STAGE",
        help=f"stage to run (repeatable): {', '.join(STAGES)}; default: pipeline.stages",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("maintain", help="compact (OPTIMIZE) and vacuum every table: weekly upkeep")
    _common(p, as_of=False)
    p.add_argument("--as-of", default=None, help="date for ops.job_runs (default: today, UTC)")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("generate", help="land deterministic synthetic source exports")
    _common(p, as_of=False)
    p.add_argument("--source", action="append", default=None, help="only this source (repeatable)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "fetch-jars", help="resolve the Delta and hadoop-aws (s3a) jars once into the local cache"
    )
    _common(p, as_of=False)
    p.set_defaults(func=cmd_fetch_jars)

    p = sub.add_parser(
        "class-archive",
        help="dump the JVM class archive every later local Spark start maps (optional)",
    )
    _common(p, as_of=False)
    p.set_defaults(func=cmd_class_archive)

    p = sub.add_parser("resolve", help="identity resolution alone on a CSV/Parquet/Delta table")
    _common(p, as_of=False)
    p.add_argument("--input", required=True, help="the records: a file or folder")
    p.add_argument("--format", default="csv", help="csv (default), parquet or delta")
    p.add_argument("--mapping", required=True, help="YAML mapping from its columns to ours")
    p.add_argument("--output", required=True, help="folder for the crosswalk and links (Delta)")
    p.add_argument("--truth", default=None, help="column with true entity labels: score it")
    p.add_argument("--metrics-json", default=None, help="also write the scores to this file")
    p.add_argument("--as-of", default="1970-01-01", help="date stamped on the output rows")
    p.set_defaults(func=cmd_resolve)

    p = sub.add_parser("report", help="write a self-contained HTML report of the lake")
    _common(p, as_of=False)
    p.add_argument("--as-of", default=None, help="date shown in the title (optional)")
    p.add_argument("--out", default=None, help="HTML file (default <lake root>/report.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("erase", help="right to erasure: remove one person from the lake")
    _common(p, as_of=False)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id", default=None, help="the customer_id to erase")
    who.add_argument("--email", default=None, help="erase the one customer with this email")
    who.add_argument("--phone", default=None, help="erase the one customer with this phone")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be removed, per table; write nothing",
    )
    p.set_defaults(func=cmd_erase)

    p = sub.add_parser(
        "checksum", help="content checksum of every table (JSON): compare two runs of a lake"
    )
    _common(p, as_of=False)
    p.add_argument(
        "--layer",
        action="append",
        default=None,
        help="bronze, silver, gold (the default), or ops, on its content columns (repeatable)",
    )
    p.set_defaults(func=cmd_checksum)

    p = sub.add_parser(
        "serve", help="the lookup service (HTTP, read-only): search, 360, why, vehicle"
    )
    _common(p, as_of=False)
    p.add_argument("--host", default=None, help="bind address (default: serve.host)")
    p.add_argument("--port", type=int, default=None, help="port (default: serve.port)")
    p.add_argument(
        "--tokens-file",
        default=None,
        help="secret file, a line per token: '<id> <full|pseudo> <secret>' "
        "(or $C360_SERVE_TOKENS / $C360_SERVE_TOKENS_FILE)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("summary", help="list the lake's tables with row counts")
    _common(p, as_of=False)
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("status", help="the last pipeline runs: stages, rows, seconds, errors")
    _common(p, as_of=False)
    p.add_argument("--last", type=int, default=3, help="how many pipeline runs (default 3)")
    p.set_defaults(func=cmd_status)
    return parser


def run_guarded(func: Callable[[], int]) -> int:
    """A command's exit code, with no traceback on the user's screen: our errors are one
    line (and their own code), anything else one line and a private trace file."""
    try:
        return func()
    except C360Error as exc:
        print(f"c360: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("c360: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or the engine's own failure: one line, trace in a file
        path = _write_trace(exc)
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(
            f"c360: unexpected error: {type(exc).__name__}: {first} (full trace: {path})",
            file=sys.stderr,
        )
        return 1


def _write_trace(exc: BaseException) -> str:
    """The whole traceback (a Py4J error's carries the JVM's) in a private file under
    ``$C360_LOG_DIR`` or the system temp folder: the screen gets one line."""
    import tempfile
    import traceback

    folder = os.environ.get("C360_LOG_DIR") or tempfile.gettempdir()
    os.makedirs(folder, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="c360-error-", suffix=".log", dir=folder)  # mode 600
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.func(args))


def job_main(stage: str | None, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/<stage>.py``: same arguments as ``c360 run``."""
    parser = argparse.ArgumentParser(
        prog=f"jobs/{stage or 'run_pipeline'}.py",
        description=f"run the {stage} stage" if stage else "run every configured stage in order",
    )
    _common(parser, as_of=True)
    args = parser.parse_args(argv)
    args.stage = [stage] if stage else None
    return run_guarded(lambda: cmd_run(args))


if __name__ == "__main__":
    sys.exit(main())
