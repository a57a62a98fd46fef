"""The ranged derived-price passes write exactly what their per-day forms write: adjustment_factors'
one statement for a run against one-day runs, the window extremes against the direct argmax, and
the 52-week rows' rounding (done in numpy, before the write) against PostgreSQL's own."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from quant_assets_tests.test_aggregates import DAYS, PENNY_DAY, SPLIT_DAY, market  # noqa: F401  (fixture)
from quant_assets_tests.test_ranges import RANGE, factors_table


def test_ranged_factors_equal_day_by_day_runs(warehouse, market):  # noqa: F811
    from quant_assets.assets.ranges import adjustment_factors

    ranged = dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    assert ranged.success
    by_range = factors_table(warehouse)
    stored = ("SELECT ticker, ex_date, factor::text, prior_close::text, base_price::text, reason "
              "FROM adjustment_factors ORDER BY ticker, ex_date")  # the values with their numeric scale
    by_range_text = warehouse.read_frame(stored)
    assert len(by_range) == 1  # the split (the penny stock's rounding is not an ex-date)
    warehouse.execute("DELETE FROM adjustment_factors")
    i = DAYS.index(SPLIT_DAY)
    for day in (DAYS[i - 1], SPLIT_DAY, DAYS[i + 1], PENNY_DAY, DAYS[-1]):
        one = dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, partition_key=day.isoformat())
        meta = next(e.event_specific_data.materialization.metadata for e in one.all_events
                    if e.event_type_value == "ASSET_MATERIALIZATION")
        assert meta["prior_trading_day"].value == DAYS[DAYS.index(day) - 1].isoformat()
    pd.testing.assert_frame_equal(by_range, factors_table(warehouse))
    pd.testing.assert_frame_equal(by_range_text, warehouse.read_frame(stored))
    assert by_range_text["factor"].iloc[0] == "0.2000000000"  # round(..., 10), as FACTORS_INSERT stores it


def test_window_extremes_equal_the_direct_argmax():
    from quant_assets.assets.range_window import WINDOW, _extreme, _window_best

    rng = np.random.default_rng(7)
    span, tickers = WINDOW + 130, 40
    values = np.round(rng.uniform(90, 110, (span, tickers)))  # many ties: the latest must win
    values[rng.uniform(size=values.shape) < 0.2] = np.nan
    values[:, 3] = np.nan  # never a value
    values[:200, 5] = np.nan  # short history
    js = np.arange(WINDOW - 1, span)
    views = np.lib.stride_tricks.sliding_window_view(values, WINDOW, axis=0)
    for largest in (True, False):
        rows = _window_best(values, js, largest)
        val, pos = _extreme(views[js - WINDOW + 1], largest)
        np.testing.assert_array_equal(np.where(rows >= 0, js[:, None] - rows, -1), pos)
        got = np.where(rows >= 0, values[np.clip(rows, 0, None), np.arange(tickers)], np.nan)
        np.testing.assert_array_equal(got, val)


def test_rounding_equals_postgresql(warehouse):
    from quant_assets.assets.range_window import pg_round4

    rng = np.random.default_rng(3)
    ticks = np.round(rng.uniform(-1e5, 1e5, 20000), 4)
    x = np.concatenate([
        rng.uniform(-100, 100, 20000), rng.uniform(0, 2e6, 20000),
        ticks + 0.00005, ticks - 0.00005,  # halfway cases, as far as float8 holds them
        10.0 ** rng.integers(-6, 10, 4000) * (1 + rng.choice([-1, 1], 4000) * 1e-15),  # next to powers of ten
        rng.uniform(-1e-4, 1e-4, 2000), (rng.uniform(1, 1e5, 20000) / rng.uniform(1, 1e5, 20000) - 1) * 100,
        [0.0, -0.0, np.nan, 1e10, 3e11, 123456789012.34567, 0.00005, -0.00005, 2.5e-5, 1.00005, 2.00015],
    ])
    units, null = pg_round4(x)
    with warehouse.connect() as conn:
        expected = conn.execute(
            "SELECT array_agg((round(v::numeric, 4) * 10000)::bigint ORDER BY i) "
            "FROM unnest(%s::float8[]) WITH ORDINALITY AS t (v, i)",
            ([None if np.isnan(v) else float(v) for v in x],)).fetchone()[0]
    assert null.tolist() == [e is None for e in expected]
    np.testing.assert_array_equal(units[~null], np.array([e for e in expected if e is not None]))


def test_ranged_rows_are_the_former_statements_rows_to_the_stored_text(warehouse, market):  # noqa: F811
    """Rounded in numpy and sent in binary, the rows store the same numerics (value and display
    scale: round(x, 4) keeps 4 decimals) as the former per-day SQL, RANGE_INSERT."""
    from quant_assets.assets.ranges import RANGE_INSERT, WINDOW, adjustment_factors, price_range_52w
    from quant_assets.calendar import previous_trading_days

    dg.materialize([adjustment_factors], resources={"warehouse": warehouse}, tags=RANGE)
    result = dg.materialize([price_range_52w], resources={"warehouse": warehouse}, tags=RANGE)
    assert result.success
    as_text = "SELECT t::text FROM (SELECT * FROM price_range_52w WHERE date = %s ORDER BY ticker) t"
    i = DAYS.index(SPLIT_DAY)
    for day in (SPLIT_DAY, DAYS[i + 1], DAYS[-1]):
        with warehouse.connect() as conn:
            ours = [r[0] for r in conn.execute(as_text, (day,))]
            conn.execute("DELETE FROM price_range_52w WHERE date = %s", (day,))
            conn.execute(RANGE_INSERT, {"day": day, "start": previous_trading_days(day, WINDOW)[0], "region": "KR"})
            former = [r[0] for r in conn.execute(as_text, (day,))]
            conn.rollback()
        assert len(ours) > 20 and ours == former
