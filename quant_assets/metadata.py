"""What a person reads in the Dagster UI about a table: its schema, a preview, numbers, a chart.

One place for the materialisation metadata of every warehouse asset, so the UI says the same
thing everywhere:

- `column_schema(table)`: the Dagster column schema read from the PostgreSQL catalogue
  (`format_type` types such as `numeric(20,4)`, NOT NULL, the primary key, and the `COMMENT ON
  COLUMN` text of sql/014) instead of pandas dtypes; cached per process, the catalogue only
  changes with a migration.
- `column_lineage(table)`: for derived tables, which upstream asset columns each column is
  computed from.
- `preview(frame)`: a markdown table with thousands separators and plain dates
  (`24,552,500,000`, `2026-11-20`), not `2.45525e+10` / `2026-11-20 00:00:00`.
- `day_numbers(...)`: plain int/float metadata per partition (coverage, totals, means,
  medians): Dagster plots every numeric metadata key across partitions on the asset's Plots tab.
- `etf_chart(...)`: a small PNG of premium/discount and tracking error of the largest ETFs,
  embedded as a data URI in markdown (Dagster's UI renders markdown images; a data URI keeps the
  image inside the event, with no file server needed).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import io
import math
from collections.abc import Mapping, Sequence

import dagster as dg
import numpy as np
import pandas as pd
import psycopg

from quant_assets.resources import pool

# -- column schema from the catalogue -----------------------------------------------------------
_CATALOGUE_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       col_description(a.attrelid, a.attnum),
       a.attnotnull,
       coalesce(a.attnum = ANY (pk.conkey), false) AS in_pk
  FROM pg_attribute a
  LEFT JOIN pg_constraint pk ON pk.conrelid = a.attrelid AND pk.contype = 'p'
 WHERE a.attrelid = to_regclass(%(table)s) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""
_CONSTRAINTS_SQL = """
SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
 WHERE c.conrelid = to_regclass(%(table)s) AND c.contype IN ('p', 'u')
 ORDER BY c.contype, c.conname
