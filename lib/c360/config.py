"""Typed configuration: YAML per environment, loaded into frozen dataclasses.

An environment file may say ``extends: base.yaml``; the base is loaded first and the
environment file is deep-merged over it. ``--set a.b=c`` overrides any key after that.
Every key must exist in the dataclasses below, so a typo fails loudly instead of being
silently ignored.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from c360.errors import ConfigError


@dataclass(frozen=True)
class LakeConfig:
    """Where the Delta tables live: ``<root>/<layer>/<table>``."""

    root: str = "lake"
    # The pseudonymized twins (layer ``pseudo``): "" = <root>/pseudo. Set it to a path of
    # its own (another bucket or prefix) to grant analysts access to it alone.
    pseudo_root: str = ""
    # Also register every table in the Spark catalog as c360_<layer>.<table>.
    register_catalog: bool = False
    # Where those registrations live: "" = Spark's in-memory catalog (this session only);
    # "derby" = an embedded Derby metastore in metastore_dir (one process at a time: the
    # lake lock's); "thrift://host:9083" = a shared Hive metastore.
    metastore: str = ""
    metastore_dir: str = ""  # "" = <root>/_metastore (a local root; else set a local path)
    catalog: str = ""  # a catalog name prefixes the names: <catalog>.c360_<layer>.<table>
    # One writer at a time (c360.lock): "" = <root>/_c360.lock, an flock'd file on a local
    # root, a leased object on any other (s3a://, abfss://, hdfs://).
    lock_file: str = ""
    # How long a second run waits for the lake before it fails (0: fail at once).
    lock_wait_seconds: float = 0.0
    # An object-store lock is a lease its holder renews every third of this; a holder
    # killed with no chance to release it blocks the lake this long at most.
    lock_lease_seconds: float = 120.0


@dataclass(frozen=True)
class SparkConfig:
    app_name: str = "c360"
    # Ignored under spark-submit, where the master comes from the command line.
    master: str = "local[2]"
    shuffle_partitions: int = 8
    driver_memory: str = "4g"
    # Ivy cache that setup fills once with the Delta jars; later runs need no network.
    jars_cache: str = ".cache/ivy"
    log_level: str = "WARN"
    bind_localhost: bool = True
    # Start the local JVM from the class archive `c360 class-archive` builds, if any: Spark's
    # classes are mapped instead of loaded and verified, about 4 CPU-seconds per start.
    class_archive: bool = True
    # Put hadoop-aws and the AWS SDK on a local session's class path even when no root of
    # this config is s3a:// (they are added whenever one is). Ignored under spark-submit.
    s3a_jars: bool = False
    # How a stage cuts a long lineage (c360.io.checkpointed): "local" keeps the rows in
    # the executors (fast, lost with an executor), "reliable" writes them under
    # <lake.root>/_checkpoints (survives a lost worker); "auto": local on a local master,
    # reliable on a cluster.
    checkpoint: Literal["auto", "local", "reliable"] = "auto"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LandingConfig:
    """Where the source systems drop their exports (outside the lake)."""

    root: str = "landing"


@dataclass(frozen=True)
class PipelineConfig:
    # Stages run by ``c360 run`` without ``--stage``, in this order.
    stages: list[str] = field(default_factory=list)
    # A run that quarantined more than this share of a source's or table's rows (or
    # rejected a whole file) still completes, and exits with code 3.
    max_quarantine_share: float = 0.05


@dataclass(frozen=True)
class ReconcileConfig:
    # batch: the files of this run date (and any still pending) are counted back row by
    # row, and the identity and gold checks run whole (they compare keys, not files);
    # the daily default. full: every file ever landed, the weekly audit.
    scope: Literal["batch", "full"] = "batch"


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    # count each step's frame for its progress line: a Spark job per count, so off by
    # default (the written rows come from the Delta commits either way)
    count_rows: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """How one source system exports: the contract that bronze ingestion relies on."""

    system: str = ""
    format: str = "csv"  # csv | jsonl
    delimiter: str = ","
    encoding: str = "UTF-8"
    quote: str = '"'
    # Normalized (snake_case) header names that must be present, else the file fails.
    required_columns: list[str] = field(default_factory=list)
    # Business key of a record inside the source (normalized names).
    key: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BronzeConfig:
    # Sources loaded at the same time (their Spark jobs and Delta commits overlap).
    parallel_sources: int = 4


@dataclass(frozen=True)
class SilverConfig:
    # Data-quality rules (YAML); a relative path is read from the config file's folder.
    dq_rules: str = "dq/silver.yaml"
    # Sources typed and merged at the same time within one dependency wave.
    parallel_sources: int = 4
    # New-vehicle warranty: whichever ends first (Spain: 3 years or 100,000 km).
    warranty_years: int = 3
    warranty_km: int = 100_000


@dataclass(frozen=True)
class IdentityConfig:
    """Identity resolution (``c360.identity``); defaults are meant for unseen data."""

    # Fellegi-Sunter: a scored pair links at or above this match probability.
    threshold: float = 0.99
    # Components above this size are re-clustered with strong edges only.
    max_cluster_size: int = 30
    # Match weight (bits) an edge needs to survive that split; rule links weigh 100.
    min_split_weight: float = 20.0
    # Household guard: given names less similar than this (1 - edit distance share) veto.
    min_name_similarity: float = 0.5
    # A person rule key shared by more records than this is a shared value, not a person.
    max_group_size: int = 200
    # The name-only blocking rule skips names shared by more person records than this
    # (they still meet through every other rule); None scores every same-name pair.
    max_name_block: int | None = 200
    # Fewer person records than this: rules only (EM cannot train on tiny inputs).
    min_training_records: int = 500
    seed: int = 42
    u_max_pairs: float = 2_000_000
    # EM over every blocked pair with term frequencies (Splink's default; one Spark job per
    # iteration) instead of over agreement-pattern counts.
    em_term_frequencies: bool = False
    # Where the Fellegi-Sunter model trains and scores: "spark" (Splink's Spark backend,
    # a Spark job per step) or "duckdb" (Splink on an in-process DuckDB on the driver: the
    # person records go there as Arrow and the scored pairs come back the same way). DuckDB
    # has no per-job overhead, but the records and the scored pairs must fit the driver.
    engine: Literal["spark", "duckdb"] = "spark"
    # DuckDB's memory limit (it spills to a temp folder beyond it); on a shared machine
    # leave room for the Spark driver.
    duckdb_memory_limit: str = "4GB"
    # Connected components on the driver (numpy) up to this many edges, else Spark rounds.
    cluster_driver_max_edges: int = 20_000_000
    # Retrain the model on every run instead of reusing the stored one.
    retrain: bool = False
    # Cluster every record and rebuild every golden record, as a first run does. Without
    # it a run re-clusters only the link-graph components its changed records were or now
    # are in; a changed overrides set, survivorship file or clustering setting forces a
    # full pass by itself (a fingerprint stored on silver.identity_crosswalk).
    full_pass: bool = False
    # Must-link / must-not-link pairs and survivorship rules (YAML, relative to conf/).
    overrides: str = "identity/overrides.yaml"
    survivorship: str = "identity/survivorship.yaml"


@dataclass(frozen=True)
class LifecycleConfig:
    """Stage rules for a (customer, vehicle): the first rule that holds, in this order:
    beyond_lifecycle (older than max_vehicle_age_years), first_year, renewal,
    brand_commitment, after_sales_in_warranty; else after_sales_out_of_warranty."""

    # An open web lead or quote younger than this, with no purchase since: lead management.
    lead_max_age_days: int = 120
    # Months of ownership that count as the first year, then as brand commitment.
    first_year_months: int = 12
    brand_commitment_months: int = 24
    # Renewal: an active finance or lease contract maturing within this many months,
    # or a vehicle at least this old or with at least this many km.
    renewal_window_months: int = 6
    renewal_age_years: int = 7
    renewal_km: int = 150_000
    max_vehicle_age_years: int = 15
    # A customer's headline stage: the first of these among its segment rows.
    stage_priority: list[str] = field(
        default_factory=lambda: [
            "order",
            "first_year",
            "renewal",
            "lead_management",
            "brand_commitment",
            "after_sales_in_warranty",
            "after_sales_out_of_warranty",
            "beyond_lifecycle",
        ]
    )


@dataclass(frozen=True)
class GoldConfig:
    """Gold tables (``c360.gold``): profile, lifecycle, dealer radiography, KPI counts."""

    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    # A company with at least this many vehicles now is a fleet account.
    fleet_min_vehicles: int = 2
    # A person's older vehicle counts as replaced when a newer one was bought and the
    # older one shows no activity (service, telematics, contract) after that purchase.
    detect_replaced_vehicles: bool = True
    # Preferred dealer: most service visits in this many months, else latest sale dealer,
    # else the nearest dealer by postal code.
    preferred_dealer_months: int = 36
    # Dealer service retention: a visit counts as a return when the same customer had a
    # visit at the same dealer within this many months before.
    retention_months: int = 24
    # Postal mail is legitimate interest in the sample's market: allowed unless opted out.
    # Set true to require an explicit opt-in, as for email, SMS and telemarketing.
    mail_requires_opt_in: bool = False
    # NPS: promoters score at least this, detractors at most that.
    nps_promoter_min: int = 9
    nps_detractor_max: int = 6


@dataclass(frozen=True)
class GbtConfig:
    """Spark MLlib gradient-boosted trees; subsampling uses ``MlConfig.seed``."""

    max_iter: int = 40
    max_depth: int = 4
    step_size: float = 0.1
    subsampling_rate: float = 0.8
    min_instances_per_node: int = 20


@dataclass(frozen=True)
class ModelConfig:
    # The label looks this many months past the snapshot date.
    horizon_months: int = 6


@dataclass(frozen=True)
class MlConfig:
    """Propensity models (``c360.ml``): renewal and service churn."""

    # Saved models: <model_root>/<model>/<version>/{model/, metadata.json}; a path or URI.
    model_root: str = "models"
    seed: int = 42
    # Training snapshots: the test snapshot is as_of - horizon (its labels are complete);
    # the training snapshots end one horizon before it, every ``snapshot_step_months``.
    train_snapshots: int = 8
    snapshot_step_months: int = 3
    # The train stage skips when the newest model is younger than this (0: every run).
    retrain_days: int = 28
    max_vehicle_age_years: int = 15
    # Train only when each label occurs this often in training and in test; else skip.
    min_label_rows: int = 20
    gbt: GbtConfig = field(default_factory=GbtConfig)
    models: dict[str, ModelConfig] = field(
        default_factory=lambda: {
            "renewal": ModelConfig(horizon_months=6),
            "service_churn": ModelConfig(horizon_months=12),
        }
    )


@dataclass(frozen=True)
class OfferRule:
    """An offer that replaces the plan's default when ``when`` (Spark SQL) holds."""

    when: str = ""
    offer: str = ""
    service: str = ""
    price: float | None = None


