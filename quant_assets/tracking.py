"""Premium/discount and tracking statistics, as pure array maths over a dates × tickers panel.

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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WINDOWS = (20, 60, 120, 250)
MIN_COVERAGE = 0.8
ANNUALISATION = np.sqrt(250)


def tracking_panel(nav: pd.DataFrame, close: pd.DataFrame, index_close: pd.DataFrame,
                   multiple: pd.Series) -> dict[str, pd.DataFrame]:
    """All statistics for every (date, ticker) of the panels (rows: dates ascending)."""
    m = multiple.reindex(nav.columns).astype(float)
    r_nav = nav / nav.shift(1) - 1
    r_idx = index_close / index_close.shift(1) - 1
    target = r_idx * m
    diff = r_nav - target
    premium = (close - nav) / nav * 100
    out = {"premium_discount_pct": premium}
    for w in WINDOWS:
        need = max(2, int(np.ceil(w * MIN_COVERAGE)))
        out[f"premium_discount_avg_{w}d"] = premium.rolling(w, min_periods=need).mean()
        out[f"tracking_error_{w}d"] = diff.rolling(w, min_periods=need).std(ddof=1) * ANNUALISATION * 100
        # Compounding via log-sums keeps this vectorised; a -100% day would make it -inf, NaN-safe.
        grow_nav = np.exp(np.log1p(r_nav).rolling(w, min_periods=need).sum())
        grow_tgt = np.exp(np.log1p(target).rolling(w, min_periods=need).sum())
        out[f"tracking_diff_{w}d"] = (grow_nav - grow_tgt) * 100
    out["days_in_window"] = nav.notna().astype(int).rolling(250, min_periods=1).sum()
    return out


def tracking_rows(panel: dict[str, pd.DataFrame], nav: pd.DataFrame, days: list,
                  multiple: pd.Series) -> pd.DataFrame:
    """Long rows (date, ticker, statistics...) for `days`, one per ETF that has a NAV that day."""
    present = nav.loc[nav.index.isin(days)].notna().stack(future_stack=True)
    columns = {name: wide.loc[wide.index.isin(days)].stack(future_stack=True) for name, wide in panel.items()}
    long = pd.DataFrame(columns)[present.values].reset_index()
    long.columns = ["date", "ticker", *panel.keys()]
    long["multiple"] = long["ticker"].map(multiple).astype(float)
    return long