"""


def _url(url: str | None) -> str:
    if url:
        return url
    from quant_assets import database

    return database.database_url()


@functools.lru_cache(maxsize=256)
def _catalogue(url: str, table: str) -> tuple[tuple, tuple]:
    with psycopg.connect(url) as conn:
        columns = tuple(conn.execute(_CATALOGUE_SQL, {"table": table}).fetchall())
        keys = tuple(r[0] for r in conn.execute(_CONSTRAINTS_SQL, {"table": table}))
    if not columns:
        raise LookupError(f"table {table!r} is not in the catalogue of the market database")
    return columns, keys


def column_schema(table: str, url: str | None = None) -> dg.TableSchema:
    """`dagster/column_schema` of `table` as PostgreSQL has it (types, NOT NULL, key, comments).

    A single primary-key column is marked unique; a composite key is listed as a table
    constraint (e.g. `PRIMARY KEY (ticker, region, date, timeframe)`).
    """
    columns, keys = _catalogue(_url(url), table)
    single_pk = sum(1 for c in columns if c[4]) == 1
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=name, type=pg_type, description=comment,
                constraints=dg.TableColumnConstraints(nullable=not notnull, unique=bool(in_pk and single_pk)),
            )
            for name, pg_type, comment, notnull, in_pk in columns
        ],
        constraints=dg.TableConstraints(other=list(keys)) if keys else None,
    )


def clear_cache() -> None:
    """Forget cached schemas (after a migration in the same process)."""
    _catalogue.cache_clear()


# Asset key -> table where they differ (every other asset writes the table of its own name).
ASSET_TABLES = {"ohlcv": "ohlcv_data", "stock_fundamentals": "ticker_fundamentals",
                "technical_analysis": "ohlcv_data", "etf_list": "etf_details", "stock_list": "stock_details"}


def table_of(asset_key: dg.AssetKey) -> str:
    name = asset_key.path[-1]
    return ASSET_TABLES.get(name, name)


# -- column lineage of derived tables -----------------------------------------------------------
_PD = [("etf_daily", "close"), ("etf_daily", "nav")]
_TE = [("etf_daily", "nav"), ("etf_daily", "index_close"), ("etf_list", "multiple")]
_BUCKET = {"open": [("ohlcv", "open")], "high": [("ohlcv", "high")], "low": [("ohlcv", "low")],
           "close": [("ohlcv", "close")], "volume": [("ohlcv", "volume")], "value": [("ohlcv", "value")],
           "ma5_start": [("technical_analysis", "ma5")], "ma20_end": [("technical_analysis", "ma20")],
           "ma60_end": [("technical_analysis", "ma60")], "rsi_14_end": [("technical_analysis", "rsi_14")]}
LINEAGE: dict[str, dict[str, list[tuple[str, str]]]] = {
    "etf_tracking": {
        "multiple": [("etf_list", "multiple")],
        "premium_discount_pct": _PD,
        **{f"premium_discount_avg_{n}d": _PD for n in (20, 60, 120, 250)},
        **{f"tracking_error_{n}d": _TE for n in (20, 60, 120, 250)},
        **{f"tracking_diff_{n}d": _TE for n in (20, 60, 120, 250)},
        "days_in_window": [("etf_daily", "nav")],
    },
    "ohlcv_monthly": _BUCKET,
    "ohlcv_quarterly": {**_BUCKET, "price_volatility": [("ohlcv", "close")],
                        "quarter_range_pct": [("ohlcv", "high"), ("ohlcv", "low"), ("ohlcv", "open")]},
    "ohlcv_yearly": _BUCKET,
    "price_range_52w": {"high_52w": [("ohlcv", "high"), ("adjustment_factors", "factor")],
                        "low_52w": [("ohlcv", "low"), ("adjustment_factors", "factor")]},
    "factor_scores": {"score": [("ohlcv", "close"), ("ohlcv", "value")],
                      "percentile": [("ohlcv", "close"), ("ohlcv", "value")]},
}


def column_lineage(table: str, url: str | None = None) -> dg.TableColumnLineage | None:
    """`dagster/column_lineage` of a derived table: only columns the table really has are listed."""
    deps = LINEAGE.get(table)
    if not deps:
        return None
    present = {c.name for c in column_schema(table, url).columns}
    return dg.TableColumnLineage({
        column: [dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=col) for asset, col in sources]
        for column, sources in deps.items() if column in present
    })


def table_metadata(table: str, url: str | None = None) -> dict:
    """Table name, catalogue schema and (for derived tables) column lineage."""
    url = _url(url)  # once: without a URL each lookup re-checks the embedded server (~10 ms)
    meta: dict = {"dagster/table_name": f"quant.public.{table}", "dagster/column_schema": column_schema(table, url)}
    lineage = column_lineage(table, url)
    if lineage is not None:
        meta["dagster/column_lineage"] = lineage
    return meta


# -- previews -----------------------------------------------------------------------------------
def format_value(value: object) -> str:
    """One cell as a person reads it: `24,552,500,000`, `-0.1234`, `2026-11-20`, empty for NULL."""
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating | decimal.Decimal):
        number = float(value)
        if math.isnan(number):
            return ""
        if number.is_integer() and abs(number) >= 1:
            return f"{number:,.0f}"
        if abs(number) >= 1000:
            return f"{number:,.2f}"
        return f"{number:,.4f}".rstrip("0").rstrip(".")
    return str(value).replace("|", "\\|").replace("\n", " ")


def preview(frame: pd.DataFrame, rows: int = 5, columns: Sequence[str] | None = None) -> dg.MetadataValue:
    """The first `rows` rows as a markdown table (numbers right-aligned, formatted by `format_value`)."""
    if frame is None or frame.empty:
        return dg.MetadataValue.md("(no rows)")
    head = frame.loc[:, list(columns)] if columns else frame
    head = head.head(rows)
    numeric = [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in head.dtypes]
    cells = [[format_value(v) for v in row] for row in head.itertuples(index=False, name=None)]
    for j in range(head.shape[1]):  # object columns of Decimals (psycopg numeric) are numbers too
        values = [v for v in head.iloc[:, j] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if values and all(isinstance(v, decimal.Decimal | int | float | np.number) and not isinstance(v, bool)
                          for v in values):
            numeric[j] = True
    header = "| " + " | ".join(str(c) for c in head.columns) + " |"
    align = "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"
    body = ["| " + " | ".join(row) + " |" for row in cells]
    return dg.MetadataValue.md("\n".join([header, align, *body]))


# -- numbers Dagster plots over partitions ------------------------------------------------------
def _num(value) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, 6)


def _numbers(values: Mapping[str, object]) -> dict:
    """Only finite numbers: Dagster plots float/int metadata; a None would be stored as text."""
    out = {}
    for key, value in values.items():
        number = _num(value)
        if number is not None:
            out[key] = dg.MetadataValue.int(int(value)) if isinstance(value, int | np.integer) else dg.MetadataValue.float(number)
    return out


# The day's universe: tickers listed that day (a ticker retired without a delisting date counts as
# listed, we do not know when it went) or ETFs with a daily bar that day; and how many of the
# written tickers are in it. Tickers written but not in `tickers` are counted apart.
# (`IN (SELECT unnest(...))`, a hashed subplan: `= ANY(array)` compared each of ~3,600 rows with
# each of ~3,600 written tickers, ~50 ms a day of a ranged run.)
_LISTED_SQL = """
WITH universe AS (
    SELECT ticker FROM tickers
     WHERE region = %(region)s AND asset_type = ANY(%(types)s)
       AND (listing_date IS NULL OR listing_date <= %(day)s)
       AND (delisting_date IS NULL OR delisting_date > %(day)s)
), written AS (SELECT DISTINCT unnest(%(written)s::text[]) AS ticker)
SELECT (SELECT count(*) FROM universe),
       (SELECT count(*) FROM universe WHERE ticker IN (SELECT ticker FROM written)),
       (SELECT count(*) FROM written w
         WHERE NOT EXISTS (SELECT 1 FROM tickers t WHERE t.region = %(region)s AND t.ticker = w.ticker))