@dataclass(frozen=True)
class PlanConfig:
    """One contact plan: who is eligible, what they are offered, when, and how it ranks."""

    # Lifecycle stages (gold.lifecycle_segments.stage) that make a customer eligible.
    stages: list[str] = field(default_factory=list)
    # 1 comes first: a customer eligible for several plans gets the lowest number.
    priority: int = 99
    # Extra Spark SQL condition over the candidate row: the plan's moment.
    where: str = ""
    # The outcome the plan is measured on: service (a visit) or purchase (a sale).
    objective: str = "service"
    offer: str = ""
    service: str = ""
    price: float | None = None
    # Margin of one conversion (EUR) and the expected extra conversion probability of a
    # contact by the cheapest channel: expected value = value x uplift x affluence.
    conversion_value: float = 0.0
    uplift: float = 0.0
    # Channels the plan may use, in the plan's order of preference.
    channels: list[str] = field(default_factory=lambda: ["email", "sms", "mail", "telemarketing"])
    party_types: list[str] = field(default_factory=lambda: ["person", "company"])
    # Campaign period (month or week): one campaign per plan and period, one entry per
    # customer in it; the holdout hash uses it, so a period holds out the same people.
    period: str = "month"
    holdout_share: float = 0.15
    # The model whose score ranks the plan and scales its expected value (c360.ml):
    # renewal or service_churn; empty = value x uplift x affluence only.
    score: str = ""
    # Offer choice: the first rule whose condition holds replaces offer/service/price.
    offers: list[OfferRule] = field(default_factory=list)


