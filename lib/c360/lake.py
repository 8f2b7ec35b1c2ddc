"""Lake layout: ``<root>/<layer>/<table>``, one Delta table per folder.

Tables are named ``layer.table`` everywhere in code (``bronze.sales``, ``ops.job_runs``);
this module is the only place that turns a name into a storage path or a catalog name.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from functools import reduce

from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from c360 import hfs
from c360.config import Config
from c360.errors import ConfigError, LakeNotWritableError, SchemaError
from c360.schemas.pii import stats_properties
from c360.schemas.registry import comments_of, description_of

log = logging.getLogger(__name__)

LAYERS: tuple[str, ...] = ("bronze", "silver", "gold", "pseudo", "ops")
PSEUDO = "pseudo"  # the pseudonymized twins: under lake.pseudo_root, granted on their own


def with_comments(schema: StructType, comments: dict[str, str]) -> StructType:
    """The schema with each column's comment from the contract in its field metadata,
    which is where Delta keeps a column comment."""
    return StructType(
        [
            StructField(f.name, f.dataType, f.nullable, {**f.metadata, "comment": comments[f.name]})
            if comments.get(f.name)
            else f
            for f in schema.fields
        ]
    )


def without_comments(df: DataFrame) -> DataFrame:
    """The frame with no field metadata: a table read carries its columns' comments, which
    would follow the data into another table's write and into schema comparisons."""
    if not any(f.metadata for f in df.schema.fields):
        return df
    return df.select(*[F.col(f"`{f.name}`").alias(f.name, metadata={}) for f in df.schema.fields])


def with_table_comments(df: DataFrame, name: str) -> DataFrame:
    """The frame with table ``name``'s column comments, for a write that replaces the
    table's schema (``overwriteSchema``), which would otherwise drop them."""
    said = comments_of(name)
    return df.select(
        *[
            F.col(f"`{c}`").alias(c, metadata={"comment": said[c]})
            if said.get(c)
            else F.col(f"`{c}`")
            for c in df.columns
        ]
    )


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_table_name(name: str) -> tuple[str, str]:
    layer, _, table = name.partition(".")
    if layer not in LAYERS or not table or "." in table or "/" in table:
        raise ConfigError(f"bad table name '{name}': expected <layer>.<table>, layer in {LAYERS}")
    return layer, table