"""
_ETF_DAILY_SQL = """
SELECT count(*), count(*) FILTER (WHERE ticker IN (SELECT unnest(%(written)s::text[]))), 0
  FROM etf_daily WHERE region = %(region)s AND date = %(day)s
"""
_UNIVERSE_TYPES = {"ohlcv_data": ["STOCK", "ETF"], "etf_daily": ["ETF"], "ticker_fundamentals": ["STOCK"]}


def _pct(part: int, whole: int | None) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def day_numbers(table: str, frame: pd.DataFrame, day: dt.date, *, region: str = "KR",
                url: str | None = None) -> dict:
    """Plottable numbers for one partition of `table` (written rows in `frame`).

    `coverage_pct` is the share of the day's universe that was written: for `ohlcv_data` the
    stocks and ETFs listed that day, for `etf_daily` the ETFs listed that day, for the ETF
    analytics the ETFs with a daily bar (`etf_daily`) that day.
    """
    n = len(frame)
    values: dict[str, object] = {}   # the row count is dagster/row_count
    key = "etf_ticker" if table == "etf_holdings" else "ticker"
    written = sorted(frame[key].astype(str).unique()) if key in frame.columns and n else []
    params = {"region": region, "day": day, "written": written, "types": _UNIVERSE_TYPES.get(table)}
    query = (_LISTED_SQL if table in _UNIVERSE_TYPES
             else _ETF_DAILY_SQL if table in ("etf_aum", "etf_holdings", "etf_tracking") else None)
    if query is not None:
        with pool.connection(_url(url)) as conn:
            universe, covered, unknown = conn.execute(query, params).fetchone()
        values["coverage_pct"] = _pct(covered, universe)
        if table in _UNIVERSE_TYPES:
            values["tickers_not_in_master"] = int(unknown)
    if n and table == "ohlcv_data":
        values["traded_value_krw_bn"] = pd.to_numeric(frame["value"], errors="coerce").sum() / 1e9
        values["median_change_pct"] = pd.to_numeric(frame["change_pct"], errors="coerce").median()
    elif n and table == "etf_daily":
        values["nav_present_pct"] = _pct(int(frame["nav"].notna().sum()), n)
    elif n and table == "etf_aum":
        values["total_aum_krw_trn"] = pd.to_numeric(frame["aum"], errors="coerce").sum() / 1e12
    elif n and table == "etf_holdings":
        values["median_holdings_per_etf"] = frame.groupby("etf_ticker").size().median()
    elif n and table == "etf_tracking":
        values.update(tracking_numbers(frame))
    return _numbers(values)


def tracking_numbers(frame: pd.DataFrame) -> dict:
    """Mean premium/discount and median tracking error of one day of etf_tracking rows."""
    out = {"mean_premium_discount_pct": pd.to_numeric(frame["premium_discount_pct"], errors="coerce").mean(),
           "mean_abs_premium_discount_pct":
               pd.to_numeric(frame["premium_discount_pct"], errors="coerce").abs().mean()}
    for n in (20, 60, 250):
        out[f"median_tracking_error_{n}d"] = pd.to_numeric(frame[f"tracking_error_{n}d"], errors="coerce").median()
    return out


# -- chart of the largest ETFs ------------------------------------------------------------------
_CHART_SQL = """
WITH largest AS (   -- published AUM of that day where loaded, else etf_daily's figure, else market cap
    SELECT d.ticker, coalesce(a.aum, d.aum, d.market_cap) AS aum
      FROM etf_daily d LEFT JOIN etf_aum a USING (ticker, region, date)
     WHERE d.region = %(region)s AND d.date = %(day)s
     ORDER BY 2 DESC NULLS LAST, d.ticker LIMIT %(top)s
)
SELECT t.date, t.ticker, coalesce(k.name, t.ticker) AS name, l.aum,
       t.premium_discount_pct, t.tracking_error_20d, t.tracking_error_60d
  FROM etf_tracking t
  JOIN largest l USING (ticker)
  LEFT JOIN tickers k ON k.ticker = t.ticker AND k.region = t.region
 WHERE t.region = %(region)s AND t.date BETWEEN %(start)s AND %(day)s
 ORDER BY l.aum DESC, t.ticker, t.date