@dataclass(frozen=True)
class ChannelConfig:
    cost: float = 0.0
    # Response relative to email; a channel pays when value x factor - cost is highest.
    response_factor: float = 1.0
    # Fatigue: at most this many contacts on this channel in fatigue.window_days.
    max_contacts: int = 2


@dataclass(frozen=True)
class FatigueConfig:
    window_days: int = 30
    # At most this many contacts per customer, all channels, in the window.
    max_contacts: int = 3
    # At most this many letters (channel mail) per household per campaign (plan and
    # period); 0 turns the household rule off.
    household_letters: int = 1


@dataclass(frozen=True)
class ActivationConfig:
    """Contact plan, exports and campaign results (``c360.activation``)."""

    plans: dict[str, PlanConfig] = field(default_factory=dict)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    fatigue: FatigueConfig = field(default_factory=FatigueConfig)
    # The campaign platform sends this many days after the run date.
    send_offset_days: int = 1
    # A complaint suppresses the customer, an unsubscribe its channel, for this long.
    complaint_days: int = 365
    unsubscribe_days: int = 365
    # Salt of the holdout hash; changing it draws new control groups.
    holdout_salt: str = "c360-holdout"
    # Campaign results: a conversion counts within this many days after the contact.
    attribution_days: int = 30
    confidence: float = 0.95
    # One folder per run date under here: a CSV per (plan, channel) and manifest.json.
    export_root: str = "exports"


