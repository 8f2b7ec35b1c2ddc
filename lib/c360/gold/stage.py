"""Gold stage: ``gold.customer_360``, ``gold.vehicles`` (+ owners), ``gold.households``
(+ members and changelog), ``gold.account_contacts``, ``gold.lifecycle_segments`` (+ SCD2 history),
``gold.dealer_radiography`` and ``gold.kpi_counts``, all as of the run date.

Every table is written with change detection (c360.io.merge_changed), so a rerun on
the same input commits nothing; the history is one MERGE, written after the segments,
and a run killed between the two is completed by the next."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from c360.columns import to_schema, with_run
from c360.config import GoldConfig
from c360.gold import accounts, facts, lifecycle, profile
from c360.gold import dealers as dash
from c360.gold import households as hh
from c360.gold import vehicles as gv
from c360.gold.scores import read_scores_as_of, with_customer_scores
from c360.io import checkpointed, insert_new, merge_changed, read_or_empty, read_or_none
from c360.lake import Lake
from c360.logs import step
from c360.runner import StageContext, StageResult
from c360.schemas import gold as G
from c360.schemas import registry as R

log = logging.getLogger(__name__)


class Inputs:
    """The silver tables gold reads, each customer-linked where it carries a party."""

    def __init__(self, spark: SparkSession, lake: Lake, as_of: dt.date) -> None:
        def r(name: str) -> DataFrame:
            return read_or_empty(spark, lake, f"silver.{name}")

        self.records = facts.filter_current_records(r("identity_crosswalk")).transform(checkpointed)
        self.customers = r("customers")
        self.party = r("party_records")
        self.dealers = r("dealers")
        self.vehicles = r("vehicles")
        self.market = r("market_research").filter(~F.col("_is_deleted"))
        raw_service = r("service_visits").filter(~F.col("_is_deleted"))
        self.service = facts.with_customer(
            raw_service, self.records, "service", "ro_number"
        ).transform(checkpointed)
        self.sales = facts.with_customer(
            r("sales").filter(~F.col("_is_deleted")), self.records, "sales", "sale_id"
        )
        self.leads = facts.with_customer(r("leads"), self.records, "ecommerce", "lead_id")
        self.loyalty = facts.with_customer(
            r("loyalty_members").filter(~F.col("_is_deleted")),
            self.records,
            "loyalty",
            "member_id",
        )
        self.finance = facts.finance_as_of(r("finance_contracts"), as_of)
        self.insurance = facts.insurance_as_of(r("insurance_policies"), as_of)
        self.connected = facts.connected_as_of(r("subscriptions"), as_of)
        self.km = facts.latest_km(raw_service, r("telematics"), as_of)
        self.links = facts.vehicle_links(r("ownerships"), raw_service, self.records, as_of)
        self.points = facts.contact_points(self.party, self.records).transform(checkpointed)
        self.unique_points = facts.unique_contact_points(self.points)
        self.consents = facts.consents_as_of(r("consent_events"), as_of)
        self.fleet_contacts = r("fleet_contacts")
        self.surveys = r("surveys").filter(~F.col("_is_deleted"))
        self.events = r("campaign_events").filter(~F.col("_is_deleted"))


def owned_vehicles(
    inp: Inputs, conf: GoldConfig, warranty: tuple[int, int], as_of: dt.date
) -> DataFrame:
    """Every (customer, VIN) with its facts, ownership and, when current, its stage."""
    years, km_limit = warranty
    party = inp.customers.select("customer_id", "party_type")
    v = inp.vehicles.select(
        "vin", "model", "model_year", "first_sale_date", F.col("warranty_end").alias("_w")
    )
    df = (
        facts.with_ownership(inp.links, inp.km, party, conf.detect_replaced_vehicles)
        .join(v, "vin", "left")
        .join(inp.finance, "vin", "left")
        .join(inp.insurance, "vin", "left")
        .join(inp.connected, "vin", "left")
    )
    first_reg = F.coalesce(
        "first_sale_date", F.make_date("model_year", F.lit(1), F.lit(1)), "acquired_date"
    )
    df = df.withColumn("first_registration", first_reg).withColumn(
        "warranty_end", F.coalesce("_w", F.add_months("first_registration", 12 * years))
    )
    staged = lifecycle.with_vehicle_stage(df, conf.lifecycle, as_of, km_limit)
    current = F.col("ownership") == "current"
    return staged.withColumn("stage", F.when(current, F.col("stage"))).withColumn(
        "stage_reason", F.when(current, F.col("stage_reason"))
    )


def _contact(inp: Inputs, conf: GoldConfig) -> DataFrame:
    """Golden contact points with validity, consent per channel and contactable channels."""
    c = inp.customers.select(
        "customer_id",
        "email",
        "phone",
        facts.address_point(F.col("street"), F.col("postal_code")).alias("_addr"),
    )
    pts = inp.points

    def validity(kind: str, col: str, *extra: str) -> DataFrame:
        return pts.filter(F.col("contact_type") == kind).select(
            "customer_id", F.col("contact_point").alias(col), *extra
        )

    c = (
        c.join(
            validity("email", "email", F.col("valid").alias("email_valid")),
            ["customer_id", "email"],
            "left",
        )
        .join(
            validity(
                "phone",
                "phone",
                F.col("valid").alias("phone_valid"),
                F.col("mobile").alias("phone_mobile"),
            ),
            ["customer_id", "phone"],
            "left",
        )
        .join(
            validity("address", "_addr", F.col("valid").alias("address_valid")),
            ["customer_id", "_addr"],
            "left",
        )
    )
    return facts.with_channel_consent(c, inp.consents, conf.mail_requires_opt_in).drop("_addr")


def surveys_with_customer(inp: Inputs, vehicles: DataFrame) -> DataFrame:
    """By the respondent's email, else by the current owner of the surveyed VIN."""
    owner = vehicles.filter(F.col("ownership") == "current").select(
        "vin", F.col("customer_id").alias("_owner")
    )
    s = facts.attributed(inp.unique_points, inp.surveys, [("email", "email")]).join(
        owner, "vin", "left"
    )
    return s.withColumn("customer_id", F.coalesce("customer_id", "_owner")).filter(
        F.col("customer_id").isNotNull()
    )


