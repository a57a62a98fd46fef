"""Groups: ETF (latest holdings, weighted), SECTOR (stock sectors), THEME and CUSTOM (YAML).

All four kinds are rebuilt in one transaction with set-based SQL, so a reader never sees a
half-built group and memberships can never point at a missing group or ticker (foreign keys).
"""

import os
from pathlib import Path

import dagster as dg
import yaml

from quant_assets.errors import SourceDataError
from quant_assets.resources.warehouse import Warehouse, lock_partition

GROUPS_FILE = Path(__file__).resolve().parent.parent / "data" / "groups.yaml"


def environment() -> str:
    return os.environ.get("QUANT_ENV", "local")


def yaml_groups(path: Path, known: set[str]) -> list[tuple[str, str, str, list[str]]]:
    """(group_type, name, description, tickers) from the YAML file; unknown tickers are an error."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for section, group_type in (("themes", "THEME"), ("custom", "CUSTOM")):
        for name, body in (spec.get(section) or {}).items():
            tickers = [str(t).zfill(6) for t in body.get("tickers", [])]
            for t in tickers:
                if t not in known:
                    raise SourceDataError("groups", f"{path.name}: {group_type} group {name!r} lists {t}, "
                                          "which is not in tickers", ticker=t, field="tickers")
            out.append((group_type, name, body.get("description"), tickers))
    return out


SQL_ETF = """
INSERT INTO definition_groups (group_type, name, description, source, environment, as_of_date)
SELECT 'ETF', h.etf_ticker, t.name, 'etf_holdings', %(env)s, h.as_of_date
FROM (SELECT DISTINCT etf_ticker, as_of_date FROM etf_holdings
      WHERE as_of_date = (SELECT max(as_of_date) FROM etf_holdings)) h
LEFT JOIN tickers t ON t.ticker = h.etf_ticker;
INSERT INTO group_memberships (group_id, ticker, weight_pct)
SELECT g.group_id, h.constituent_code, h.weight_pct
FROM definition_groups g
JOIN etf_holdings h ON h.etf_ticker = g.name AND h.as_of_date = g.as_of_date
JOIN tickers t ON t.ticker = h.constituent_code
WHERE g.group_type = 'ETF' AND g.environment = %(env)s AND h.constituent_type IN ('STOCK', 'ETF');
"""

SQL_SECTOR = """
INSERT INTO definition_groups (group_type, name, source, environment)
SELECT DISTINCT 'SECTOR', sector, 'stock_details.sector', %(env)s FROM stock_details WHERE sector IS NOT NULL;
INSERT INTO group_memberships (group_id, ticker)
SELECT g.group_id, d.ticker
FROM stock_details d JOIN tickers t USING (ticker)
JOIN definition_groups g ON g.group_type = 'SECTOR' AND g.name = d.sector AND g.environment = %(env)s
WHERE t.active;
"""


@dg.asset(
    kinds={"postgres"}, group_name="groups", deps=["etf_holdings", "stock_list", "etf_list"],
    # Rebuilt when holdings or a list changes. Not eager(): as an unpartitioned asset it depends on
    # every etf_holdings partition since 2010, and eager() waits while any of them is missing.
    automation_condition=dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing()),
    check_specs=[dg.AssetCheckSpec("no_orphans_or_empty_groups", asset="groups")],
    description="`definition_groups` + `group_memberships`: ETF groups from the latest holdings (with "
                "weight), SECTOR groups from stock sectors, THEME and CUSTOM groups from "
                "quant_assets/data/groups.yaml; per QUANT_ENV environment.",
)
def groups(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    env = environment()
    known = set(warehouse.read_frame("SELECT ticker FROM tickers")["ticker"])
    manual = yaml_groups(GROUPS_FILE, known)
    with warehouse.connect() as conn, conn.transaction():
        lock_partition(conn, "definition_groups", env)
        conn.execute("DELETE FROM definition_groups WHERE environment = %s", (env,))
        for statement in (*SQL_ETF.split(";"), *SQL_SECTOR.split(";")):
            if statement.strip():
                conn.execute(statement, {"env": env})
        for group_type, name, description, tickers in manual:
            gid = conn.execute(
                "INSERT INTO definition_groups (group_type, name, description, source, environment) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING group_id",
                (group_type, name, description, GROUPS_FILE.name, env)).fetchone()[0]
            conn.execute("INSERT INTO group_memberships (group_id, ticker) SELECT %s, unnest(%s::text[])",
                         (gid, tickers))
        # A group whose members all vanished is noise, not a group.
        conn.execute("DELETE FROM definition_groups g WHERE environment = %s AND NOT EXISTS "
                     "(SELECT 1 FROM group_memberships m WHERE m.group_id = g.group_id)", (env,))
    counts = warehouse.read_frame(
        """SELECT g.group_type, count(DISTINCT g.group_id) AS groups, count(m.ticker) AS memberships
           FROM definition_groups g LEFT JOIN group_memberships m USING (group_id)
           WHERE g.environment = %s GROUP BY 1 ORDER BY 1""", (env,))
    orphans = warehouse.read_frame(
        """SELECT (SELECT count(*) FROM group_memberships m LEFT JOIN tickers t USING (ticker)
                   WHERE t.ticker IS NULL) AS orphan_members,
                  (SELECT count(*) FROM definition_groups g WHERE NOT EXISTS
                   (SELECT 1 FROM group_memberships m WHERE m.group_id = g.group_id)) AS empty_groups""")
    bad = int(orphans["orphan_members"].iloc[0]) + int(orphans["empty_groups"].iloc[0])
    return dg.MaterializeResult(
        metadata={"dagster/row_count": int(counts["memberships"].sum()), "environment": env,
                  "by_type": dg.MetadataValue.md(counts.to_markdown(index=False))},
        check_results=[dg.AssetCheckResult(passed=bad == 0, metadata=orphans.iloc[0].to_dict())],
    )


ASSETS = [groups]
