"""Saved models: ``<root>/<model>/<version>/`` holds the Spark pipeline (``model/``) and
``metadata.json`` (version, dates, features, importances, metrics, parameters).

A version folder appears whole or not at all: it is written under a temporary name and
renamed. The root is a driver-local (or mounted) folder, like the export root."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from pyspark.ml import PipelineModel

from c360.errors import ModelError
from c360.lake import is_local

log = logging.getLogger(__name__)

METADATA = "metadata.json"


def _root(root: str) -> Path:
    if not is_local(root):
        raise ModelError(
            f"ml.model_root {root} is not a local folder: mount the object store or copy"
        )
    return Path(root.removeprefix("file://").removeprefix("file:"))


def versions(root: str, name: str) -> list[dict]:
    """Metadata of every complete saved version of ``name``, oldest first."""
    folder = _root(root) / name
    if not folder.is_dir():
        return []
    out = []
    for d in sorted(folder.iterdir()):
        meta = d / METADATA
        if d.name.startswith(".") or not meta.is_file():
            continue
        out.append(json.loads(meta.read_text(encoding="utf-8")))
    return sorted(out, key=lambda m: (m["trained_as_of"], m["version"]))


def latest(root: str, name: str, as_of: dt.date) -> dict | None:
    """The newest version trained on or before ``as_of`` (a rerun of an old date never
    uses a model that saw later data)."""
    usable = [m for m in versions(root, name) if m["trained_as_of"] <= as_of.isoformat()]
    return usable[-1] if usable else None


def exists(root: str, name: str, version: str) -> bool:
    return (_root(root) / name / version / METADATA).is_file()


def save(model: PipelineModel, meta: dict, root: str) -> Path:
    """Write the pipeline and its metadata, then rename the folder into place."""
    name, version = meta["model"], meta["version"]
    final = _root(root) / name / version
    if final.exists():
        raise ModelError(f"model {name} version {version} already exists at {final}")
    tmp = final.parent / f".{version}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        model.write().overwrite().save(str(tmp / "model"))
        (tmp / METADATA).write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("model=%s version=%s saved", name, version)
    return final


def load(root: str, name: str, version: str) -> tuple[PipelineModel, dict]:
    folder = _root(root) / name / version
    if not (folder / METADATA).is_file():
        raise ModelError(f"model {name} version {version} not found under {folder.parent}")
    meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    return PipelineModel.load(str(folder / "model")), meta