def events_with_customer(inp: Inputs) -> DataFrame:
    return facts.events_with_customer(inp.unique_points, inp.events)


def _vehicle_struct() -> F.Column:
    return F.struct(
        *[
            (
                F.round(F.col("vehicle_age_months") / 12.0, 1)
                if f.name == "age_years"
                else F.col("stage" if f.name == "lifecycle_stage" else f.name)
            )
            .cast(f.dataType)
            .alias(f.name)
            for f in G.VEHICLE.fields
        ]
    )


def customer_360(
    inp: Inputs,
    vehicles: DataFrame,
    segments: DataFrame,
    events: DataFrame,
    conf: GoldConfig,
    as_of: dt.date,
    run_id: str,
    scores: DataFrame,
    households: DataFrame,
) -> DataFrame:
    """One row per customer; ``scores`` are the run date's gold.customer_scores rows (kept
    so that rerunning gold does not blank what the score stage wrote); ``households`` maps
    customer_id to household_id."""
    cust = inp.customers
    owned = (
        vehicles.groupBy("customer_id")
        .agg(
            F.sort_array(
                F.collect_list(
                    F.struct(
                        (F.col("ownership") == "current").alias("_cur"),
                        F.col("acquired_date").alias("_d"),
                        F.col("vin").alias("_v"),
                        _vehicle_struct().alias("v"),
                    )
                ),
                asc=False,
            ).alias("_vs"),
            F.count(F.when(F.col("ownership") == "current", 1))
            .cast("int")
            .alias("vehicles_current"),
            F.count(F.when(F.col("ownership") == "previous", 1))
            .cast("int")
            .alias("vehicles_previous"),
        )
        .select(
            "customer_id", F.col("_vs.v").alias("vehicles"), "vehicles_current", "vehicles_previous"
        )
    )
    area = profile.area_dealers(cust, inp.dealers)
    pref = profile.preferred_dealers(inp.service, inp.sales, area, conf, as_of)
    d = inp.dealers.filter(~F.col("_is_deleted"))
    dealer_names = d.select(
        F.col("dealer_code").alias("preferred_dealer_code"),
        F.col("dealer_name").alias("preferred_dealer_name"),
    )
    regions = (
        d.filter(F.col("region").isNotNull())
        .groupBy(profile.province(F.col("postal_code")).alias("_prov"))
        .agg(F.mode("region", deterministic=True).alias("_prov_region"))
    )
    market = inp.market.select(
        "postal_code",
        F.col("segment").alias("market_segment"),
        "affluence_index",
    )
    firsts = (
        inp.party.filter(~F.col("is_deleted"))
        .join(inp.records, ["source", "source_record_id"])
        .groupBy("customer_id")
        .agg(F.min("record_date").alias("first_seen"))
    )
    pri = conf.lifecycle.stage_priority
    headline = segments.groupBy("customer_id").agg(
        F.min_by("stage", lifecycle.headline_stage(F.col("stage"), pri)).alias("lifecycle_stage")
    )
    surveys = surveys_with_customer(inp, vehicles)
    df = (
        cust.select(
            "customer_id",
            "party_type",
            "salutation",
            "gender",
            "given_name",
            "family_name",
            "full_name",
            "company_name",
            "birth_date",
            "street",
            "postal_code",
            "city",
            "records",
            "sources",
        )
        .withColumn("_prov", profile.province(F.col("postal_code")))
        .join(F.broadcast(regions), "_prov", "left")
        .join(market, "postal_code", "left")
        .join(_contact(inp, conf), "customer_id", "left")
        .join(owned, "customer_id", "left")
        .join(pref, "customer_id", "left")
        .join(F.broadcast(dealer_names), "preferred_dealer_code", "left")
        .join(profile.service_summary(inp.service, as_of), "customer_id", "left")
        .join(profile.loyalty_summary(inp.loyalty, as_of), "customer_id", "left")
        .join(profile.survey_summary(surveys, as_of), "customer_id", "left")
        .join(profile.engagement_summary(events, as_of), "customer_id", "left")
        .join(headline, "customer_id", "left")
        .join(firsts, "customer_id", "left")
        .join(households.select("customer_id", "household_id"), "customer_id", "left")
    )
    dealer_region = d.select(
        F.col("dealer_code").alias("preferred_dealer_code"), F.col("region").alias("_dealer_region")
    )
    df = df.join(F.broadcast(dealer_region), "preferred_dealer_code", "left")
    vehicle_type = G.CUSTOMER_360["vehicles"].dataType
    fleet = (F.col("party_type") == "company") & (
        F.coalesce("vehicles_current", F.lit(0)) >= conf.fleet_min_vehicles
    )
    df = df.withColumns(
        {
            "region": F.coalesce("_prov_region", "_dealer_region"),
            "account_type": F.when(fleet, "fleet")
            .when(F.col("party_type") == "company", "corporate")
            .otherwise("individual"),
            "vehicles": F.coalesce("vehicles", F.array().cast(vehicle_type)),
            "contactable_channels": F.coalesce(
                "contactable_channels", F.array().cast("array<string>")
            ),
        }
    ).transform(with_run, as_of, run_id)
    df = df.fillna(dict.fromkeys(G.PROFILE_COUNTS, 0))
    for c in ("service_spend_12m", "service_spend_36m"):
        df = df.withColumn(c, F.coalesce(c, F.lit(0).cast(G.MONEY)))
    df = with_customer_scores(df, scores)
    return df.transform(to_schema, G.CUSTOMER_360)