@dataclass(frozen=True)
class Lake:
    root: str
    register_catalog: bool = False
    catalog: str = ""
    pseudo_root: str = ""  # "" = <root>/pseudo

    @classmethod
    def from_config(cls, conf: Config) -> Lake:
        return cls(
            root=conf.lake.root.rstrip("/"),
            register_catalog=conf.lake.register_catalog,
            catalog=conf.lake.catalog,
            pseudo_root=conf.lake.pseudo_root.rstrip("/"),
        )

    @property
    def pseudo(self) -> str:
        """Where the pseudonymized tables live: ``<pseudo_root>/<table>``."""
        return self.pseudo_root or f"{self.root}/{PSEUDO}"

    def path(self, name: str) -> str:
        layer, table = split_table_name(name)
        if layer == PSEUDO:
            return f"{self.pseudo}/{table}"
        return f"{self.root}/{layer}/{table}"

    def catalog_name(self, name: str) -> str:
        layer, table = split_table_name(name)
        return f"{self.catalog}.c360_{layer}.{table}" if self.catalog else f"c360_{layer}.{table}"

    def exists(self, spark: SparkSession, name: str) -> bool:
        return DeltaTable.isDeltaTable(spark, self.path(name))

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        return without_comments(spark.read.format("delta").load(self.path(name)))

    def delta(self, spark: SparkSession, name: str) -> DeltaTable:
        return DeltaTable.forPath(spark, self.path(name))

    def _checksum(self, spark: SparkSession, name: str):  # a py4j object, or None
        """The checksum Delta writes beside the table's latest commit (its file count and,
        for tables of few files, every file with its statistics), or None. Reading it
        loads the log, never the table state: no Spark job."""
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        jsession = spark._jsparkSession  # type: ignore[attr-defined]
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(jsession, self.path(name))
        none = jvm.scala.Option.empty()
        checksum = delta_log.update(False, none, none).checksumOpt()
        return checksum.get() if checksum.isDefined() else None

    def is_empty(self, spark: SparkSession, name: str) -> bool:
        """True when the table's latest version has no data file, as its checksum says: no
        Spark job, so a stage's first write can be an append (1 job) instead of a MERGE
        (7). False when the checksum is missing or the Delta internals it is read through
        changed: the caller then MERGEs as usual."""
        return self.file_count(spark, name) == 0  # None: unknown, so MERGE as usual

    def file_count(self, spark: SparkSession, name: str) -> int | None:
        """Data files of the latest version, from its checksum (no Spark job); None when
        there is no checksum to read."""
        try:
            checksum = self._checksum(spark, name)
            return None if checksum is None else int(checksum.numFiles())
        except Py4JError:
            log.debug("table=%s no file count in the checksum", name, exc_info=True)
            return None

    def logged_row_count(self, spark: SparkSession, name: str) -> int | None:
        """Rows of the latest version from the statistics of the files its checksum lists
        (records less those a deletion vector hides), without a Spark job; None when the
        checksum lists no files (Delta leaves them out of large tables), a file has no
        statistics, or the Delta internals changed: count with Spark then."""
        try:
            checksum = self._checksum(spark, name)
            files = None if checksum is None else checksum.allFiles()
            if files is None or not files.isDefined():
                return None
            total = 0
            it = files.get().iterator()
            while it.hasNext():
                rows = it.next().numLogicalRecords()
                if not rows.isDefined():
                    return None
                total += int(rows.get())
            return total
        except Py4JError:
            log.debug("table=%s no row count in the checksum", name, exc_info=True)
            return None

    def ensure_table(
        self,
        spark: SparkSession,
        name: str,
        schema: StructType,
        *,
        partition_by: list[str] | None = None,
        properties: dict[str, str] | None = None,
    ) -> DeltaTable:
        """Create the table with an explicit schema if it is not there yet; add the
        nullable columns a newer release defined to an existing one. Columns carry their
        comments from the contract: set at creation, and on an older table once (one
        commit per column whose comment is missing or changed)."""
        comments = comments_of(name)
        schema = with_comments(schema, comments)
        existed = self.exists(spark, name)  # a new table needs none of the checks below
        builder = DeltaTable.createIfNotExists(spark).location(self.path(name)).addColumns(schema)
        description = description_of(name)
        if description:  # from the data contract: the catalog and delta-rs show it
            builder = builder.comment(description)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        # personal columns never reach the log's statistics (see c360.schemas.pii)
        for key, value in {**stats_properties(schema), **(properties or {})}.items():
            builder = builder.property(key, value)
        table = builder.execute()
        if existed and self._upgrade(
            spark, name, table.toDF().schema, schema, comments, properties
        ):
            table = DeltaTable.forPath(spark, self.path(name))
        self.register(spark, name)
        return table

    def _upgrade(
        self,
        spark: SparkSession,
        name: str,
        have: StructType,
        schema: StructType,
        comments: dict[str, str],
        properties: dict[str, str] | None,
    ) -> bool:
        """Bring a table an older release created up to this one: its new columns, its
        columns' comments and its properties. Whether anything changed."""
        changed = self._add_new_columns(spark, name, have, schema)
        if self._set_comments(spark, name, have, comments):
            changed = True
        if properties and self._set_properties(spark, name, properties):
            changed = True
        return changed

    def properties(self, spark: SparkSession, name: str) -> dict[str, str]:
        """The table's properties (Delta's and ours), as DESCRIBE DETAIL reads them from its log."""
        return self.delta(spark, name).detail().select("properties").first()[0] or {}

    def set_properties(self, spark: SparkSession, name: str, properties: dict[str, str]) -> None:
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(properties.items()))
        spark.sql(f"ALTER TABLE delta.`{self.path(name)}` SET TBLPROPERTIES ({pairs})")

    def _set_properties(self, spark: SparkSession, name: str, properties: dict[str, str]) -> bool:
        """Give a table created by an older release the properties this one creates it
        with (one commit, once)."""
        have = self.properties(spark, name)
        missing = {k: v for k, v in properties.items() if have.get(k) != v}
        if not missing:
            return False
        self.set_properties(spark, name, missing)
        log.info("table=%s set properties %s", name, sorted(missing))
        return True

    def _set_comments(
        self, spark: SparkSession, name: str, have: StructType, comments: dict[str, str]
    ) -> bool:
        """Give a table created before its columns had comments, or whose contract changed,
        the contract's comments."""
        stale = [
            f.name
            for f in have.fields
            if comments.get(f.name) and f.metadata.get("comment") != comments[f.name]
        ]
        for column in stale:
            spark.sql(
                f"ALTER TABLE delta.`{self.path(name)}` ALTER COLUMN `{column}` "
                f"COMMENT {_sql_string(comments[column])}"
            )
        if stale:
            log.info("table=%s set the comments of %d columns", name, len(stale))
        return bool(stale)

    def _add_new_columns(
        self, spark: SparkSession, name: str, have_schema: StructType, schema: StructType
    ) -> bool:
        have = set(have_schema.fieldNames())
        new = [f for f in schema.fields if f.name not in have]
        if not new:
            return False
        required = [f.name for f in new if not f.nullable]
        if required:
            raise SchemaError(
                name, "the table predates required columns: rebuild it from its inputs", required
            )
        cols = ", ".join(
            f"`{f.name}` {f.dataType.simpleString()}"
            + (
                f" COMMENT {_sql_string(f.metadata['comment'])}"
                if f.metadata.get("comment")
                else ""
            )
            for f in new
        )
        spark.sql(f"ALTER TABLE delta.`{self.path(name)}` ADD COLUMNS ({cols})")
        log.info("table=%s added columns %s", name, [f.name for f in new])
        return True

    def register(self, spark: SparkSession, name: str) -> None:
        """Optionally expose the table as ``c360_<layer>.<table>`` in the Spark catalog."""
        if not self.register_catalog:
            return
        layer, _ = split_table_name(name)
        schema = f"{self.catalog}.c360_{layer}" if self.catalog else f"c360_{layer}"
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.catalog_name(name)} "
            f"USING DELTA LOCATION '{self.path(name)}'"
        )

    def row_counts(self, spark: SparkSession, names: list[str]) -> dict[str, int]:
        """Rows per table: from the commit checksums where they list the files (no job),
        the rest in one Spark job (a union of their scans, no column read) rather than a
        count job each: on small tables the job is the cost."""
        logged = {n: self.logged_row_count(spark, n) for n in names}
        rest = [n for n, rows in logged.items() if rows is None]
        got = {t: sum(per.values()) for t, per in self.row_counts_by(spark, rest).items()}
        return {n: logged[n] if logged[n] is not None else got.get(n, 0) for n in names}

    def row_counts_by(
        self,
        spark: SparkSession,
        names: list[str],
        column: str | None = None,
        where: Column | None = None,
    ) -> dict[str, dict[object, int]]:
        """Rows per table and value of ``column`` (every table has it), in one Spark job;
        tables without rows are left out. Without ``column``, one count per table under
        the key None. ``where`` filters every table before counting (Delta skips files
        whose statistics rule it out)."""
        if not names:
            return {}
        by = F.col(column) if column else F.lit(None)
        keep = F.lit(True) if where is None else where
        scans = [
            self.read(spark, n).filter(keep).select(F.lit(n).alias("t"), by.alias("v"))
            for n in names
        ]
        union = reduce(DataFrame.unionByName, scans)
        out: dict[str, dict[object, int]] = {}
        for r in union.groupBy("t", "v").agg(F.count(F.lit(1)).alias("n")).collect():
            out.setdefault(r["t"], {})[r["v"]] = int(r["n"])
        return out

    def tables(self, spark: SparkSession) -> list[str]:
        """Every Delta table under the root, as ``layer.table``, listed through the lake's
        own file system (local, HDFS, s3a, abfss), in layer order; a folder whose log has
        no commit yet (a run killed while creating the table) is none."""
        if self.pseudo == f"{self.root}/{PSEUDO}":
            found = hfs.delta_tables(spark, self.root, LAYERS)
        else:
            parent, _, base = self.pseudo.rpartition("/")
            own = hfs.delta_tables(spark, self.root, tuple(x for x in LAYERS if x != PSEUDO))
            twins = [(PSEUDO, t) for _, t in hfs.delta_tables(spark, parent, (base,))]
            found = sorted(own + twins, key=lambda lt: (LAYERS.index(lt[0]), lt[1]))
        return [f"{layer}.{table}" for layer, table in found]


def local_path(root: str) -> str:
    """A local path from a plain path or a ``file:`` URI."""
    if root.startswith("file:"):
        root = root[len("file:") :]
        while root.startswith("//"):
            root = root[1:]
    return root


def is_local(root: str) -> bool:
    return root.startswith("/") or root.startswith("file:")


def ensure_writable(root: str) -> None:
    """Fail early, before any table is touched, if a local lake root cannot be written."""
    if not is_local(root):
        log.info("lake root %s is remote; write access is checked by the first write", root)
        return
    path = local_path(root)
    probe = os.path.join(path, f".c360-write-probe-{uuid.uuid4().hex}")
    try:
        os.makedirs(path, exist_ok=True)
        with open(probe, "w", encoding="utf-8") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise LakeNotWritableError(
            f"lake root {root} cannot be written: {exc.strerror or exc}"
        ) from None
