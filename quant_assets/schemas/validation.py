"""Run a pandera model and turn its failures into one error a user can act on.

pandera reports failures by row index; users think in tickers. The error lists the first few
failures as (region, ticker, field, check, value) and is raised *before* any write, so a bad
source payload leaves the partition untouched. A duplicate key (e.g. the same ticker, region,
date and timeframe twice in one frame) is reported once per ticker with the key's columns.
"""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa

from quant_assets.errors import SourceDataError

MAX_LISTED = 8
UNIQUENESS = "multiple_fields_uniqueness"
DATE_COLUMNS = ("date", "as_of_date")


# pandera's default for frame-level checks is `ignore_na=True`; ours judge every row (row_check).
ROW_CHECK = {"ignore_na": False}


def row_check(name: str):
    """A whole-row check (pandera `dataframe_check`) that judges every row, the NA ones included.

    pandera's default (`ignore_na=True`) ORs a frame-level check's result with "every column of
    the row is NA", computed over the whole frame again for each check: a full-market day of
    `ohlcv` validated in 37.6 ms with it and 30.0 ms without (median, `benchmarks/validation.py`).
    Our checks say themselves what NA means (`open` NULL only when nothing traded), and a row
    with nothing in it is bad input to reject, not one to let through. The registered
    `canonical_for_region` check gets the same setting from `ROW_CHECK` in a schema's Config.
    """
    return pa.dataframe_check(name=name, **ROW_CHECK)


def validate(model: type[pa.DataFrameModel] | pa.DataFrameSchema, frame: pd.DataFrame, *, dataset: str, date: str | None,
             key: str = "ticker") -> pd.DataFrame:
    """Validate lazily (all failures at once); return the coerced frame or raise SourceDataError.

    `key` is the column that names a row for the user (`ticker`, or `etf_ticker` for holdings);
    the row's `region` and date (when the frame has them) go into the error too.
    """
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
        raise _as_source_error(exc, frame, dataset=dataset, date=date, key=key,
                               unique=list(schema.unique or [])) from None


def _cell(frame: pd.DataFrame, idx: object, column: str) -> str | None:
    if idx is None or pd.isna(idx) or column not in frame.columns or idx not in frame.index:
        return None
    value = frame.at[idx, column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value.date() if isinstance(value, pd.Timestamp) else value)


def _as_source_error(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, *, dataset: str, date: str | None,
                     key: str, unique: list[str]) -> SourceDataError:
    cases = exc.failure_cases
    frame_checks = set(cases.loc[cases["schema_context"] == "DataFrameSchema", "check"].astype(str))
    builtin = {UNIQUENESS, "column_in_dataframe", "column_in_schema"}
    date_column = next((c for c in DATE_COLUMNS if c in frame.columns), None)
    problems: list[tuple] = []
    for row in cases.itertuples(index=False):
        idx = row.index
        ticker = _cell(frame, idx, key)
        region = _cell(frame, idx, "region")
        day = date or (_cell(frame, idx, date_column) if date_column else None)
        check = str(row.check)
        if check == UNIQUENESS:
            # One problem per duplicated key, named by its columns, not one per key column.
            rank, column, value = 1, key, None
            check = f"uniqueness of ({', '.join(unique)})" if unique else check
        elif row.schema_context == "Column":
            rank, column, value = 0, row.column, row.failure_case
        elif check in builtin or check not in frame_checks:
            rank, column, value = 1, row.column if isinstance(row.column, str) else None, row.failure_case
        else:
            # A whole-row check (e.g. "high >= low") reports every column of the row; the field
            # to name is the first column its name mentions, and its value is shown.
            words = re.findall(r"[a-z_]+", check)
            rank = 2
            column = next((w for w in words if w in frame.columns), None)
            value = _cell(frame, idx, column) if column else None
        problems.append((rank, region, ticker, column, check, value, day))
    problems.sort(key=lambda p: p[0])
    seen, unique_problems = set(), []
    for p in problems:
        sig = (p[1], p[2], p[3], p[4])
        if sig not in seen:
            seen.add(sig)
            unique_problems.append(p[1:])
    region, ticker, field, _, _, day = unique_problems[0]
    listed = "; ".join(
        f"{r + ':' if r else ''}{t or '-'}.{c or '*'} failed {chk}" + (f" (value {v!r})" if v is not None else "")
        for r, t, c, chk, v, _ in unique_problems[:MAX_LISTED]
    )
    more = f" and {len(unique_problems) - MAX_LISTED} more" if len(unique_problems) > MAX_LISTED else ""
    return SourceDataError(
        dataset,
        f"{len(unique_problems)} validation failure(s): {listed}{more}",
        date=day,
        ticker=ticker,
        field=field,
        region=region,
    )