@dataclass(frozen=True)
class NoiseConfig:
    """Probabilities, per source record, of each kind of real-world noise."""

    typo: float = 0.08
    nickname: float = 0.12
    swap_names: float = 0.03
    missing_email: float = 0.25
    missing_phone: float = 0.25
    missing_birth_date: float = 0.45
    stale_address: float = 0.5  # a record after a move still shows the old address
    strip_accents: float = 0.3
    duplicate: float = 0.04  # the same record exported twice under another id


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 42
    persons: int = 2000
    companies: int = 80
    dealers: int = 24
    # Date of the initial full dump; each daily delta follows it.
    start_date: str = "2026-11-01"
    daily_batches: int = 2
    history_years: int = 15
    household_share: float = 0.35
    campaigns: int = 12
    control_share: float = 0.15
    # Planted campaign effects (absolute uplift in probability of the outcome).
    effect_service: float = 0.10
    effect_purchase: float = 0.03
    attribution_days: int = 30
    truth_root: str = "truth"
    # Share of exported lines cut short (fields lost, JSON truncated): bronze quarantines them.
    malformed_rate: float = 0.002
    noise: NoiseConfig = field(default_factory=NoiseConfig)


@dataclass(frozen=True)
class PrivacyConfig:
    """Where the pseudonymization key comes from: never the key itself."""

    key_env: str = "C360_PSEUDONYM_KEY"  # environment variable holding the key
    key_file: str = ""  # or a file holding it (read when the variable is unset)
    # Generalization of the quasi-identifiers in the pseudonymized twins.
    birth_year_band: int = 5  # birth date -> a band of this many years (1980-1984)
    postal_area: Literal["province", "region"] = (
        "province"  # postal code -> "province" (28) or "region" (its community)
    )
    money_band: int = 100  # EUR amounts floored to a multiple of this
    km_band: int = 10000  # odometer floored to a multiple of this
    points_band: int = 1000  # loyalty points floored to a multiple of this
    count_cap: int = 5  # counts top-coded here (5 = five or more)