def lifecycle_segments(
    inp: Inputs, vehicles: DataFrame, conf: GoldConfig, as_of: dt.date, run_id: str
) -> DataFrame:
    """Current vehicles with their stage, plus one customer-level row for an order or lead."""
    acquisitions = inp.links.select("customer_id", "acquired_date")
    cust_rows = lifecycle.customer_stage_rows(inp.leads, acquisitions, conf.lifecycle, as_of)
    veh_rows = vehicles.filter(F.col("ownership") == "current")
    cols = [f.name for f in G.LIFECYCLE_SEGMENTS.fields]
    types = inp.customers.select("customer_id", "party_type")
    current = veh_rows.groupBy("customer_id").agg(F.count("*").alias("_n"))
    rows = veh_rows.unionByName(cust_rows, allowMissingColumns=True)
    fleet = (F.col("party_type") == "company") & (
        F.coalesce("_n", F.lit(0)) >= conf.fleet_min_vehicles
    )
    rows = (
        rows.drop("party_type")
        .join(types, "customer_id")
        .join(current, "customer_id", "left")
        .withColumn(
            "account_type",
            F.when(fleet, "fleet")
            .when(F.col("party_type") == "company", "corporate")
            .otherwise("individual"),
        )
        .transform(with_run, as_of, run_id)
    )
    return rows.select(*[F.col(c).cast(G.LIFECYCLE_SEGMENTS[c].dataType) for c in cols])


