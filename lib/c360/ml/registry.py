"""Saved models: ``<root>/<model>/<version>/`` holds the Spark pipeline (``model/``) and
``metadata.json`` (version, dates, features, importances, metrics, parameters).

The root is any path or URI the lake's Hadoop file system reaches (local, ``s3a://``,
``abfss://``). ``metadata.json`` is written last and is what makes a version exist: an
object store has no atomic folder rename, so a crash mid-save leaves a folder without it,
which no reader sees and the next save of that version overwrites."""

from __future__ import annotations

import datetime as dt
import json
import logging

from py4j.protocol import Py4JJavaError
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from c360 import hfs
from c360.errors import ModelError

log = logging.getLogger(__name__)

METADATA = "metadata.json"


def _folder(root: str, name: str, version: str | None = None) -> str:
    base = f"{root.rstrip('/')}/{name}"
    return base if version is None else f"{base}/{version}"


def _read_meta(spark: SparkSession, folder: str) -> dict:
    return json.loads(hfs.read_bytes(spark, f"{folder}/{METADATA}").decode("utf-8"))


def versions(spark: SparkSession, root: str, name: str) -> list[dict]:
    """Metadata of every complete saved version of ``name``, oldest first."""
    try:
        out = [
            _read_meta(spark, d.path)
            for d in hfs.list_dir(spark, _folder(root, name))
            if d.is_dir and not d.name.startswith(".") and hfs.exists(spark, f"{d.path}/{METADATA}")
        ]
    except Py4JJavaError as exc:
        raise ModelError(f"cannot list the models under {root}: {hfs.java_cause(exc)}") from None
    return sorted(out, key=lambda m: (m["trained_as_of"], m["version"]))


def latest(spark: SparkSession, root: str, name: str, as_of: dt.date) -> dict | None:
    """The newest version trained on or before ``as_of`` (a rerun of an old date never
    uses a model that saw later data)."""
    usable = [m for m in versions(spark, root, name) if m["trained_as_of"] <= as_of.isoformat()]
    return usable[-1] if usable else None


def exists(spark: SparkSession, root: str, name: str, version: str) -> bool:
    return hfs.exists(spark, f"{_folder(root, name, version)}/{METADATA}")


def save(spark: SparkSession, model: PipelineModel, meta: dict, root: str) -> str:
    """Write the pipeline, then its metadata; returns the version's folder."""
    name, version = meta["model"], meta["version"]
    folder = _folder(root, name, version)
    if exists(spark, root, name, version):
        raise ModelError(f"model {name} version {version} already exists at {folder}")
    try:
        model.write().overwrite().save(f"{folder}/model")
        body = json.dumps(meta, indent=2, sort_keys=True) + "\n"
        hfs.write_bytes(spark, f"{folder}/{METADATA}", body.encode("utf-8"))
    except Py4JJavaError as exc:
        raise ModelError(f"cannot save model {name} to {folder}: {hfs.java_cause(exc)}") from None
    log.info("model=%s version=%s saved", name, version)
    return folder


def load(spark: SparkSession, root: str, name: str, version: str) -> tuple[PipelineModel, dict]:
    folder = _folder(root, name, version)
    if not exists(spark, root, name, version):
        raise ModelError(f"model {name} version {version} not found under {_folder(root, name)}")
    return PipelineModel.load(f"{folder}/model"), _read_meta(spark, folder)