@dataclass(frozen=True)
class MaintenanceConfig:
    """``c360 maintain`` (weekly): compaction and how long old file versions are kept."""

    optimize: bool = True  # OPTIMIZE: rewrite each table's small files into few large ones
    # VACUUM: hours a file no current version reads is kept (time travel, readers still on
    # an older version), per layer. Delta refuses less than 168 (7 days) unless
    # allow_short_retention is true.
    retain_hours: dict[str, float] = field(
        default_factory=lambda: {
            "bronze": 168.0,
            "silver": 168.0,
            "gold": 168.0,
            "pseudo": 168.0,
            "ops": 168.0,
        }
    )
    allow_short_retention: bool = False
    # Delta liquid clustering: table -> the columns its readers filter by. Maintain sets
    # them (ALTER TABLE ... CLUSTER BY), and OPTIMIZE then lays the rows out by them, so a
    # point read skips the files whose min/max cannot hold the key.
    cluster_by: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeConfig:
    """``c360 serve``, the lookup service. Its tokens are never config: see
    ``c360.serve.access``."""

    host: str = "127.0.0.1"
    port: int = 8360
    # Poll the tables' versions this often; a moved one reloads the snapshot (0: never).
    reload_seconds: float = 10.0
    # Append the buffered ops.access_log rows this often (and on shutdown).
    access_log_flush_seconds: float = 2.0
    search_limit: int = 50  # customers a search returns at most


