"""Financial statements: KIS balance sheet, income statement and ratios -> `ticker_fundamentals`
rows with period_type ANNUAL / QUARTERLY (date = fiscal period end), data_source 'KIS'.

Budget. KIS charges one request per stock per endpoint and period type: 3 endpoints x (annual,
quarterly) = 6 requests per stock, whatever the partition range, because one answer carries
every period KIS keeps for that stock. So partitions are calendar quarters of *period end*
(partition 2025-10-01 holds the periods ending 2025-10-01..12-31: FY2025 and its Q4), and a
backfill of any length is one ranged run (BackfillPolicy.single_run) that fetches once. A
refresh costs 6 x N requests (N ~ 2,700 listed KOSPI+KOSDAQ stocks -> ~16,200 requests,
~15-17 min at the client's 19 req/s: measured 334 ms per stock on the small simulator, 374 ms
on the full one (2,700 stocks); pool "kis"); the weekly schedule refreshes the two latest
completed quarters (quarterly reports are due 45 days after the quarter, annual reports 90 days
after the year end, so two quarters cover every filing lag): 52 x 16,200 ~ 842,000 requests a year.

Writes are upserts of the fetched periods inside the run's window, in one transaction with the
partition_status rows of every partition in the range: a re-run gives the same rows, a
restatement overwrites its period, and a period KIS stops returning (older than its history
window) is kept rather than deleted. The upsert is an UPDATE of the rows whose fetched columns
differ and an INSERT of the keys not present yet, not INSERT ... ON CONFLICT: `ticker_fundamentals`
is compactable (storage/specs.py), and its compacted form is a view with INSTEAD OF triggers, on
which ON CONFLICT fails. Both forms leave the same rows on the plain table; on the view only a
period that really changed un-compacts its month (the weekly refresh of unchanged quarters does not).
"""

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from quant_assets.calendar import TIMEZONE
from quant_assets.metadata import preview, table_metadata
from quant_assets.resources import kis_finance as KF
from quant_assets.resources.kis import KISClient
from quant_assets.resources.warehouse import Warehouse, copy_frame, lock_partition
from quant_assets.schemas.statements import FinancialStatementsSchema
from quant_assets.schemas.validation import validate
from quant_assets.storage import staged

ASSET = "financial_statements"
TABLE = "ticker_fundamentals"
KEY = ["ticker", "region", "period_type", "date"]
SOURCE = "KIS FHKST66430100/66430200/66430300 (annual + quarterly)"
REQUESTS_PER_STOCK = 2 * len(KF.ENDPOINTS)
WORKERS = 4  # enough in flight for the shared limiter, not the latency, to set the pace

statement_quarters = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start="2018-01-01", fmt="%Y-%m-%d", timezone=TIMEZONE,
)


def stocks_for(warehouse: Warehouse, start: dt.date) -> list[str]:
    """KR stocks listed at some point of the window: listed now, or delisted on/after its start."""
    frame = warehouse.read_frame(
        "SELECT ticker FROM tickers WHERE region = 'KR' AND asset_type = 'STOCK' "
        "AND (is_active OR delisting_date >= %s) ORDER BY ticker", (start,))
    return list(frame["ticker"])


def fetch_rows(kis: KISClient, tickers: list[str], workers: int = WORKERS) -> tuple[pd.DataFrame, dict]:
    """Statement rows of every ticker (6 requests each), built in one set-based pass. Any source or
    payload error propagates: nothing is written for a partially fetched universe."""
    # The first stock alone: if the cached token is refused (EGW00121/123), one request renews it
    # instead of every worker racing to (KIS issues one token per minute; the losers would wait 61 s).
    answers = [kis.statements(tickers[0])] if tickers else []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kis-statements") as pool:
        answers += list(pool.map(kis.statements, tickers[1:]))
    if not answers:
        return pd.DataFrame(columns=KF.COLUMNS), {}
    merged = {period: {tr: pd.concat([a[period][tr] for a in answers], ignore_index=True) for tr in KF.ENDPOINTS}
              for period in (KF.ANNUAL, KF.QUARTERLY)}
    return KF.statement_rows(merged[KF.ANNUAL], merged[KF.QUARTERLY])


