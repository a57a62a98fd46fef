"""Run a pandera model and turn its failures into one error a user can act on.

pandera reports failures by row index; users think in tickers. The error lists the first few
failures as (ticker, field, check, value) and is raised *before* any write, so a bad source
payload leaves the partition untouched.
"""

from __future__ import annotations

import re

import pandas as pd
import pandera.pandas as pa

from quant_assets.errors import SourceDataError

MAX_LISTED = 8


def validate(model: type[pa.DataFrameModel] | pa.DataFrameSchema, frame: pd.DataFrame, *, dataset: str, date: str | None,
             key: str = "ticker") -> pd.DataFrame:
    """Validate lazily (all failures at once); return the coerced frame or raise SourceDataError."""
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise _as_source_error(exc, frame, dataset=dataset, date=date, key=key) from None


def _as_source_error(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, *, dataset: str, date: str | None,
                     key: str) -> SourceDataError:
    cases = exc.failure_cases
    frame_checks = set(cases.loc[cases["schema_context"] == "DataFrameSchema", "check"].astype(str))
    builtin = {"multiple_fields_uniqueness", "column_in_dataframe", "column_in_schema"}
    problems: list[tuple[int, str | None, str | None, str, object]] = []
    for row in cases.itertuples(index=False):
        idx = row.index
        ticker = None
        if idx is not None and not pd.isna(idx) and key in frame.columns and idx in frame.index:
            ticker = str(frame.at[idx, key])
        check = str(row.check)
        if row.schema_context == "Column":
            rank, column, value = 0, row.column, row.failure_case
        elif check in builtin or check not in frame_checks:
            rank, column, value = 1, row.column if isinstance(row.column, str) else None, row.failure_case
        else:
            # A whole-row check (e.g. "high >= low") reports every column of the row; the field
            # to name is the first column its name mentions.
            words = re.findall(r"[a-z_]+", check)
            rank, column, value = 2, next((w for w in words if w in frame.columns), None), None
        problems.append((rank, ticker, column, check, value))
    problems.sort(key=lambda p: p[0])
    seen, unique = set(), []
    for p in problems:
        sig = (p[1], p[2], p[3])
        if sig not in seen:
            seen.add(sig)
            unique.append(p[1:])
    first = unique[0]
    listed = "; ".join(
        f"{t or '-'}.{c or '*'} failed {chk}" + (f" (value {v!r})" if v is not None else "")
        for t, c, chk, v in unique[:MAX_LISTED]
    )
    more = f" and {len(unique) - MAX_LISTED} more" if len(unique) > MAX_LISTED else ""
    return SourceDataError(
        dataset,
        f"{len(unique)} validation failure(s): {listed}{more}",
        date=date,
        ticker=first[0],
        field=first[1],
    )