@dataclass(frozen=True)
class Config:
    env: str = "base"
    lake: LakeConfig = field(default_factory=LakeConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    landing: LandingConfig = field(default_factory=LandingConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    sources: dict[str, SourceSpec] = field(default_factory=dict)
    bronze: BronzeConfig = field(default_factory=BronzeConfig)
    silver: SilverConfig = field(default_factory=SilverConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    gold: GoldConfig = field(default_factory=GoldConfig)
    activation: ActivationConfig = field(default_factory=ActivationConfig)
    ml: MlConfig = field(default_factory=MlConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

    def with_overrides(self, overrides: list[str]) -> Config:
        """A copy with ``key=value`` overrides applied (same rules as ``--set``)."""
        data = dataclasses.asdict(self)
        for item in overrides:
            _apply_override(data, item)
        return from_dict(Config, data)


# ---------------------------------------------------------------------------- loading

_PATH_KEYS = (
    ("lake", "root"),
    ("lake", "lock_file"),
    ("lake", "metastore_dir"),
    ("landing", "root"),
    ("spark", "jars_cache"),
    ("generator", "truth_root"),
    ("activation", "export_root"),
    ("ml", "model_root"),
    ("privacy", "key_file"),
)


def load_config(path: str | os.PathLike[str], overrides: list[str] | None = None) -> Config:
    """Load an environment file (following ``extends``), apply overrides, validate."""
    data = _load_with_extends(Path(path), seen=())
    for item in overrides or []:
        _apply_override(data, item)
    conf = from_dict(Config, data)
    conf = _resolve_paths(conf)
    folder = Path(path).parent

    def beside(p: str) -> str:
        return p if is_uri(p) or os.path.isabs(p) else str((folder / p).resolve())

    ident = conf.identity
    return dataclasses.replace(
        conf,
        silver=dataclasses.replace(conf.silver, dq_rules=beside(conf.silver.dq_rules)),
        identity=dataclasses.replace(
            ident, overrides=beside(ident.overrides), survivorship=beside(ident.survivorship)
        ),
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"malformed YAML in {path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def _load_with_extends(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"config 'extends' loops back to {path}")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"'extends' in {path} must be a file name")
    base = _load_with_extends(path.parent / parent, (*seen, resolved))
    return _deep_merge(base, data)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_override(data: dict[str, Any], item: str) -> None:
    """Apply ``a.b.c=value``; the value is parsed as a YAML scalar (``true``, ``3``)."""
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--set has an empty key in '{item}'")
    _set_path(data, Config, parts, 0, value, key)


def _set_path(
    node: dict[str, Any], cls: Any, parts: list[str], i: int, value: Any, key: str
) -> None:
    """Walk the dataclass schema so that an unknown key fails with its full dotted name."""
    part = parts[i]
    hints = typing.get_type_hints(cls)
    if part not in hints:
        raise ConfigError(f"unknown config key '{'.'.join(parts[: i + 1])}' in --set {key}")
    ftype = _strip_optional(hints[part])
    if i == len(parts) - 1:
        node[part] = value
        return
    sub = node.get(part)
    if not isinstance(sub, dict):
        sub = {}
        node[part] = sub
    if dataclasses.is_dataclass(ftype):
        _set_path(sub, ftype, parts, i + 1, value, key)
        return
    if typing.get_origin(ftype) is not dict:
        raise ConfigError(f"config key '{'.'.join(parts[: i + 1])}' has no sub-keys")
    val_t = _strip_optional(typing.get_args(ftype)[1])
    if not dataclasses.is_dataclass(val_t):
        # Free-form mapping (for example spark.conf): the rest of the path is one key.
        sub[".".join(parts[i + 1 :])] = value
        return
    # A mapping of sections (for example sources.sales.delimiter).
    entry = parts[i + 1]
    if entry not in sub:
        raise ConfigError(f"unknown config key '{'.'.join(parts[: i + 2])}' in --set {key}")
    if i + 2 == len(parts):
        sub[entry] = value
        return
    if not isinstance(sub[entry], dict):
        sub[entry] = {}
    _set_path(sub[entry], val_t, parts, i + 2, value, key)


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


T = typing.TypeVar("T")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from plain data, rejecting unknown keys and wrong types."""
    where = path or "<root>"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key '{where}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        dotted = ", ".join(f"{path + '.' if path else ''}{k}" for k in unknown)
        raise ConfigError(f"unknown config key(s): {dotted}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in data:
            continue
        kwargs[name] = _coerce(hints[name], data[name], f"{path + '.' if path else ''}{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if value is None:
        return None
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is list:
        (item_t,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"config key '{path}' must be a list, got {value!r}")
        return [_coerce(item_t, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_t, val_t = typing.get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}' must be a mapping, got {value!r}")
        return {_coerce(key_t, k, path): _coerce(val_t, v, f"{path}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            names = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"config key '{path}' must be one of {names}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{path}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{path}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{path}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config key '{path}' must be a string, got {value!r}")
        return str(value)
    return value


def is_uri(path: str) -> bool:
    head = path.split("/", 1)[0]
    return head.endswith(":") and len(head) > 2


def to_local_or_uri(path: str) -> str:
    """Absolute local path for plain paths; URIs (s3a://, abfss://, file:) unchanged."""
    if is_uri(path):
        return path
    return os.path.abspath(os.path.expanduser(path))


def _resolve_paths(conf: Config) -> Config:
    out = conf
    for section, key in _PATH_KEYS:
        sub = getattr(out, section)
        if not getattr(sub, key):  # optional paths stay unset
            continue
        sub = dataclasses.replace(sub, **{key: to_local_or_uri(getattr(sub, key))})
        out = dataclasses.replace(out, **{section: sub})
    return out
