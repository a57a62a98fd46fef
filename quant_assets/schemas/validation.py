"""Run a pandera model and turn its failures into one error a user can act on.

pandera reports failures by row index; users think in tickers. The error lists the first few
failures as (ticker, field, check, value) and is raised *before* any write, so a bad source
payload leaves the partition untouched.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from quant_assets.errors import SourceDataError

MAX_LISTED = 8


def validate(model: type[pa.DataFrameModel], frame: pd.DataFrame, *, dataset: str, date: str | None,
             key: str = "ticker") -> pd.DataFrame:
    """Validate lazily (all failures at once); return the coerced frame or raise SourceDataError."""
    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise _as_source_error(exc, frame, dataset=dataset, date=date, key=key) from None


def _as_source_error(exc: pa.errors.SchemaErrors, frame: pd.DataFrame, *, dataset: str, date: str | None,
                     key: str) -> SourceDataError:
    cases = exc.failure_cases
    problems: list[tuple[str | None, str | None, str, object]] = []
    for row in cases.itertuples(index=False):
        idx = row.index
        ticker = None
        if idx is not None and not pd.isna(idx) and key in frame.columns and idx in frame.index:
            ticker = str(frame.at[idx, key])
        column = row.column if isinstance(row.column, str) else None
        problems.append((ticker, column, str(row.check), row.failure_case))
    # Prefer column-level failures (they name the field) over whole-frame ones.
    problems.sort(key=lambda p: (p[1] is None, p[0] is None))
    seen, unique = set(), []
    for p in problems:
        sig = (p[0], p[1], p[2])
        if sig not in seen:
            seen.add(sig)
            unique.append(p)
    first = unique[0]
    listed = "; ".join(
        f"{t or '-'}.{c or '*'} failed {chk} (value {v!r})" for t, c, chk, v in unique[:MAX_LISTED]
    )
    more = f" and {len(unique) - MAX_LISTED} more" if len(unique) > MAX_LISTED else ""
    return SourceDataError(
        dataset,
        f"{len(unique)} validation failure(s): {listed}{more}",
        date=date,
        ticker=first[0],
        field=first[1],
    )