def _write(ctx: StageContext, name: str, df: DataFrame, keys: list[str]) -> int:
    schema = R.schema_of(name)
    return merge_changed(
        ctx.spark, ctx.lake, name, df, schema, keys, delete=True, run_date=ctx.as_of
    )


def _write_vehicles(
    ctx: StageContext, inp: Inputs, owned: DataFrame, warranty_km: int
) -> dict[str, int]:
    owners = gv.vehicle_owners(owned, ctx.as_of, ctx.run_id)
    table = gv.vehicles_table(
        owned,
        inp.vehicles,
        inp.sales,
        inp.service,
        inp.km,
        inp.finance,
        inp.insurance,
        inp.connected,
        warranty_km,
        ctx.as_of,
        ctx.run_id,
    )
    return {
        R.GOLD_VEHICLE_OWNERS: _write(ctx, R.GOLD_VEHICLE_OWNERS, owners, ["vin", "customer_id"]),
        R.GOLD_VEHICLES: _write(ctx, R.GOLD_VEHICLES, table, ["vin"]),
    }


def _write_household_members(ctx: StageContext, inp: Inputs) -> tuple[DataFrame, int]:
    """Membership with persistent ids; the changelog is written first, so a run killed
    between the two writes the same events again (deduplicated by event_id) and then the
    members."""
    spark, lake = ctx.spark, ctx.lake
    previous = read_or_none(spark, lake, R.GOLD_HOUSEHOLD_MEMBERS)
    log_table = read_or_none(spark, lake, R.GOLD_HOUSEHOLD_CHANGELOG)
    used = None
    if log_table is not None:
        used = log_table.select("household_id").unionByName(
            log_table.select(F.col("other_id").alias("household_id")).dropna()
        )
        if previous is not None:
            used = used.unionByName(previous.select("household_id"))
    members, events = hh.household_members(inp.customers, inp.points, inp.links, previous, used)
    members = members.transform(checkpointed)
    lake.ensure_table(spark, R.GOLD_HOUSEHOLD_CHANGELOG, G.HOUSEHOLD_CHANGELOG)
    insert_new(
        spark,
        lake,
        R.GOLD_HOUSEHOLD_CHANGELOG,
        hh.changelog_rows(events, ctx.as_of, ctx.run_id),
        ["event_id"],
    )
    rows = hh.members_table(members, ctx.as_of, ctx.run_id)
    return members, _write(ctx, R.GOLD_HOUSEHOLD_MEMBERS, rows, ["customer_id"])


