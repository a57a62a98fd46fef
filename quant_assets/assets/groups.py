"""Groups (seed 003): `definition_groups` + `group_memberships` for ETF, SECTOR, THEME, SEGMENT, CUSTOM.

Where each kind comes from:
  * ETF     — each listed (active) ETF's latest holdings (etf_holdings, within the 40 days before
              the newest holdings day). Members are the STOCK/ETF lines (region = the
              ETF's market) and FOREIGN lines (symbol = their ISIN, region NULL); weight = the
              holding's weight in percent / 100 (a fraction, NUMERIC(5,4); negative for a short
              line, as in an inverse ETF's PDF; beyond ±100 % is refused), the exact percent and
              rank_in_etf kept in the membership's metadata, as_of_date in the group's metadata.
  * SECTOR  — stock_details.sector of active stocks, one group per region and sector.
  * THEME / SECTOR / SEGMENT / CUSTOM — hand-maintained in quant_assets/data/groups.yaml, optionally
              with a liquidity_filter that members must pass (see `LIQUIDITY_KEYS`).

Group names are the seed's plain identifiers ('069500', '전기전자', 'SPY'): a KR ETF or sector is
named by its code or sector; other regions' data-derived groups carry the region as a prefix
('US:SPY', 'HK:2800', 'US:Technology') because (name, type, environment) is unique and codes
repeat across markets (KR '000020' and CN '000020'). metadata always holds `source` and `region`.

The environment is QUANT_ENV: DEFAULT (our default), TEST, UAT or PROD (seed 003's CHECK).

Rebuilding is ONE transaction that reconciles instead of replacing: groups and memberships that
did not change keep their rows (ids, added_at, updated_at); changed ones are updated in place
(updated_at, and the group's last_update when its members changed); vanished ones are deleted.
Re-running on the same data therefore changes nothing. Every input is validated before the write:
an unknown YAML ticker, a weight that is no fraction, a bad environment raise `GroupDataError`
naming table, column, value, group, ticker, region and date, and nothing is written.
"""


import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import psycopg
import yaml

from quant_assets import symbols
from quant_assets.errors import SourceDataError
from quant_assets.resources.warehouse import Warehouse, copy_frame, lock_partition

GROUPS_FILE = Path(__file__).resolve().parent.parent / "data" / "groups.yaml"
ENVIRONMENTS = ("DEFAULT", "TEST", "UAT", "PROD")
GROUP_TYPES = ("ETF", "THEME", "SECTOR", "SEGMENT", "CUSTOM")
YAML_SECTIONS = {"themes": "THEME", "sectors": "SECTOR", "segments": "SEGMENT", "custom": "CUSTOM"}
YAML_KEYS = {"description", "region", "tickers", "metadata", "liquidity_filter"}
# liquidity_filter keys a YAML group may set; a member passes when its last `window_days` daily
# bars (default 20) have a mean traded value >= min_avg_daily_value and its latest market cap
# >= min_market_cap (local currency). A member without bars cannot pass.
LIQUIDITY_KEYS = {"min_avg_daily_value", "min_market_cap", "window_days"}
HOLDINGS_HORIZON_DAYS = 40
NAME_LENGTH = 100  # definition_groups.name VARCHAR(100)


class GroupDataError(SourceDataError):
    """A group or membership that cannot be written as seed 003 defines it."""

    def __init__(self, table: str, message: str, *, column: str | None = None, value: object = None,
                 group: str | None = None, ticker: str | None = None, region: str | None = None,
                 date: str | None = None):
        where = ", ".join(f"{k} {v!r}" if k == "value" else f"{k} {v}"
                          for k, v in (("group", group), ("value", value)) if v is not None)
        super().__init__(table, f"{column + ': ' if column else ''}{message}" + (f" ({where})" if where else ""),
                         date=date, ticker=ticker, field=column, region=region)
        self.table, self.column, self.value, self.group = table, column, value, group