def upsert_sql(cols: list[str], table: str = TABLE, staged_rows: str = "_statements") -> list[str]:
    """The upsert of the staged rows into `table` as statements that work on the plain table and on
    its compacted view alike (storage/staged.py: ON CONFLICT works on neither form of the view):

    1. UPDATE the rows whose key is staged, setting the staged columns (the others, e.g. KRX's
       close_price or created_at, are kept as ON CONFLICT DO UPDATE kept them), only where a value
       differs: an unchanged row is not rewritten, so a compacted month is not un-compacted for it;
    2. drop the staged rows whose key is in the table; 3. INSERT the rest.

    Run in one transaction under the writers' lock, with unique staged keys (the schema), the
    result equals the ON CONFLICT upsert's."""
    values = [c for c in cols if c not in KEY]
    names = ", ".join(cols)
    update = (f"UPDATE {table} t SET ({', '.join(values)}) = ROW({', '.join('s.' + c for c in values)}) "
              f"FROM {staged_rows} s WHERE {staged.same_key(KEY)} AND {staged.narrowed_to(staged_rows, KEY)} "
              f"AND ROW({', '.join('t.' + c for c in values)}) IS DISTINCT FROM ROW({', '.join('s.' + c for c in values)})")
    insert = f"INSERT INTO {table} ({names}) SELECT {names} FROM {staged_rows}"
    return [*([update] if values else []), staged.drop_present(table, staged_rows, KEY), insert]


def write(warehouse: Warehouse, frame: pd.DataFrame, partitions: list[dt.date]) -> None:
    """Upsert `frame` (rows dated inside the run's window) and mark every partition of the window
    loaded, in one transaction."""
    if len(frame):
        warehouse.ensure_month_partitions(TABLE, pd.to_datetime(frame["date"]).dt.date.unique())
    cols = list(frame.columns)
    counts = pd.to_datetime(frame["date"]).dt.date.map(
        lambda d: max(p for p in partitions if p <= d)).value_counts() if len(frame) else pd.Series(dtype=int)
    with warehouse.connect() as conn, conn.transaction():
        # One writer of KIS statement rows at a time: overlapping ranges upsert the same periods.
        lock_partition(conn, TABLE, (ASSET, "KR"))
        if len(frame):
            conn.execute(f"CREATE TEMP TABLE _statements (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
            copy_frame(conn, "_statements", frame)
            conn.execute("ANALYZE _statements")
            for stmt in upsert_sql(cols):
                conn.execute(stmt)
        for p in partitions:
            conn.execute(
                """INSERT INTO partition_status (asset, region, partition_date, status, row_count, source, updated_at)
                   VALUES (%s, 'KR', %s, 'loaded', %s, %s, now())
                   ON CONFLICT (asset, region, partition_date) DO UPDATE SET status = EXCLUDED.status,
                       row_count = EXCLUDED.row_count, reason = NULL, source = EXCLUDED.source, updated_at = now()""",
                (ASSET, p, int(counts.get(p, 0)), SOURCE))


@dg.asset(
    name=ASSET, kinds={"postgres", "pandas"}, group_name="fundamentals", pool="kis",
    partitions_def=statement_quarters, backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey("stock_list")],
    metadata={"dagster/table_name": f"quant.public.{TABLE}"},
    description="KIS financial statements per KR stock as `ticker_fundamentals` rows, period_type ANNUAL / "
                "QUARTERLY, date = fiscal period end: revenue, cogs, gross/operating profit, net income, "
                "total assets/liabilities/equity, current assets/liabilities (KRW; KIS sends 억원), roe and "
                "debt_ratio (%), eps, bps (KRW/share). QUARTERLY flows are the quarter's own (KIS reports them "
                "year-to-date). Partition = calendar quarter of the period end. Cost: 6 requests per stock per "
                "run whatever the range (~16,200 requests, ~15-17 min at 19 req/s for ~2,700 stocks); refreshed "
                "weekly (Saturday 06:00 KST) for the last two completed quarters, ~842,000 requests a year.",
)
def financial_statements(context: dg.AssetExecutionContext, kis: KISClient, warehouse: Warehouse):
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    partitions = [dt.date.fromisoformat(k) for k in context.partition_keys]
    tickers = stocks_for(warehouse, start)
    if not tickers:
        raise dg.Failure("financial_statements: no KR stocks in `tickers` (materialize stock_list first); "
                         "nothing written")
    t0 = time.perf_counter()
    rows, stats = fetch_rows(kis, tickers)
    seconds = time.perf_counter() - t0
    day = pd.to_datetime(rows["date"]).dt.date if len(rows) else pd.Series(dtype=object)
    rows = rows[(day >= start) & (day < end)].reset_index(drop=True) if len(rows) else rows
    label = start.isoformat() if len(partitions) == 1 else f"{partitions[0]}..{partitions[-1]}"
    frame = validate(FinancialStatementsSchema, rows, dataset=TABLE, date=None)
    write(warehouse, frame, partitions)
    context.log.info(f"{len(frame)} statement rows for {frame['ticker'].nunique() if len(frame) else 0} of "
                     f"{len(tickers)} stocks ({label}); {len(tickers) * REQUESTS_PER_STOCK} KIS requests in "
                     f"{seconds:.1f}s")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": len(frame),
        **table_metadata(TABLE, warehouse.url()),   # catalogue types + sql/014 comments
        "preview": preview(frame),
        "stocks": len(tickers),
        "kis_requests": len(tickers) * REQUESTS_PER_STOCK,
        "ms_per_stock": round(1000 * seconds / len(tickers), 1),
        "annual_rows": int((frame["period_type"] == "ANNUAL").sum()) if len(frame) else 0,
        "quarterly_rows": int((frame["period_type"] == "QUARTERLY").sum()) if len(frame) else 0,
        **stats,
        "source": SOURCE,
    })


