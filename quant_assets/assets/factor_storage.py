"""How a day's factor scores are stored: one packed row per (date, region, factor_name).

Why: the long layout (a row per ticker and factor, three indexes) cost ~170 bytes per score. A
factor's cross-section on a day is written and read as a whole, so sql/019 stores it as arrays
aligned by position (`factor_scores_packed`) behind the `factor_scores` view, which keeps the
seed contract's columns. Values stay double precision: the view returns exactly the computed
numbers. This module turns the asset's long frame into those rows, in the day's transaction.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg

from quant_assets.resources.warehouse import lock_partition

TABLE = "factor_scores_packed"
INSERT = f"""
INSERT INTO {TABLE} (date, region, factor_name, tickers, markets, market_codes, raw_values, scores, percentiles,
                     market_scores, market_percentiles)
VALUES (%s, %s, %s, %s::varchar(20)[], %s::text[], %s::smallint[], %s::float8[], %s::float8[], %s::float8[],
        %s::float8[], %s::float8[])
"""


def _floats(series: pd.Series) -> list[float | None]:
    a = series.to_numpy(dtype=float)
    return [None if np.isnan(x) else float(x) for x in a]


def packed_rows(day: dt.date, region: str, frame: pd.DataFrame) -> list[tuple]:
    """One row per factor of the long frame (columns of factors.COLUMNS), tickers ascending."""
    rows = []
    for name, g in frame.groupby("factor_name", sort=True):
        g = g.sort_values("ticker")
        markets = sorted({m for m in g["market"] if isinstance(m, str)})
        code = {m: i + 1 for i, m in enumerate(markets)}
        rows.append((day, region, name, g["ticker"].tolist(), markets,
                     [code.get(m) if isinstance(m, str) else None for m in g["market"]],
                     _floats(g["raw_value"]), _floats(g["score"]), _floats(g["percentile"]),
                     _floats(g["market_score"]), _floats(g["market_percentile"])))
    return rows


def write_day(conn: psycopg.Connection, day: dt.date, region: str, frame: pd.DataFrame) -> int:
    """Replace (region, day) in one transaction; returns the scores written (view rows)."""
    with conn.transaction():
        lock_partition(conn, "factor_scores", (region, day))
        conn.execute(f"DELETE FROM {TABLE} WHERE region = %s AND date = %s", (region, day))
        with conn.cursor() as cur:
            cur.executemany(INSERT, packed_rows(day, region, frame))
    return len(frame)