def environment() -> str:
    """QUANT_ENV as seed 003's environment (case-insensitive), DEFAULT when unset."""
    raw = os.environ.get("QUANT_ENV", "DEFAULT")
    env = raw.strip().upper()
    if env not in ENVIRONMENTS:
        raise GroupDataError("definition_groups", f"QUANT_ENV must be one of {', '.join(ENVIRONMENTS)}",
                             column="environment", value=raw)
    return env


def group_name(region: str, name: str) -> str:
    """KR groups keep their plain name; other regions' data-derived groups are prefixed 'US:'."""
    return name if region == "KR" else f"{region}:{name}"


# -- the YAML groups ----------------------------------------------------------------------------
def _member(entry: object, region: str, group: str, path: Path) -> tuple[str, str]:
    if isinstance(entry, Mapping):
        unknown = set(entry) - {"ticker", "region"}
        if unknown or "ticker" not in entry:
            raise GroupDataError("group_memberships", f"{path.name}: a member is a ticker or "
                                 "{ticker: ..., region: ...}", column="symbol", value=dict(entry), group=group)
        raw, region = entry["ticker"], str(entry.get("region", region)).upper()
    else:
        raw = entry
    try:
        return symbols.normalise(region, raw), region
    except symbols.SymbolError as exc:
        raise GroupDataError("group_memberships", f"{path.name}: {exc}", column="symbol", value=raw,
                             group=group, ticker=str(raw), region=region) from None


def _liquidity(spec: object, group: str, path: Path) -> dict[str, float] | None:
    if spec is None:
        return None
    if not isinstance(spec, Mapping) or not spec or set(spec) - LIQUIDITY_KEYS:
        raise GroupDataError("definition_groups", f"{path.name}: liquidity_filter takes "
                             f"{', '.join(sorted(LIQUIDITY_KEYS))}", column="liquidity_filter", value=spec, group=group)
    for key, value in spec.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or \
                (key == "window_days" and (not isinstance(value, int) or value < 1)):
            raise GroupDataError("definition_groups", f"{path.name}: liquidity_filter.{key} must be a "
                                 "non-negative number (window_days a positive integer)",
                                 column="liquidity_filter", value=value, group=group)
    return dict(spec)