refresh_job = dg.define_asset_job("financial_statements_refresh", selection=[financial_statements])


def latest_completed(now: dt.datetime, count: int = 2) -> list[str]:
    """Keys of the `count` newest quarters that have ended by `now` (KST), oldest first."""
    keys = statement_quarters.get_partition_keys(current_time=now)
    return keys[-count:]


@dg.schedule(job=refresh_job, cron_schedule="0 6 * * 6", execution_timezone=TIMEZONE,
             description="Saturday 06:00 KST: one ranged run over the two latest completed quarters "
                         "(6 KIS requests per stock).")
def financial_statements_weekly(context: dg.ScheduleEvaluationContext):
    keys = latest_completed(context.scheduled_execution_time)
    return dg.RunRequest(run_key=f"statements-{context.scheduled_execution_time:%Y%m%d}", tags={
        "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})


ADD_UP_SQL = """
WITH q AS (SELECT ticker, fiscal_year, sum(revenue) AS revenue, sum(net_income) AS net_income
           FROM ticker_fundamentals
           WHERE region = 'KR' AND data_source = 'KIS' AND period_type = 'QUARTERLY'
           GROUP BY ticker, fiscal_year HAVING count(*) = 4),
     j AS (SELECT a.ticker, a.fiscal_year,
                  abs(q.revenue - a.revenue) > %(tol)s OR abs(q.net_income - a.net_income) > %(tol)s AS off
           FROM q JOIN ticker_fundamentals a
             ON a.ticker = q.ticker AND a.region = 'KR' AND a.data_source = 'KIS' AND a.period_type = 'ANNUAL'
            AND a.fiscal_year = q.fiscal_year)
SELECT count(*) AS years, count(*) FILTER (WHERE off) AS off,
       (array_agg(ticker || ' FY' || fiscal_year ORDER BY ticker, fiscal_year) FILTER (WHERE off))[1:5] AS examples
FROM j"""


@dg.asset_check(asset=financial_statements, name="quarters_add_up_to_the_year",
                description="For every stock and fiscal year with four QUARTERLY rows and an ANNUAL row, the "
                            "quarters' revenue and net income add up to the year's (to 4억원: KIS rounds each "
                            "year-to-date figure to 1억원). Catches a wrong de-cumulation or a fiscal-year mix-up.")
def quarters_add_up_to_the_year(warehouse: Warehouse) -> dg.AssetCheckResult:
    row = warehouse.read_frame(ADD_UP_SQL, {"tol": 4 * KF.EOK}).iloc[0]
    return dg.AssetCheckResult(
        passed=int(row["off"]) == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"fiscal_years_checked": int(row["years"]), "not_adding_up": int(row["off"]),
                  "examples": ", ".join(row["examples"] or [])})


ASSETS = [financial_statements]
CHECKS = [quarters_add_up_to_the_year]
JOBS = [refresh_job]
SCHEDULES = [financial_statements_weekly]
