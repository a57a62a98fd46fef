"""Premium/discount and tracking statistics, as pure array maths over a dates x tickers panel.

Definitions (the seeds called the first one "tracking error"; it is not):
- premium/discount (괴리율) = (close − NAV) / NAV × 100, daily; `premium_discount_avg_Nd` is its
  N-day mean (what seed 002 called `tracking_error_Nd`).
- tracking error = annualised standard deviation (ddof=1, √250) of the daily difference between
  the NAV return and `multiple` × the benchmark return, over the last N trading days, in %
  (`tracking_error_Nd`).
  Leveraged and inverse ETFs are measured against their multiple of the *daily* index return,
  which is what they promise.
- tracking difference = compounded NAV return − compounded (multiple × daily index return) over
  the same N days, in % (`tracking_diff_Nd`).
A window needs at least 80% of its days (and 2 returns) to produce a number; otherwise NULL.

Why numpy and not `DataFrame.rolling` / `stack`: the panel of a ten-year ETF universe is ~500
dates x ~1,000 tickers per chunk, and pandas spent most of a run in per-column indexing
(`stack` of 15 wide frames looked each of the 1,000 columns up 15 times; rolling went column by
column). Here every window statistic is a difference of cumulative sums along the date axis (the
count of values present, their sum, and for the standard deviation the sum of squared deviations
from the window's mean), computed for all tickers at once. NaN-skipping, `min_periods` and ddof
are the pandas definitions; the results equal pandas' to float rounding (~1e-12 relative).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (20, 60, 120, 250)
MIN_COVERAGE = 0.8
ANNUALISATION = np.sqrt(250)


def _window_sums(values: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(count of finite values, their sum) over the trailing w rows of every row (axis 0).

    ±inf counts as missing, as in pandas' rolling windows (`Rolling._prep_values` turns inf into
    NaN): a NAV of 0 in the look-back drops one return from its windows instead of poisoning them."""
    present = np.isfinite(values)
    zeros = np.zeros((1, values.shape[1]))
    lag = np.maximum(np.arange(1, len(values) + 1) - w, 0)
    count = np.concatenate([zeros, np.cumsum(present, axis=0)])
    total = np.concatenate([zeros, np.cumsum(np.where(present, values, 0.0), axis=0)])
    return count[1:] - count[lag], total[1:] - total[lag]


def rolling_mean(values: np.ndarray, w: int, need: int) -> np.ndarray:
    n, s = _window_sums(values, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= need, s / n, np.nan)


def rolling_sum(values: np.ndarray, w: int, need: int) -> np.ndarray:
    n, s = _window_sums(values, w)
    return np.where(n >= need, s, np.nan)


def rolling_std(values: np.ndarray, w: int, need: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the trailing window, NaN-skipping. Squares are summed
    around a per-ticker shift (the column's mean over the finite values) so the difference of
    cumulative sums does not cancel catastrophically."""
    present = np.isfinite(values)
    shift = np.where(present, values, 0.0).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
    centred = values - shift
    n, s = _window_sums(centred, w)
    _, sq = _window_sums(centred * centred, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (sq - s * s / n) / (n - 1)
    return np.where(n >= need, np.sqrt(np.maximum(var, 0.0)), np.nan)


def tracking_panel(nav: pd.DataFrame, close: pd.DataFrame, index_close: pd.DataFrame,
                   multiple: pd.Series) -> dict[str, np.ndarray]:
    """All statistics for every (date, ticker) of the panels (rows: dates ascending; the three
    frames share index and columns), as dates x tickers arrays in the frames' order."""
    m = multiple.reindex(nav.columns).astype(float).to_numpy()
    v_nav, v_close, v_idx = (f.to_numpy(dtype=float) for f in (nav, close, index_close))
    prev = np.full((1, v_nav.shape[1]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_nav = v_nav / np.concatenate([prev, v_nav[:-1]]) - 1
        r_idx = v_idx / np.concatenate([prev, v_idx[:-1]]) - 1
        target = r_idx * m
        diff = r_nav - target
        premium = (v_close - v_nav) / v_nav * 100
        log_nav, log_tgt = np.log1p(r_nav), np.log1p(target)
    out = {"premium_discount_pct": premium}
    for w in WINDOWS:
        need = max(2, int(np.ceil(w * MIN_COVERAGE)))
        out[f"premium_discount_avg_{w}d"] = rolling_mean(premium, w, need)
        out[f"tracking_error_{w}d"] = rolling_std(diff, w, need) * ANNUALISATION * 100
        # Compounding via log-sums keeps this vectorised; a -100% day would make it -inf, NaN-safe.
        with np.errstate(invalid="ignore", over="ignore"):
            out[f"tracking_diff_{w}d"] = (np.exp(rolling_sum(log_nav, w, need))
                                          - np.exp(rolling_sum(log_tgt, w, need))) * 100
    count, _ = _window_sums(np.where(np.isnan(v_nav), np.nan, 1.0), 250)
    out["days_in_window"] = count
    return out


def tracking_rows(panel: dict[str, np.ndarray], nav: pd.DataFrame, days: list,
                  multiple: pd.Series) -> pd.DataFrame:
    """Long rows (date, ticker, statistics...) for `days`, one per ETF that has a NAV that day,
    in (date, ticker) order of the panel."""
    rows = np.flatnonzero(nav.index.isin(days))
    present = ~np.isnan(nav.to_numpy(dtype=float)[rows])
    r, c = np.nonzero(present)
    long = pd.DataFrame({"date": nav.index.to_numpy()[rows][r], "ticker": nav.columns.to_numpy()[c]})
    for name, wide in panel.items():
        long[name] = wide[rows][r, c]
    long["days_in_window"] = long["days_in_window"].astype(int)
    long["multiple"] = long["ticker"].map(multiple).astype(float)
    return long