def yaml_groups(path: Path, known: set[tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(groups, members) frames from the YAML file; every member must be a known (ticker, region)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown_sections = set(spec) - set(YAML_SECTIONS)
    if unknown_sections:
        raise GroupDataError("definition_groups", f"{path.name}: unknown section(s) {sorted(unknown_sections)}; "
                             f"expected {', '.join(YAML_SECTIONS)}", column="type")
    groups, members = [], []
    for section, group_type in YAML_SECTIONS.items():
        for name, body in (spec.get(section) or {}).items():
            name = str(name)
            body = body or {}
            if set(body) - YAML_KEYS:
                raise GroupDataError("definition_groups", f"{path.name}: unknown key(s) {sorted(set(body) - YAML_KEYS)}",
                                     column="metadata", group=name)
            if len(name) > NAME_LENGTH:
                raise GroupDataError("definition_groups", f"longer than {NAME_LENGTH} characters", column="name",
                                     value=name, group=name)
            region = str(body.get("region", "KR")).upper()
            if region not in symbols.REGIONS:
                raise GroupDataError("definition_groups", f"{path.name}: unknown region", column="region",
                                     value=region, group=name)
            extra = body.get("metadata") or {}
            if not isinstance(extra, Mapping):
                raise GroupDataError("definition_groups", "must be a mapping", column="metadata", value=extra,
                                     group=name)
            seen: dict[str, str] = {}
            for entry in body.get("tickers") or []:
                ticker, member_region = _member(entry, region, name, path)
                if (ticker, member_region) not in known:
                    raise GroupDataError("group_memberships", f"{path.name}: {group_type} group {name!r} lists "
                                         f"{ticker}, which is not in tickers", column="symbol", value=entry,
                                         group=name, ticker=ticker, region=member_region)
                if ticker in seen:
                    raise GroupDataError("group_memberships", f"{path.name}: symbol {ticker} is listed twice "
                                         "(unique_membership is per symbol)", column="symbol",
                                         value=entry, group=name, ticker=ticker, region=member_region)
                seen[ticker] = member_region
                members.append({"type": group_type, "name": name, "symbol": ticker, "region": member_region,
                                "weight_pct": None, "metadata": None})
            groups.append({"type": group_type, "name": name, "description": body.get("description"),
                           "metadata": json.dumps({**extra, "source": path.name, "region": region},
                                                  ensure_ascii=False, sort_keys=True),
                           "liquidity_filter": _json(_liquidity(body.get("liquidity_filter"), name, path))})
    return pd.DataFrame(groups, columns=["type", "name", "description", "metadata", "liquidity_filter"]), \
        pd.DataFrame(members, columns=["type", "name", "symbol", "region", "weight_pct", "metadata"])


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- the SQL ------------------------------------------------------------------------------------
STAGING = """
CREATE TEMP TABLE _groups (type varchar(50), name varchar(100), description text, metadata jsonb,
                           liquidity_filter jsonb, PRIMARY KEY (type, name)) ON COMMIT DROP;
CREATE TEMP TABLE _members (type varchar(50), name varchar(100), symbol varchar(50), region varchar(2),
                            weight_pct numeric, metadata jsonb, PRIMARY KEY (type, name, symbol)) ON COMMIT DROP;
CREATE TEMP TABLE _latest ON COMMIT DROP AS
    SELECT t.ticker AS etf_ticker, t.region, l.as_of_date
    FROM tickers t
    CROSS JOIN LATERAL (SELECT max(h.as_of_date) AS as_of_date FROM etf_holdings h
                        WHERE h.etf_ticker = t.ticker AND h.region = t.region
                          AND h.as_of_date >= (SELECT max(as_of_date) FROM etf_holdings) - %(horizon)s::int) l
    WHERE t.asset_type = 'ETF' AND t.is_active AND l.as_of_date IS NOT NULL;
"""
# ^ one primary-key probe per listed ETF (0.07 s for 1,000 ETFs over 3.2 M holdings rows) instead of
#   aggregating the horizon's rows (1.2 s).

ETF_GROUPS = """
INSERT INTO _groups (type, name, description, metadata)
SELECT 'ETF', CASE WHEN l.region = 'KR' THEN l.etf_ticker ELSE l.region || ':' || l.etf_ticker END, t.name,
       jsonb_build_object('source', 'etf_holdings', 'region', l.region, 'ticker', l.etf_ticker,
                          'as_of_date', l.as_of_date::text)
FROM _latest l
LEFT JOIN tickers t ON t.ticker = l.etf_ticker AND t.region = l.region;
INSERT INTO _members (type, name, symbol, region, weight_pct, metadata)
SELECT 'ETF', CASE WHEN l.region = 'KR' THEN l.etf_ticker ELSE l.region || ':' || l.etf_ticker END,
       h.stock_ticker, CASE WHEN h.constituent_type = 'FOREIGN' THEN NULL ELSE h.region END, h.weight,
       jsonb_strip_nulls(jsonb_build_object('rank_in_etf', h.rank_in_etf, 'weight_pct', h.weight,
                                            'constituent_type', h.constituent_type))
FROM _latest l
JOIN etf_holdings h ON h.etf_ticker = l.etf_ticker AND h.region = l.region AND h.as_of_date = l.as_of_date
WHERE h.constituent_type IN ('STOCK', 'ETF', 'FOREIGN');
"""

SECTOR_GROUPS = """
INSERT INTO _groups (type, name, metadata)
SELECT DISTINCT 'SECTOR', CASE WHEN d.region = 'KR' THEN d.sector ELSE d.region || ':' || d.sector END,
       jsonb_build_object('source', 'stock_details.sector', 'region', d.region, 'sector', d.sector)
FROM stock_details d JOIN tickers t USING (ticker, region)
WHERE t.is_active AND d.sector <> '';
INSERT INTO _members (type, name, symbol, region)
SELECT 'SECTOR', CASE WHEN d.region = 'KR' THEN d.sector ELSE d.region || ':' || d.sector END, d.ticker, d.region
FROM stock_details d JOIN tickers t USING (ticker, region)
WHERE t.is_active AND d.sector <> '';
"""

# Members of a group with a liquidity_filter that do not pass it (or have no bars) are dropped.
LIQUIDITY = """
DELETE FROM _members m USING _groups g
WHERE g.type = m.type AND g.name = m.name AND g.liquidity_filter IS NOT NULL
  AND NOT EXISTS (
      SELECT 1
      FROM (SELECT avg(b.value) AS avg_value, (array_agg(b.market_cap ORDER BY b.date DESC))[1] AS market_cap
            FROM (SELECT o.date, o.value, o.market_cap FROM ohlcv_data o
                  WHERE o.ticker = m.symbol AND o.region = m.region AND o.timeframe = 'D'
                  ORDER BY o.date DESC
                  LIMIT COALESCE((g.liquidity_filter->>'window_days')::int, 20)) b
            HAVING count(*) > 0) s
      WHERE s.avg_value >= COALESCE((g.liquidity_filter->>'min_avg_daily_value')::numeric, 0)
        AND (g.liquidity_filter->'min_market_cap' IS NULL
             OR s.market_cap >= (g.liquidity_filter->>'min_market_cap')::numeric))
"""

# A weight that is no fraction of the fund (or would not fit NUMERIC(5,4)) is named, not clipped.
# Short lines (an inverse ETF's short ETF line) are negative fractions, as the PDF reports them.
BAD_WEIGHTS = """
SELECT m.name, m.symbol, m.region, m.weight_pct, g.metadata->>'as_of_date', g.metadata->>'region', count(*) OVER ()
FROM _members m JOIN _groups g USING (type, name)
WHERE abs(m.weight_pct) > 100
ORDER BY m.name, m.symbol LIMIT 1
"""

RECONCILE = [
    ("empty", """DELETE FROM _groups g WHERE NOT EXISTS
                     (SELECT 1 FROM _members m WHERE m.type = g.type AND m.name = g.name)"""),
    ("groups_removed", """DELETE FROM definition_groups d WHERE d.environment = %(env)s AND NOT EXISTS
                              (SELECT 1 FROM _groups g WHERE g.type = d.type AND g.name = d.name)"""),
    ("groups_changed", """UPDATE definition_groups d
                          SET description = g.description, metadata = g.metadata,
                              liquidity_filter = g.liquidity_filter, updated_at = localtimestamp
                          FROM _groups g
                          WHERE d.environment = %(env)s AND d.type = g.type AND d.name = g.name
                            AND (d.description, d.metadata, d.liquidity_filter)
                                IS DISTINCT FROM (g.description, g.metadata, g.liquidity_filter)"""),
    ("groups_added", """INSERT INTO definition_groups (name, type, description, metadata, liquidity_filter, environment)
                        SELECT g.name, g.type, g.description, g.metadata, g.liquidity_filter, %(env)s::varchar
                        FROM _groups g
                        WHERE NOT EXISTS (SELECT 1 FROM definition_groups d WHERE d.environment = %(env)s
                                          AND d.type = g.type AND d.name = g.name)
                        ORDER BY g.type, g.name"""),
    ("target", """CREATE TEMP TABLE _target ON COMMIT DROP AS
                  SELECT d.id AS group_id, m.symbol, m.region, round(m.weight_pct / 100, 4)::numeric(5, 4) AS weight,
                         m.metadata
                  FROM _members m
                  JOIN definition_groups d ON d.environment = %(env)s AND d.type = m.type AND d.name = m.name"""),
    ("_touched", """CREATE TEMP TABLE _touched (group_id bigint) ON COMMIT DROP"""),
    ("memberships_removed", """WITH gone AS (
                                   DELETE FROM group_memberships gm USING definition_groups d
                                   WHERE d.id = gm.group_id AND d.environment = %(env)s
                                     AND NOT EXISTS (SELECT 1 FROM _target t
                                                     WHERE t.group_id = gm.group_id AND t.symbol = gm.symbol)
                                   RETURNING gm.group_id)
                               INSERT INTO _touched SELECT group_id FROM gone"""),
    ("memberships_changed", """WITH changed AS (
                                   UPDATE group_memberships gm
                                   SET region = t.region, weight = t.weight, metadata = t.metadata,
                                       updated_at = localtimestamp
                                   FROM _target t
                                   WHERE gm.group_id = t.group_id AND gm.symbol = t.symbol
                                     AND (gm.region, gm.weight, gm.metadata)
                                         IS DISTINCT FROM (t.region, t.weight, t.metadata)
                                   RETURNING gm.group_id)
                               INSERT INTO _touched SELECT group_id FROM changed"""),
    ("memberships_added", """WITH added AS (
                                 INSERT INTO group_memberships (group_id, symbol, region, weight, metadata)
                                 SELECT t.group_id, t.symbol, t.region, t.weight, t.metadata FROM _target t
                                 WHERE NOT EXISTS (SELECT 1 FROM group_memberships gm
                                                   WHERE gm.group_id = t.group_id AND gm.symbol = t.symbol)
                                 ORDER BY t.group_id, t.symbol
                                 RETURNING group_id)
                             INSERT INTO _touched SELECT group_id FROM added"""),
    ("groups_refreshed", """UPDATE definition_groups SET last_update = localtimestamp
                            WHERE id IN (SELECT group_id FROM _touched)"""),
]


def rebuild(conn: psycopg.Connection, env: str, yaml_frames: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, int]:
    """Reconcile the environment's groups with the sources inside the caller's transaction."""
    lock_partition(conn, "definition_groups", env)
    for statement in STAGING.split(";"):
        if statement.strip():
            conn.execute(statement, {"horizon": HOLDINGS_HORIZON_DAYS})
    for statement in (*ETF_GROUPS.split(";"), *SECTOR_GROUPS.split(";")):
        if statement.strip():
            conn.execute(statement)
    try:
        with conn.transaction():
            copy_frame(conn, "_groups", yaml_frames[0])
    except psycopg.errors.UniqueViolation as exc:
        raise GroupDataError("definition_groups", f"{GROUPS_FILE.name} defines a group the data already derives "
                             f"({exc.diag.message_detail})", column="name") from None
    copy_frame(conn, "_members", yaml_frames[1])
    bad = conn.execute(BAD_WEIGHTS).fetchone()
    if bad:
        name, symbol, region, weight_pct, day, group_region, n = bad
        raise GroupDataError("group_memberships", f"weight {weight_pct}% of ETF {name} is no fraction of the "
                             f"fund ({n} such holding(s)); etf_holdings.weight must lie in -100..100",
                             column="weight", value=float(weight_pct), group=name, ticker=symbol,
                             region=region or group_region, date=day)
    long_names = conn.execute("SELECT name FROM _groups WHERE length(name) > %s LIMIT 1", (NAME_LENGTH,)).fetchone()
    if long_names:
        raise GroupDataError("definition_groups", f"longer than {NAME_LENGTH} characters", column="name",
                             value=long_names[0], group=long_names[0])
    before = conn.execute("SELECT count(*) FROM _members").fetchone()[0]
    conn.execute(LIQUIDITY)
    counts = {"liquidity_filtered": before - conn.execute("SELECT count(*) FROM _members").fetchone()[0]}
    for label, sql in RECONCILE:
        cur = conn.execute(sql, {"env": env})
        if not label.startswith("_") and label != "target":
            counts[label] = cur.rowcount
    return counts


# -- seed 003's lookups ---------------------------------------------------------------------------
def group_members(warehouse: Warehouse, group_type: str, name: str, env: str | None = None) -> pd.DataFrame:
    """symbol, region, weight of one group, heaviest first (seed 003's "ETF holdings query")."""
    return warehouse.read_frame(
        """SELECT m.symbol, m.region, m.weight, m.metadata FROM definition_groups g
           JOIN group_memberships m ON m.group_id = g.id
           WHERE g.type = %s AND g.name = %s AND g.environment = %s
           ORDER BY m.weight DESC NULLS LAST, m.symbol""", (group_type, name, env or environment()))


def groups_of(warehouse: Warehouse, symbol: str, region: str | None = None, env: str | None = None) -> pd.DataFrame:
    """type, name, weight of every group a symbol belongs to (seed 003's "stock memberships query")."""
    return warehouse.read_frame(
        """SELECT g.type, g.name, m.region, m.weight FROM group_memberships m
           JOIN definition_groups g ON g.id = m.group_id
           WHERE m.symbol = %s AND (%s::text IS NULL OR m.region = %s) AND g.environment = %s
           ORDER BY g.type, g.name""", (symbol, region, region, env or environment()))


SEED_QUERIES = {
    # seed 003 success criteria: zero orphan memberships; memberships and symbols per group type
    "orphans": """SELECT count(*) FROM group_memberships m
                  WHERE NOT EXISTS (SELECT 1 FROM definition_groups g WHERE g.id = m.group_id)""",
    "empty": """SELECT count(*) FROM definition_groups g WHERE g.environment = %(env)s AND NOT EXISTS
                (SELECT 1 FROM group_memberships m WHERE m.group_id = g.id)""",
    "by_type": """SELECT g.type, count(DISTINCT g.id) AS groups, count(m.id) AS memberships,
                         count(DISTINCT m.symbol) AS symbols
                  FROM definition_groups g LEFT JOIN group_memberships m ON m.group_id = g.id
                  WHERE g.environment = %(env)s GROUP BY g.type ORDER BY g.type""",
    "symbols": """SELECT count(DISTINCT m.symbol) FROM group_memberships m
                  JOIN definition_groups g ON g.id = m.group_id WHERE g.environment = %(env)s""",
}


@dg.asset(
    kinds={"postgres"}, group_name="groups", deps=["etf_holdings", "stock_list", "etf_list"],
    # Rebuilt when holdings or a list changes. Not eager(): as an unpartitioned asset it depends on
    # every etf_holdings partition since 2010, and eager() waits while any of them is missing.
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()),
    check_specs=[dg.AssetCheckSpec("no_orphans_or_empty_groups", asset="groups",
                                   description="seed 003: zero orphan memberships, no group without members")],
    description="`definition_groups` + `group_memberships` (seed 003): ETF groups from each ETF's latest "
                "holdings (weight as a fraction), SECTOR groups from stock sectors, THEME/SECTOR/SEGMENT/CUSTOM "
                "groups from quant_assets/data/groups.yaml; per QUANT_ENV environment (DEFAULT, TEST, UAT, PROD). "
                "Reconciled in one transaction: unchanged rows keep their ids.",
)
def groups(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    env = environment()
    known = set(warehouse.read_frame("SELECT ticker, region FROM tickers").itertuples(index=False, name=None))
    manual = yaml_groups(GROUPS_FILE, known)
    started = dt.datetime.now()
    with warehouse.connect() as conn, conn.transaction():
        counts = rebuild(conn, env, manual)
        seed = {k: conn.execute(SEED_QUERIES[k], {"env": env}).fetchone()[0] for k in ("orphans", "empty", "symbols")}
        cur = conn.execute(SEED_QUERIES["by_type"], {"env": env})
        by_type = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    context.log.info(f"groups ({env}): {counts} in {(dt.datetime.now() - started).total_seconds():.2f}s")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": int(by_type["memberships"].sum()), "environment": env,
                  "unique_symbols": int(seed["symbols"]), **{k: int(v) for k, v in counts.items()},
                  "by_type": dg.MetadataValue.md(by_type.to_markdown(index=False))},
        check_results=[dg.AssetCheckResult(passed=seed["orphans"] + seed["empty"] == 0,
                                           metadata={"orphan_memberships": int(seed["orphans"]),
                                                     "empty_groups": int(seed["empty"])})],
    )


ASSETS = [groups]