"""
FONTS = ["NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "DejaVu Sans"]


def largest_etf_history(day: dt.date, *, region: str = "KR", top: int = 5, days: int = 120,
                        url: str | None = None) -> pd.DataFrame:
    """etf_tracking of the `top` ETFs by net assets on `day` (KRX's published AUM where loaded, else
    market cap: AUM is published on D+1), over the `days` calendar days up to `day`."""
    params = {"region": region, "day": day, "top": top, "start": day - dt.timedelta(days=days)}
    with pool.connection(_url(url)) as conn:
        cur = conn.execute(_CHART_SQL, params)
        return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def chart_png(history: pd.DataFrame, title: str) -> bytes:
    """Two small panels (premium/discount, 20-day tracking error) with one line per ETF."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in threads and runs

    with _font():  # fonts are resolved when the text objects are made: the whole figure inside
        fig = Figure(figsize=(7.2, 4.2), dpi=80)
        fig.set_layout_engine("constrained")
        top, bottom = fig.subplots(2, 1, sharex=True)
        for (_, name), rows in history.groupby(["ticker", "name"], sort=False):
            dates = pd.to_datetime(rows["date"])
            top.plot(dates, rows["premium_discount_pct"].astype(float), linewidth=1.2, label=name)
            bottom.plot(dates, rows["tracking_error_20d"].astype(float), linewidth=1.2, label=name)
        top.axhline(0, color="grey", linewidth=0.6)
        top.set_ylabel("괴리율 premium/discount %")
        bottom.set_ylabel("추적오차 TE 20d %")
        top.set_title(title, fontsize=10)
        top.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            ax.yaxis.label.set_size(8)
        # Ticks on trading days only (at most 8), labelled month-day: never hours inside a day.
        from matplotlib.dates import DateFormatter

        days = sorted(pd.to_datetime(history["date"]).unique())
        bottom.set_xticks(days[:: max(1, -(-len(days) // 8))])
        bottom.xaxis.set_major_formatter(DateFormatter("%m-%d"))
        fig.autofmt_xdate()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    return buf.getvalue()


@functools.cache
def _register_korean_fonts() -> None:
    """Make installed Korean fonts known to matplotlib even when its font cache predates them
    (the cache is built once per user; a font installed later is otherwise never seen and the
    Korean ETF names would print as empty boxes)."""
    from matplotlib import font_manager

    known = {f.name for f in font_manager.fontManager.ttflist}
    if known & set(FONTS[:-1]):
        return
    for path in font_manager.findSystemFonts():
        if "nanum" in path.lower() or "notosanscjk" in path.lower().replace("-", ""):
            font_manager.fontManager.addfont(path)


def _font():
    import matplotlib
    from matplotlib import font_manager

    _register_korean_fonts()
    # Only families that exist: matplotlib logs "findfont: … not found" for every glyph otherwise.
    known = {f.name for f in font_manager.fontManager.ttflist}
    return matplotlib.rc_context({"font.family": [f for f in FONTS if f in known] or ["DejaVu Sans"]})


def etf_chart(day: dt.date, *, region: str = "KR", top: int = 5, url: str | None = None) -> dg.MetadataValue | None:
    """Markdown with the chart as a data-URI PNG, or None when there is nothing to draw yet."""
    history = largest_etf_history(day, region=region, top=top, url=url)
    if history.empty or history["premium_discount_pct"].isna().all():
        return None
    png = chart_png(history, f"Largest {history['ticker'].nunique()} ETFs by net assets ({region}), to {day}")
    encoded = base64.b64encode(png).decode("ascii")
    return dg.MetadataValue.md(f"![premium/discount and tracking error of the largest ETFs](data:image/png;base64,"
                               f"{encoded})")


def partition_metadata(asset_key: dg.AssetKey, frame: pd.DataFrame, day: dt.date, *, region: str = "KR",
                       url: str | None = None) -> dict:
    """Everything one written partition of an ingest or daily-derived asset shows in the UI:
    row count, catalogue schema (+ lineage), a formatted preview and the plottable numbers."""
    table = table_of(asset_key)
    return {
        "dagster/row_count": len(frame),
        **table_metadata(table, url),
        "preview": preview(frame),
        **day_numbers(table, frame, day, region=region, url=url),
    }
