from __future__ import annotations

from pathlib import Path

import pytest

from c360.config import Config, load_config
from c360.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_local_extends_base(repo: Path) -> None:
    conf = load_config(repo / "conf" / "local.yaml")
    assert isinstance(conf, Config)
    assert conf.env == "local"
    assert conf.spark.shuffle_partitions == 4  # from local.yaml
    assert conf.spark.app_name == "c360"  # inherited from base.yaml
    assert Path(conf.lake.root).is_absolute()
    assert conf.identity.engine == "duckdb"  # one machine: Splink in-process
    assert conf.identity.threshold == 0.99  # the rest of identity still from base.yaml
    assert load_config(repo / "conf" / "cluster.yaml").identity.engine == "spark"


def test_every_environment_loads(repo: Path) -> None:
    envs = {p.name for p in (repo / "conf").glob("*.yaml")}
    assert {"base.yaml", "local.yaml", "cluster.yaml", "test.yaml"} <= envs
    for name in envs:
        load_config(repo / "conf" / name)


def test_set_overrides_typed_values(repo: Path) -> None:
    conf = load_config(
        repo / "conf" / "local.yaml",
        [
            "lake.root=s3a://bucket/c360",
            "spark.shuffle_partitions=3",
            "lake.register_catalog=true",
            "spark.conf.spark.executor.memory=2g",
            "identity.engine=spark",
        ],
    )
    assert conf.lake.root == "s3a://bucket/c360"  # URIs are not made absolute
    assert conf.spark.shuffle_partitions == 3
    assert conf.lake.register_catalog is True
    assert conf.spark.conf["spark.executor.memory"] == "2g"
    assert conf.identity.engine == "spark"  # local.yaml says duckdb


@pytest.mark.parametrize(
    "override, message",
    [
        ("lake.rot=/x", "unknown config key 'lake.rot'"),
        ("nope=1", "unknown config key 'nope'"),
        ("spark.shuffle_partitions=many", "must be an integer"),
        ("lake.register_catalog=maybe", "must be true or false"),
        ("lake.root", "KEY=VALUE"),
        ("lake.root.deeper=1", "has no sub-keys"),
        ("identity.engine=postgres", "'identity.engine' must be one of 'spark', 'duckdb'"),
    ],
)
def test_bad_overrides(repo: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(repo / "conf" / "local.yaml", [override])


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "lake:\n  root: /tmp/x\n  roots: /typo\n")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\): lake.roots"):
        load_config(path)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "lake:\n  root: [unclosed\nspark: {}\n")
    with pytest.raises(ConfigError, match=r"malformed YAML in .*bad.yaml at line \d+"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_extends_loop_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "a.yaml")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    conf = load_config(write(tmp_path / "empty.yaml", ""))
    assert conf.env == "base"
    assert conf.pipeline.stages == []


def test_with_overrides_keeps_other_values(repo: Path) -> None:
    conf = load_config(repo / "conf" / "local.yaml")
    other = conf.with_overrides(["spark.master=local[1]"])
    assert other.spark.master == "local[1]"
    assert other.spark.shuffle_partitions == conf.spark.shuffle_partitions
    assert conf.spark.master == "local[2]"