def run(ctx: StageContext) -> StageResult:
    spark, lake, conf, as_of = ctx.spark, ctx.lake, ctx.conf.gold, ctx.as_of
    lifecycle.check_priority(conf.lifecycle.stage_priority)
    result = StageResult()
    warranty = (ctx.conf.silver.warranty_years, ctx.conf.silver.warranty_km)
    with step(log, "gold.inputs") as p:
        inp = Inputs(spark, lake, as_of)
        p.rows_in = inp.records.count()
    result.rows_read[R.SILVER_IDENTITY_CROSSWALK] = p.rows_in
    with step(log, "gold.owned_vehicles") as p:
        vehicles = owned_vehicles(inp, conf, warranty, as_of).transform(checkpointed)
        p.rows_out = p.count(vehicles)
    with step(log, "gold.vehicles") as p:
        result.rows_written.update(_write_vehicles(ctx, inp, vehicles, warranty[1]))
        p.rows_out = result.rows_written[R.GOLD_VEHICLES]
    with step(log, "gold.household_members") as p:
        members, p.rows_out = _write_household_members(ctx, inp)
        result.rows_written[R.GOLD_HOUSEHOLD_MEMBERS] = p.rows_out
    with step(log, "gold.account_contacts") as p:
        links = accounts.account_contacts(
            inp.fleet_contacts, inp.party, inp.records, as_of, ctx.run_id
        )
        keys = ["company_id", "customer_id", "role"]
        p.rows_out = _write(ctx, R.GOLD_ACCOUNT_CONTACTS, links, keys)
        result.rows_written[R.GOLD_ACCOUNT_CONTACTS] = p.rows_out
    with step(log, "gold.lifecycle_segments") as p:
        segments = lifecycle_segments(inp, vehicles, conf, as_of, ctx.run_id).transform(
            checkpointed
        )
        p.rows_out = p.count(segments)
        result.rows_written[R.GOLD_LIFECYCLE_SEGMENTS] = _write(
            ctx, R.GOLD_LIFECYCLE_SEGMENTS, segments, ["customer_id", "vin"]
        )
    with step(log, "gold.lifecycle_history") as p:
        p.rows_out = lifecycle.update_history(
            spark, lake, R.GOLD_LIFECYCLE_HISTORY, segments, as_of, ctx.run_id
        )
        result.rows_written[R.GOLD_LIFECYCLE_HISTORY] = p.rows_out
    with step(log, "gold.customer_360") as p:
        events = events_with_customer(inp).transform(checkpointed)
        scores = read_scores_as_of(spark, lake, as_of)
        c360 = customer_360(
            inp, vehicles, segments, events, conf, as_of, ctx.run_id, scores, members
        )
        c360 = c360.transform(checkpointed)
        p.rows_out = p.count(c360)
        result.rows_written[R.GOLD_CUSTOMER_360] = _write(
            ctx, R.GOLD_CUSTOMER_360, c360, ["customer_id"]
        )
    with step(log, "gold.households") as p:
        households = hh.households_table(members, c360, as_of, ctx.run_id)
        p.rows_out = _write(ctx, R.GOLD_HOUSEHOLDS, households, ["household_id"])
        result.rows_written[R.GOLD_HOUSEHOLDS] = p.rows_out
    with step(log, "gold.dealer_radiography") as p:
        radio = dash.radiography(
            inp.dealers,
            c360,
            inp.sales,
            inp.service,
            inp.surveys,
            events,
            conf,
            as_of,
        )
        radio = radio.transform(with_run, as_of, ctx.run_id)
        p.rows_out = _write(ctx, R.GOLD_DEALER_RADIOGRAPHY, radio, ["dealer_code", "month"])
        result.rows_written[R.GOLD_DEALER_RADIOGRAPHY] = p.rows_out
    with step(log, "gold.kpi_counts") as p:
        kpi = dash.kpi_counts(c360)
        kpi = kpi.transform(with_run, as_of, ctx.run_id)
        keys = ["party_type", "region", "lifecycle_stage", "contactability"]
        p.rows_out = _write(ctx, R.GOLD_KPI_COUNTS, kpi, keys)
        result.rows_written[R.GOLD_KPI_COUNTS] = p.rows_out
    return result
