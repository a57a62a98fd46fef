"""The vectorised converter (resources/columnar.py) gives exactly what the row-by-row path
(`parsing.rows_to_frame_by_row`, the reference semantics) gives, and every value it does not take
goes to the row-by-row path, whose errors name dataset, date, ticker and field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from quant_assets.errors import SourceDataError
from quant_assets.resources import columnar
from quant_assets.resources import parsing as P

FIX = Path(__file__).parent / "fixtures"
STOCKS = json.loads((FIX / "krx_01501_20210122.json").read_text())
ETFS = json.loads((FIX / "krx_04301_20210325.json").read_text())
SPECS = {"stock": ("OutBlock_1", P._STOCK_DAILY_COLS, P.STOCK_DAILY), "etf": ("output", P._ETF_DAILY_COLS, P.ETF_DAILY)}


def both(kind: str, payload: dict):
    """(rows_to_frame result or error text, rows_to_frame_by_row result or error text)."""
    key, cols, dataset = SPECS[kind]
    rows = payload[key]
    out = []
    for convert in (P.rows_to_frame, P.rows_to_frame_by_row):
        try:
            out.append(convert(rows, cols, dataset, date="20210122", ticker_src="ISU_SRT_CD"))
        except SourceDataError as exc:
            out.append(str(exc))
    return out


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a.equals(b) and list(a.dtypes) == list(b.dtypes)


def test_clean_full_day_payloads_take_the_vectorised_path_and_match():
    assert columnar.fast_columns(STOCKS["OutBlock_1"], P._STOCK_DAILY_COLS, P._MISSING, P._SCALAR) is not None
    assert columnar.fast_columns(ETFS["output"], P._ETF_DAILY_COLS, P._MISSING, P._SCALAR) is not None
    assert same(*both("stock", STOCKS)) and same(*both("etf", ETFS))


@pytest.mark.parametrize("value", ["1_000", " 12 ", "1 234", "inf", "nan", "-", "--", "N/A", "", "1e5", "+5", "0x10",
                                   ",", "-0", "1.", "5.5", None, 5, True, "١٢"])
def test_every_numeric_spelling_converts_as_the_row_path_does(value):
    payload = copy.deepcopy(STOCKS)
    payload["OutBlock_1"][1]["ACC_TRDVOL"] = value       # int field
    payload["OutBlock_1"][2]["TDD_HGPRC"] = value        # float field
    fast, slow = both("stock", payload)
    assert same(fast, slow)


@pytest.mark.parametrize("value", [" 5930", "5930", "abcdef", "-", "삼성전자", "0069m0", "  KODEX  ", None])
def test_codes_and_texts_convert_as_the_row_path_does(value):
    payload = copy.deepcopy(ETFS)
    payload["output"][0]["ISU_SRT_CD"] = value
    payload["output"][1]["ISU_ABBRV"] = value
    assert same(*both("etf", payload))


def test_garbage_is_named_by_the_row_path():
    payload = copy.deepcopy(STOCKS)
    row = payload["OutBlock_1"][3]
    row["TDD_LWPRC"] = "12x"
    with pytest.raises(SourceDataError) as err:
        P.parse_stock_daily(payload, "20210122")
    assert (err.value.dataset, err.value.date, err.value.ticker, err.value.field) == \
        (P.STOCK_DAILY, "20210122", row["ISU_SRT_CD"], "TDD_LWPRC")


def test_a_missing_required_field_is_named_by_the_row_path():
    payload = copy.deepcopy(ETFS)
    bad = payload["output"][1]
    bad.pop("NAV")
    with pytest.raises(SourceDataError) as err:
        P.parse_etf_daily(payload, "20210325")
    assert err.value.field == "NAV" and err.value.ticker == bad["ISU_SRT_CD"] and err.value.date == "20210325"


def test_an_optional_field_absent_everywhere_stays_vectorised():
    payload = copy.deepcopy(ETFS)
    for row in payload["output"]:
        row.pop("ISU_CD", None)
    assert columnar.fast_columns(payload["output"], P._ETF_DAILY_COLS, P._MISSING, P._SCALAR) is not None
    fast, slow = both("etf", payload)
    assert same(fast, slow) and fast["isin"].isna().all()
